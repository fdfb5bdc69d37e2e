"""Serving (and logging) prescriptions, feedback, and the reports built from the store."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..errors import Conflict, InputError, NotFound, Problem
from ..remedies.prescribe import DEFAULT_REPEAT_MONTHS
from ..reports.branch import CATEGORIES, prescription_view
from ..service.runtime import Runtime
from ..store import results as results_store
from ..store import served as served_store
from ..store.schema import branches, member_metrics
from .common import check_period
from .diagnoses import result_from_json


def serve_prescriptions(runtime: Runtime, conn: Connection, branch_id: str, period: str, actor: str,
                        source: str = "api") -> dict:
    """POST /v1/prescriptions: rank, log what is shown (order, scores, probabilities), answer."""
    check_period(period)
    stored = results_store.result(conn, period, "branch", branch_id)
    if stored is None:
        raise NotFound(Problem(f"no diagnosis of branch '{branch_id}' for {period}", column="branch_id",
                               suggestion="POST /v1/diagnoses for the period first"))
    active = runtime.current()
    prescriber = runtime.prescriber(active.ruleset)
    if prescriber is None:
        raise Conflict(Problem("the remedy catalog is not loaded", suggestion="see /readyz"))
    street = conn.execute(select(branches.c.street).where(branches.c.branch_id == branch_id)).scalar()
    size = len(results_store.branch_members(conn, period, branch_id))
    history = served_store.history(conn, branch_id, period, DEFAULT_REPEAT_MONTHS)
    choices = prescriber.for_branch(result_from_json(stored), street, history, size)
    items = []
    for c in choices:
        need = {"indicator": c.need.indicator, "value": c.need.value, "reference": c.need.reference,
                "members": c.need.members, "severity": c.need.severity}
        for p in c.prescriptions:
            body = p.as_dict()
            # propensity: the probability with which this list was chosen (its first item's, when the
            # ranker explores; 1 for the deterministic prior). The need is kept to measure the outcome.
            items.append({"topic": p.topic, "rule": p.rule, "resource_id": p.resource_id, "kind": p.resource.kind,
                          "score": float(p.score), "propensity": c.propensity,
                          "body": {**body, "advice_zh": p.advice_zh, "advice_en": p.advice_en, "need": need}})
    list_id, ids = served_store.log_list(conn, branch_id, period, prescriber.ranker.name, source, actor, items)
    return {"branch_id": branch_id, "period": period, "list_id": list_id, "ranker": prescriber.ranker.name,
            "weaknesses": stored.get("weaknesses", []),
            "prescriptions": [{"prescription_id": pid, **{k: v for k, v in item["body"].items()
                                                          if k not in ("advice_zh", "advice_en", "need")}}
                              for pid, item in zip(ids, items, strict=True)]}


def record_feedback(conn: Connection, prescription_id: int, body: object, actor: str) -> dict:
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object: status, note", file="body"))
    problems = []
    status, note = body.get("status"), body.get("note")
    for k in body:
        if k not in ("status", "note"):
            problems.append(Problem(f"unknown field '{k}'", file="body", column=k, suggestion="fields: status, note"))
    if status not in served_store.STATUSES:
        problems.append(Problem(f"status must be one of {', '.join(served_store.STATUSES)}, got {status!r}",
                                file="body", column="status"))
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        problems.append(Problem("note must be text of at most 2,000 characters", file="body", column="note"))
    if problems:
        raise InputError(problems)
    fid = served_store.add_feedback(conn, prescription_id, status, note, actor)
    return {"feedback_id": fid, "prescription_id": prescription_id, "status": status}


# --------------------------------------------------------------------------------------------- reports

def member_report(conn: Connection, member_id: str, period: str) -> dict:
    check_period(period)
    stored = results_store.result(conn, period, "member", member_id)
    if stored is None:
        raise NotFound(Problem(f"no diagnosis of member '{member_id}' for {period}", column="member_id"))
    ranks = results_store.member_ranks(conn, period, member_id, stored["branch_id"], stored.get("vanguard_points"))
    return {**stored, "rank": ranks}


def branch_report_data(runtime: Runtime, conn: Connection, branch_id: str, period: str, actor: str) -> dict:
    """What ``branch_report.document_from`` needs, from the store (the page of a branch's secretary).
    Shows the latest list served for the branch and period, serving (and logging) one if none was."""
    stored = results_store.result(conn, period, "branch", branch_id)
    run = results_store.latest_run(conn, period)
    if stored is None or run is None:
        raise NotFound(Problem(f"no diagnosis of branch '{branch_id}' for {period}", column="period"))
    info_row = conn.execute(select(branches).where(branches.c.branch_id == branch_id)).mappings().first()
    member_objs = [result_from_json(m) for m in results_store.branch_members(conn, period, branch_id)]
    means = run["summary"].get("branch_means", {})
    result = result_from_json(stored)
    order = {topic: k for k, topic in enumerate(result.weaknesses)}
    findings = [{"finding": f, "indicator": runtime.registry.get("branch", f.indicator),
                 "district_mean": means.get(f.indicator)}
                for f in sorted(result.findings, key=lambda f: order.get(f.topic, len(order)))]
    ids = [m.id for m in member_objs]
    categories: dict[str, float | None] = {c: None for c in CATEGORIES}
    if ids:
        cols = sorted({c for _, _, cs in CATEGORIES.values() for c in cs})
        rows = conn.execute(select(*[member_metrics.c[c] for c in cols]).where(
            member_metrics.c.period == period, member_metrics.c.member_id.in_(ids))).all()
        frame = pd.DataFrame(rows, columns=cols).reindex(range(len(ids))) if rows else pd.DataFrame(columns=cols)
        points = runtime.current().ruleset.points
        for cat, (_zh, _en, cs) in CATEGORIES.items():
            pts = sum(np.nan_to_num(frame[c].to_numpy(dtype=float, na_value=np.nan), nan=0.0) * points.get(c, 0.0)
                      for c in cs)
            categories[cat] = float(np.sum(pts)) / len(ids)
    served = served_store.latest_list(conn, branch_id, period)
    if served is None:
        serve_prescriptions(runtime, conn, branch_id, period, actor, source="page")
        served = served_store.latest_list(conn, branch_id, period) or []
    grouped: dict[str, list[dict]] = {}
    for item in served:
        resource = runtime.catalog.get(item["resource_id"]) if runtime.catalog else None
        grouped.setdefault(item["topic"], []).append(
            prescription_view(item, resource, item.get("advice_zh", item["reason_zh"]),
                              item.get("advice_en", item["reason_en"])))
    pts = [m.vanguard_points for m in member_objs if m.vanguard_points is not None]
    ytd = [m.vanguard_points_ytd for m in member_objs if m.vanguard_points_ytd is not None]
    return {
        "result": result, "info": dict(info_row), "members": member_objs, "findings": findings,
        "categories": categories, "avg_points": float(np.mean(pts)) if pts else None,
        "avg_ytd": float(np.mean(ytd)) if ytd else None,
        "district_points": run["summary"].get("member_points_mean"),
        "top": sorted(member_objs, key=lambda m: (-(m.vanguard_points or 0), m.id))[:5],
        "red_members": [m for m in member_objs if m.lamp == "red"],
        "prescriptions": [(t, grouped[t]) for t in result.weaknesses if t in grouped],
    }


