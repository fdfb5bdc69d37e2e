"""Diagnosing a stored period, and events: one subject re-evaluated at once."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from ..data.model import KEYS, PERIOD_RE, parse_period
from ..data.rows import check_rows
from ..engine.evaluator import aggregate
from ..engine.findings import Finding, SubjectResult, clean_number
from ..engine.subject import PeriodReferences, period_references
from ..errors import Conflict, InputError, NotFound, Problem
from ..rules.model import Ref
from ..service.runtime import Runtime
from ..store import metrics as metrics_store
from ..store import results as results_store
from ..store.schema import branches, members
from .common import check_period
from .month import diagnose


def diagnose_period(runtime: Runtime, engine: Engine, period: str, actor: str) -> dict:
    """POST /v1/diagnoses: the whole period through the vectorized engine, stored."""
    check_period(period)
    active = runtime.current()
    start = time.perf_counter()
    with engine.connect() as conn:
        dataset = metrics_store.load_dataset(conn, runtime.registry, period)
    if period not in dataset.periods():
        raise NotFound(Problem(f"no metrics stored for period {period}", column="period",
                               suggestion="PUT /v1/periods/{period}/metrics or import a data directory first"))
    diag = diagnose(dataset, active.ruleset, period)
    refs = period_references(diag.evaluator, period)
    summary = {"references": results_store.references_to_json(refs), "branch_means": _branch_means(diag),
               "member_points_mean": _mean(diag.evaluator.frame("member", parse_period(period)), "vanguard_points")}
    with engine.begin() as conn:
        run_id = results_store.save_run(conn, period, diag.branches, diag.members, active.version, active.digest,
                                        summary, actor)
    lamps = {s: {c: sum(r.lamp == c for r in rs) for c in ("red", "yellow", "green")}
             for s, rs in (("branch", diag.branches), ("member", diag.members))}
    return {"period": period, "run_id": run_id, "rules_version": active.version, "branches": len(diag.branches),
            "members": len(diag.members), "lamps": lamps, "seconds": round(time.perf_counter() - start, 3)}


def _branch_means(diag) -> dict[str, float | None]:
    pidx = parse_period(diag.period)
    out = {}
    for ind in diag.ruleset.registry.indicators["branch"].values():
        column = diag.evaluator.column("branch", ind.id, pidx)
        out[ind.id] = None if column is None else clean_number(aggregate(column.dropna().to_numpy(), Ref("mean")))
    return out


def _mean(frame: pd.DataFrame, column: str) -> float | None:
    return clean_number(float(frame[column].mean())) if column in frame and len(frame) else None


def result_from_json(obj: Mapping) -> SubjectResult:
    findings = [Finding(f["rule"], f["indicator"], f["severity"], f["topic"], f["value"], f["reference"],
                        f["message_zh"], f["message_en"]) for f in obj.get("findings", [])]
    if obj["subject"] == "branch":
        return SubjectResult("branch", obj["id"], obj["period"], obj["lamp"], findings, branch_type=obj.get("type"),
                             weaknesses=list(obj.get("weaknesses", [])))
    return SubjectResult("member", obj["id"], obj["period"], obj["lamp"], findings, branch_id=obj.get("branch_id"),
                         vanguard_points=obj.get("vanguard_points"), vanguard_points_ytd=obj.get("vanguard_points_ytd"))


def _references(runtime: Runtime, engine: Engine, run: dict, period: str) -> PeriodReferences:
    """The period's references for the active rules: stored with the run, recomputed if the rules changed."""
    active = runtime.current()
    if run["ruleset_digest"] == active.digest:
        return results_store.references_from_json(period, run["summary"]["references"])
    key = (period, active.digest)
    cached = runtime.references_cache.get(key)
    if cached is None:
        with engine.connect() as conn:
            dataset = metrics_store.load_dataset(conn, runtime.registry, period)
        diag = diagnose(dataset, active.ruleset, period)
        cached = period_references(diag.evaluator, period)
        runtime.references_cache[key] = cached
    return cached


def apply_event(runtime: Runtime, engine: Engine, body: object, actor: str, request_id: str | None = None) -> dict:
    """POST /v1/events: store one subject's new values and re-evaluate it at once (durable_rules path).
    A member's new lamp can change its branch's red-member share: the branch is re-evaluated too."""
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object: subject, id, period, values", file="body"))
    problems = []
    for k in body:
        if k not in ("subject", "id", "period", "values"):
            problems.append(Problem(f"unknown field '{k}'", file="body", column=k,
                                    suggestion="fields: subject, id, period, values"))
    subject, sid, period, values = body.get("subject"), body.get("id"), body.get("period"), body.get("values")
    if subject not in ("branch", "member"):
        problems.append(Problem(f"subject must be 'branch' or 'member', got {subject!r}", file="body", column="subject"))
    if not isinstance(sid, str) or not sid:
        problems.append(Problem("id must be a branch or member id", file="body", column="id"))
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        problems.append(Problem(f"bad period {period!r}", file="body", column="period",
                                suggestion="write it as YYYY-MM, e.g. 2025-03"))
    if not isinstance(values, dict) or not values:
        problems.append(Problem("values must be a non-empty object of indicator: value", file="body", column="values"))
    if problems:
        raise InputError(problems)
    try:
        check_rows([{"period": period, **values}], subject, runtime.registry, file="values")
    except InputError as exc:
        raise InputError([Problem(p.message, file="body", column=f"values.{p.column}" if p.column else "values",
                                  suggestion=p.suggestion) for p in exc.problems]) from None
    active = runtime.current()
    with engine.begin() as conn:
        if not metrics_store.known_ids(conn, subject, [sid]):
            raise NotFound(Problem(f"unknown {subject} '{sid}'", file="body", column="id"))
        run = results_store.latest_run(conn, period)
        if run is None:
            raise Conflict(Problem(f"period {period} has not been diagnosed", file="body", column="period",
                                   suggestion="POST /v1/diagnoses first: events are evaluated against the period's "
                                              "district references"))
        frame = pd.DataFrame([{"period": period, KEYS[subject]: sid, **values}])
        metrics_store.upsert_metrics(conn, subject, frame, source="event", actor=actor, request_id=request_id,
                                     partial=True)
        refs = _references(runtime, engine, run, period)
        first = _reevaluate(runtime, conn, active, subject, sid, period, refs, run["id"])
        out = dict(first)
        if subject == "member" and first["changed"]:
            out["branch"] = _reevaluate(runtime, conn, active, "branch", first["branch_id"], period, refs, run["id"])
    return out


def _reevaluate(runtime: Runtime, conn: Connection, active, subject: str, sid: str, period: str,
                refs: PeriodReferences, run_id: int) -> dict:
    previous = results_store.result(conn, period, subject, sid)
    history = metrics_store.subject_history(conn, subject, sid, period)
    if subject == "member":
        branch_id = conn.execute(select(members.c.branch_id).where(members.c.member_id == sid)).scalar()
    else:
        branch_id = sid
    btype = conn.execute(select(branches.c.type).where(branches.c.branch_id == branch_id)).scalar()
    member_values = None
    if subject == "branch":
        share = results_store.red_member_share(conn, period, sid)
        member_values = {period: {"red_member_share": share}} if share is not None else None
    if not any(r["period"] == period for r in history):
        raise Conflict(Problem(f"{subject} '{sid}' has no metrics for {period}", column="period"))
    result = active.subject_engine.evaluate(subject, sid, period, history, refs, branch_type=btype, branch_id=branch_id,
                                            member_values=member_values, validate=False)
    results_store.replace_result(conn, result, run_id)
    before = previous["lamp"] if previous else None
    return {"subject": subject, "id": sid, "branch_id": branch_id, "period": period, "lamp": result.lamp,
            "previous_lamp": before, "changed": before != result.lamp,
            "push": result.lamp == "red" and before != "red",
            "findings": [f.as_dict() for f in result.findings],
            **({"vanguard_points": clean_number(result.vanguard_points)} if subject == "member" else
               {"weaknesses": result.weaknesses})}


