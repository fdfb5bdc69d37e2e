"""Prescriptions served (and logged) and the feedback on them."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import pipeline as workflows
from ..errors import InputError, NotFound, Problem
from ..store import served as served_store
from .auth import actor, require_branch, roles
from .db import runtime, transaction
from .request_args import check_id, json_body

bp = Blueprint("prescriptions", __name__, url_prefix="/v1")


@bp.post("/prescriptions")
@roles("platform", "secretary")
def post_prescriptions():
    """The ranked prescriptions of a branch for a period, each with a prescription_id; the list is logged."""
    body = json_body()
    if not isinstance(body, dict) or set(body) - {"branch_id", "period"} or not isinstance(body.get("branch_id"), str):
        raise InputError(Problem('the body must be {"branch_id": "...", "period": "YYYY-MM"}', file="body"))
    require_branch(body["branch_id"])
    with transaction() as conn:
        out = workflows.serve_prescriptions(runtime(), conn, body["branch_id"], body.get("period"), actor())
    return jsonify(out), 201


@bp.post("/prescriptions/<int:prescription_id>/feedback")
@roles("platform", "secretary")
def post_feedback(prescription_id: int):
    """adopted, declined or completed (platform, or the secretary of the branch it was served to)."""
    body = json_body()
    check_id(prescription_id, "prescription_id")
    with transaction() as conn:
        served = served_store.get(conn, prescription_id)
        if served is None:
            raise NotFound(Problem(f"no prescription {prescription_id}", column="prescription_id"))
        require_branch(served["branch_id"])
        out = workflows.record_feedback(conn, prescription_id, body, actor())
    return jsonify(out), 201
