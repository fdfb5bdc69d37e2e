"""Diagnoses: run a period, read a branch's diagnosis and a member's report, lamps, rankings."""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, request
from sqlalchemy import select

from .. import pipeline as workflows
from ..errors import InputError, NotFound, Problem
from ..store import results as results_store
from ..store.schema import members
from .auth import READERS, actor, require_branch, roles
from .db import get_db, runtime
from .request_args import choice_arg, int_arg, json_body, period_arg

bp = Blueprint("diagnoses", __name__, url_prefix="/v1")


@bp.post("/diagnoses")
@roles("platform")
def post_diagnosis():
    """Diagnose a whole period (vectorized engine) and store the results."""
    body = json_body()
    period = body.get("period") if isinstance(body, dict) else None
    if not isinstance(body, dict) or set(body) - {"period"}:
        raise InputError(Problem("the body must be {\"period\": \"YYYY-MM\"}", file="body", column="period"))
    workflows.check_period(period)
    rt = runtime()
    return jsonify(workflows.diagnose_period(rt, rt.engine, period, actor())), 201


@bp.get("/branches/<branch_id>/diagnosis")
@roles(*READERS)
def branch_diagnosis(branch_id: str):
    """A branch's stored diagnosis for a period: lamp, findings, weaknesses."""
    require_branch(branch_id)
    period = period_arg()
    found = results_store.result_text(get_db(), period, "branch", branch_id)
    if found is None:
        raise NotFound(Problem(f"no diagnosis of branch '{branch_id}' for {period}", file="query", column="period",
                               suggestion="POST /v1/diagnoses for the period first"))
    return Response(found, mimetype="application/json")  # stored as JSON: served as it is


@bp.get("/members/<member_id>/report")
@roles(*READERS)
def member_report(member_id: str):
    """A member's points, rank in the district and the branch, lamp and findings."""
    period = period_arg()
    conn = get_db()
    if g.identity.role == "secretary":
        owner = conn.execute(select(members.c.branch_id).where(members.c.member_id == member_id)).scalar()
        require_branch(owner)
    return jsonify(workflows.member_report(conn, member_id, period))


@bp.get("/lamps")
@roles("platform", "admin")
def lamps():
    """Lamps of a period, filtered by colour and subject kind, paged."""
    period = period_arg()
    color = choice_arg("color", ("red", "yellow", "green"))
    subject = choice_arg("subject", ("branch", "member"))
    limit = int_arg("limit", 1000, 1, 10_000)
    offset = int_arg("offset", 0, 0, 10_000_000)
    total, items = results_store.lamps(get_db(), period, color, subject, limit, offset)
    return jsonify(period=period, total=total, limit=limit, offset=offset, lamps=items)


@bp.get("/lamps/changes")
@roles("platform", "admin")
def lamp_changes():
    """What changed since the previous period: each subject whose lamp differs (from null: new)."""
    period = period_arg()
    subject = choice_arg("subject", ("branch", "member"))
    previous, items = results_store.lamp_changes(get_db(), period, subject)
    return jsonify(period=period, previous=previous, count=len(items), changes=items)


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
    return jsonify(period=period, branch_id=branch_id, ranking=results_store.rankings(get_db(), period, branch_id,
                                                                                       limit))
