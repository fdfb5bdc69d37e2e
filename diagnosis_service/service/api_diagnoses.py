"""Diagnoses: run a period, read a branch's diagnosis and a member's report, lamps, rankings."""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, request

from ..errors import InputError, NotFound, Problem
from ..periods import check_period
from ..pipeline import diagnoses
from ..pipeline import rankings as rankings_
from ..pipeline.jobs import job_json, refuse_beside_open_job, submit_diagnosis
from ..store import jobs as jobs_store
from .auth import READERS, actor, require_branch, require_member, roles, scoped
from .db import get_db, runtime, snapshot
from .model_routine import REQUEST_WAIT
from .request_args import check_id, choice_arg, int_arg, object_body, period_arg

bp = Blueprint("diagnoses", __name__, url_prefix="/v1")


@bp.post("/diagnoses")
@roles("platform")
def post_diagnosis():
    """Diagnose a whole period (vectorized engine) and store the results: 202 with a job to follow
    (GET /v1/jobs/{id}); with ?wait=true the work is done in the request and answered 201 (small
    districts, scripts)."""
    body = object_body(("period",), '{"period": "YYYY-MM"}')
    wait = request.args.get("wait", "false")
    if wait not in ("true", "false"):
        raise InputError(Problem(f"wait must be true or false, got {wait[:20]!r}", field=("query", "wait")))
    rt = runtime()
    if wait == "true":
        period = body.get("period")
        snapshot()  # a service that is not ready says so (503) first, as a job's submission does
        check_period(period, "period")
        refuse_beside_open_job(rt.engine, period)  # 409: the month's job is under way
        # The month's lists ranked by what the months before taught; a routine another holds (the month's
        # job, another process) is waited for a minute at most: this request's thread is one of a few.
        said = rt.model_routine(period, wait=REQUEST_WAIT)
        # The request's snapshot read again: its ranker is the routine's verdict, not the one before it.
        return jsonify(diagnoses.diagnose_period(snapshot(force=True), rt.engine, period, actor(),
                                                 extra={"model": said} if said else None)), 201
    snapshot()  # a service that is not ready says so now (503), not in a failed job later
    job, _ = submit_diagnosis(rt.engine, body.get("period"), actor())
    rt.jobs.wake()
    resp = jsonify(job_json(job))
    resp.headers["Location"] = f"/v1/jobs/{job['id']}"
    resp.headers["Retry-After"] = "2"
    return resp, 202


@bp.get("/jobs/<job_id>")
@roles("platform", "admin")
def get_job(job_id: str):
    """A job's state (queued, running, succeeded, failed), stage, progress, result or error."""
    if not (job_id.isascii() and job_id.isdigit()):  # a typo says so, not the site's bare 404
        raise NotFound(Problem(f"no job {job_id!r}: job ids are numbers, as POST /v1/diagnoses gives them",
                               field=("job_id",)))
    job = jobs_store.get(get_db(), check_id(int(job_id), "job_id"))
    if job is None:
        raise NotFound(Problem(f"no job {job_id}", field=("job_id",)))
    return jsonify(job_json(job))


@bp.get("/jobs")
@roles("platform", "admin")
def list_jobs():
    """The latest jobs, newest first (?state=queued|running|succeeded|failed, ?limit= up to 200)."""
    state = request.args.get("state")
    if state is not None and state not in jobs_store.STATES:
        raise InputError(Problem(f"state must be one of {', '.join(jobs_store.STATES)}", field=("query", "state")))
    return jsonify(jobs=[job_json(j) for j in jobs_store.listing(get_db(), state, int_arg("limit", 50, 1, 200))])


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
    report = diagnoses.member_report(get_db(), member_id, period)
    # A member who moved since keeps the months of the old branch with it: seen by whoever may see that one.
    if report.get("branch_id") is not None:
        require_branch(report["branch_id"])
    return jsonify(report)


@bp.get("/lamps")
@roles("platform", "admin", "street")
def lamps():
    """Lamps of a period, filtered by colour and subject kind, paged (a street role: its street's); with
    weaknesses=true, each branch's weaknesses too (a platform asks for the month's lists in one call, not
    one diagnosis a branch)."""
    period = period_arg()
    color = choice_arg("color", ("red", "yellow", "green"))
    subject = choice_arg("subject", ("branch", "member"))
    weaknesses = choice_arg("weaknesses", ("true", "false")) == "true"
    limit = int_arg("limit", 1000, 1, 10_000)
    offset = int_arg("offset", 0, 0, 10_000_000)
    street = scoped(request.args.get("street")).street
    return jsonify(diagnoses.lamps(get_db(), period, color, subject, limit, offset, street, weaknesses))


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
    diagnoses.require_diagnosed(get_db(), period)
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
