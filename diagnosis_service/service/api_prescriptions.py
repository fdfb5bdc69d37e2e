"""Prescriptions served (and logged) and the feedback on them."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from ..errors import InputError, NotFound, Problem
from ..pipeline import prescriptions
from .auth import actor, require_branch, roles
from .db import snapshot, write
from .request_args import check_id, json_body, object_body

bp = Blueprint("prescriptions", __name__, url_prefix="/v1")


@bp.post("/prescriptions")
@roles("platform", "secretary")
def post_prescriptions():
    """The ranked prescriptions of a branch for a period, each with a prescription_id; the list is logged."""
    body = object_body(("branch_id", "period"), '{"branch_id": "...", "period": "YYYY-MM"}')
    if not isinstance(body.get("branch_id"), str):
        raise InputError(Problem('branch_id must be a string: {"branch_id": "...", "period": "YYYY-MM"}',
                                 field=("branch_id",)))
    require_branch(body["branch_id"])
    snap, who = snapshot(), actor()
    out = write(lambda conn: prescriptions.serve_prescriptions(snap, conn, body["branch_id"], body.get("period"), who))
    g.ranker, g.list_id = out["ranker"], out["list_id"]  # the request's log line says who ranked the list
    return jsonify(out), 201


@bp.post("/prescriptions/<int:prescription_id>/feedback")
@roles("platform", "secretary")
def post_feedback(prescription_id: int):
    """adopted, declined or completed (platform, or the secretary of the branch it was served to)."""
    body = json_body()
    check_id(prescription_id, "prescription_id")
    who = actor()

    def step(conn):
        try:
            served = prescriptions.served_prescription(conn, prescription_id)
        except NotFound:
            require_branch(None)  # a scoped role learns nothing of what exists: the 403 another's gets
            raise
        require_branch(served["branch_id"])
        return prescriptions.record_feedback(conn, prescription_id, body, who)

    return jsonify(write(step)), 201
