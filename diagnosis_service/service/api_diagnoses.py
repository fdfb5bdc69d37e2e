"""Diagnoses: run a period, read a branch's diagnosis and a member's report, lamps, rankings."""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, request

from ..errors import InputError, Problem
from ..pipeline import diagnoses
from ..pipeline import rankings as rankings_
from .auth import READERS, actor, require_branch, require_member, roles, scoped
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
    require_member(member_id)
    return jsonify(diagnoses.member_report(get_db(), member_id, period))


@bp.get("/lamps")
@roles("platform", "admin", "street")
def lamps():
    """Lamps of a period, filtered by colour and subject kind, paged (a street role: its street's)."""
    period = period_arg()
    color = choice_arg("color", ("red", "yellow", "green"))
    subject = choice_arg("subject", ("branch", "member"))
    limit = int_arg("limit", 1000, 1, 10_000)
    offset = int_arg("offset", 0, 0, 10_000_000)
    street = scoped(request.args.get("street")).street
    return jsonify(diagnoses.lamps(get_db(), period, color, subject, limit, offset, street))


@bp.get("/lamps/changes")
@roles("platform", "admin", "street")
def lamp_changes():
    """What changed since the previous period: each subject whose lamp differs (from null: new)."""
    period = period_arg()
    subject = choice_arg("subject", ("branch", "member"))
    street = scoped(request.args.get("street")).street
    return jsonify(diagnoses.lamp_changes(get_db(), period, subject, street))


@bp.get("/rankings")
@roles(*READERS)
def rankings():
    """The vanguard-index ranking of a period: members by the year's points (or the month's, by=month),
    or branches by their members' mean (by=ytd|month|lamp); in the district, a street, a type, a branch."""
    period = period_arg()
    subject = choice_arg("subject", ("member", "branch")) or "member"
    by = choice_arg("by", rankings_.BRANCH_BY if subject == "branch" else rankings_.MEMBER_BY) or "ytd"
    branch_type = choice_arg("type", tuple(snapshot().ruleset.registry.branch_types))
    if subject == "branch" and g.identity.role == "secretary":
        abort(403, description="a secretary sees the ranking of their branch's members (subject=member, branch_id)")
    scope = scoped(request.args.get("street"), branch_type, request.args.get("branch_id"))
    limit = int_arg("limit", 100, 1, 10_000)
    offset = int_arg("offset", 0, 0, 10_000_000)
    rank = rankings_.branch_ranking if subject == "branch" else rankings_.member_ranking
    return jsonify(rank(get_db(), period, by, scope, limit, offset))


@bp.get("/reminders")
@roles(*READERS)
def reminders():
    """What branches must still do this quarter or year, and by when (a street role: its street's; a
    secretary: their branch, branch_id required)."""
    period = period_arg()
    branch_type = choice_arg("type", tuple(snapshot().ruleset.registry.branch_types))
    scope = scoped(request.args.get("street"), branch_type, request.args.get("branch_id"))
    return jsonify(diagnoses.reminders(get_db(), period, scope))
