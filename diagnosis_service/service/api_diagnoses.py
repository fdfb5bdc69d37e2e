"""Diagnoses: run a period, read a branch's diagnosis and a member's report, lamps, rankings."""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, request

from ..errors import InputError, Problem
from ..pipeline import diagnoses
from ..store import metrics as metrics_store
from .auth import READERS, actor, require_branch, roles
from .db import get_db, runtime, snapshot
from .request_args import choice_arg, int_arg, json_body, period_arg

bp = Blueprint("diagnoses", __name__, url_prefix="/v1")


@bp.post("/diagnoses")
@roles("platform")
def post_diagnosis():
    """Diagnose a whole period (vectorized engine) and store the results."""
    body = json_body()
    if not isinstance(body, dict) or set(body) - {"period"}:
        raise InputError(Problem("the body must be {\"period\": \"YYYY-MM\"}", field=("period",)))
    return jsonify(diagnoses.diagnose_period(snapshot(), runtime().engine, body.get("period"), actor())), 201


@bp.get("/branches/<branch_id>/diagnosis")
@roles(*READERS)
def branch_diagnosis(branch_id: str):
    """A branch's stored diagnosis for a period: lamp, findings, weaknesses."""
    require_branch(branch_id)
    period = period_arg()
    # Stored as JSON: served as it is.
    return Response(diagnoses.branch_diagnosis(get_db(), branch_id, period), mimetype="application/json")


@bp.get("/members/<member_id>/report")
@roles(*READERS)
def member_report(member_id: str):
    """A member's points, rank in the district and the branch, lamp and findings."""
    period = period_arg()
    conn = get_db()
    if g.identity.role == "secretary":
        require_branch(metrics_store.member_branch(conn, member_id))
    return jsonify(diagnoses.member_report(conn, member_id, period))


@bp.get("/lamps")
@roles("platform", "admin")
def lamps():
    """Lamps of a period, filtered by colour and subject kind, paged."""
    period = period_arg()
    color = choice_arg("color", ("red", "yellow", "green"))
    subject = choice_arg("subject", ("branch", "member"))
    limit = int_arg("limit", 1000, 1, 10_000)
    offset = int_arg("offset", 0, 0, 10_000_000)
    return jsonify(diagnoses.lamps(get_db(), period, color, subject, limit, offset))


@bp.get("/lamps/changes")
@roles("platform", "admin")
def lamp_changes():
    """What changed since the previous period: each subject whose lamp differs (from null: new)."""
    period = period_arg()
    subject = choice_arg("subject", ("branch", "member"))
    return jsonify(diagnoses.lamp_changes(get_db(), period, subject))


@bp.get("/rankings")
@roles(*READERS)
def rankings():
    """The vanguard-index ranking of a period, district-wide or of one branch."""
    period = period_arg()
    branch_id = request.args.get("branch_id")
    if g.identity.role == "secretary":
        if branch_id is None:
            abort(403, description="a secretary may only see their own branch's ranking (give branch_id)")
        require_branch(branch_id)
    limit = int_arg("limit", 100, 1, 10_000)
    return jsonify(diagnoses.rankings(get_db(), period, branch_id, limit))
