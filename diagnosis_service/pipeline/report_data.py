"""The one builder of a branch report's data, for the command line and the secretary's page alike.

Both faces gather the same inputs (``ReportInputs``): the branch's and its members' results as JSON
objects (what ``diagnose --out`` writes and the store keeps), the branch's profile, its members'
category values, the period's district summary and the prescriptions as served. The command line
gathers them from a diagnosed month (``from_month``), the service from the store (``from_store``);
``build`` makes the report from either, so the two cannot say different things.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Connection

from ..engine.findings import SubjectResult
from ..errors import NotFound, Problem
from ..periods import parse_period
from ..reports.branch import CATEGORIES, BranchReport, prescription_view
from ..store import metrics as metrics_store
from ..store import results as results_store
from ..store import served as served_store
from .month import Month
from .prescriptions import serve_prescriptions, served_body
from .snapshot import Snapshot

CATEGORY_COLUMNS = sorted({c for _, _, cols in CATEGORIES.values() for c in cols})
TOP_MEMBERS = 5


@dataclass
class ReportInputs:
    branch: dict  # the branch's result as a JSON object
    info: dict  # branch_id, name, type, street
    members: list[dict]  # its members' results as JSON objects, sorted by id
    member_values: dict[str, dict[str, float | None]]  # member id -> CATEGORY_COLUMNS this month
    summary: dict  # the period's district summary (engine.references.district_summary)
    served: list[dict]  # prescriptions as served (``served_body``), in the order shown


def from_month(month: Month, branch_id: str) -> ReportInputs:
    """The inputs of a branch's report from a month diagnosed in memory (``diagnose_month``)."""
    result = month.branch(branch_id)
    if result is None:
        raise NotFound(Problem(f"no branch '{branch_id}' with data in {month.period}", field=("branch",)))
    dataset = month.evaluator.dataset
    info = {"branch_id": branch_id, **dataset.branches.loc[branch_id, ["name", "type", "street"]].to_dict()}
    members = [json.loads(m.to_json()) for m in month.members if m.branch_id == branch_id]
    frame = month.evaluator.frame("member", parse_period(month.period)).reindex([m["id"] for m in members])
    values = {mid: {c: (None if v != v else float(v)) for c, v in zip(CATEGORY_COLUMNS, row, strict=True)}
              for mid, row in zip(frame.index, frame[CATEGORY_COLUMNS].to_numpy(dtype=float), strict=True)}
    served = [served_body(p, c) for c in month.choices.get(branch_id, []) for p in c.prescriptions]
    return ReportInputs(json.loads(result.to_json()), info, members, values, month.summary(), served)


def from_store(snapshot: Snapshot, conn: Connection, branch_id: str, period: str, actor: str) -> ReportInputs:
    """The inputs of a branch's report from the store; serves (and logs) a prescription list when none
    was served for the branch and period yet (the page is where a secretary first sees one)."""
    stored = results_store.result(conn, period, "branch", branch_id)
    run = results_store.latest_run(conn, period)
    info = metrics_store.branch(conn, branch_id)
    if stored is None or run is None or info is None:
        raise NotFound(Problem(f"no diagnosis of branch '{branch_id}' for {period}", field=("query", "period")))
    members = results_store.branch_members(conn, period, branch_id)
    values = {mid: dict(zip(CATEGORY_COLUMNS, row, strict=True)) for mid, *row in
              metrics_store.member_values(conn, period, [m["id"] for m in members], CATEGORY_COLUMNS)}
    served = served_store.latest_list(conn, branch_id, period)
    if served is None:
        serve_prescriptions(snapshot, conn, branch_id, period, actor, source="page")
        served = served_store.latest_list(conn, branch_id, period) or []
    return ReportInputs(stored, info, members, values, run["summary"], served)


def build(inputs: ReportInputs, snapshot: Snapshot) -> BranchReport:
    """Everything the report shows, computed the same way whatever gathered the inputs."""
    reg = snapshot.ruleset.registry
    result = SubjectResult.from_dict(inputs.branch)
    members = sorted((SubjectResult.from_dict(m) for m in inputs.members), key=lambda m: m.id)
    means = inputs.summary.get("branch_means", {})
    order = {topic: k for k, topic in enumerate(result.weaknesses)}
    findings = [{"finding": f, "indicator": reg.get("branch", f.indicator), "district_mean": means.get(f.indicator)}
                for f in sorted(result.findings, key=lambda f: order.get(f.topic, len(order)))]  # stable: severity kept
    grouped: dict[str, list[dict]] = {}
    for item in inputs.served:
        resource = snapshot.catalog.get(item["resource_id"]) if snapshot.catalog else None
        grouped.setdefault(item["topic"], []).append(
            prescription_view(item, resource, item.get("advice_zh", item["reason_zh"]),
                              item.get("advice_en", item["reason_en"])))
    return BranchReport(
        result=result, info={k: inputs.info[k] for k in ("name", "type", "street")}, members=members,
        findings=findings, categories=_categories(members, inputs.member_values, snapshot.ruleset.points),
        avg_points=_mean([m.vanguard_points for m in members]), avg_ytd=_mean([m.vanguard_points_ytd for m in members]),
        district_points=inputs.summary.get("member_points_mean"),
        top=sorted(members, key=lambda m: (-(m.vanguard_points or 0), m.id))[:TOP_MEMBERS],
        red_members=[m for m in members if m.lamp == "red"],
        prescriptions=[(topic, grouped.get(topic, [])) for topic in result.weaknesses])


def _categories(members: list[SubjectResult], values: dict[str, dict], points: dict[str, float]) -> dict:
    """Points per member this month by category (a missing value counts 0, as in the points)."""
    out: dict[str, float | None] = {}
    for category, (_zh, _en, cols) in CATEGORIES.items():
        if not members:
            out[category] = None
            continue
        per_member = [sum((values.get(m.id, {}).get(c) or 0.0) * points.get(c, 0.0) for c in cols) for m in members]
        out[category] = float(np.mean(per_member))
    return out


def _mean(numbers: Sequence[float | None]) -> float | None:
    known = [x for x in numbers if x is not None]
    return float(np.mean(known)) if known else None


__all__ = ["CATEGORY_COLUMNS", "ReportInputs", "build", "from_month", "from_store"]
