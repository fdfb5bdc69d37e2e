"""The one builder of a branch report's data, for the command line and the secretary's page alike.

Both faces gather the same inputs (``ReportInputs``): the branch's and its members' results as JSON
objects (what ``diagnose --out`` writes and the store keeps), the branch's profile, its members' names
and metric rows, the period's district summary, the prescriptions as served, and the branch's last six
months. The command line gathers them from a diagnosed month (``from_month``), the service from the
store (``from_store``); ``build`` makes the report from either, so the two cannot say different things.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from ..data.sources import HISTORY_MONTHS
from ..engine.derive import derive_own
from ..engine.findings import Finding, SubjectResult
from ..errors import NotFound, Problem
from ..periods import months_before, parse_period
from ..remedies.plan import make_plan
from ..reports.branch import ABSENT_MONTHS, CATEGORIES, BranchReport, MonthLine
from ..rules.model import Compare, RuleSet
from ..store import metrics as metrics_store
from ..store import results as results_store
from ..store import served as served_store
from .month import Month
from .prescriptions import choose_prescriptions, serve_prescriptions, served_body
from .snapshot import Snapshot

TOP_MEMBERS = 5
HISTORY_SHOWN = 6  # months in the report's strip, this one included


@dataclass
class ReportInputs:
    branch: dict  # the branch's result as a JSON object
    info: dict  # branch_id, name, type, street
    members: list[dict]  # its members' results as JSON objects
    names: dict[str, str]  # member id -> name
    member_rows: pd.DataFrame  # the members' metric rows (period, member_id, indicators) of the last months
    summary: dict  # the period's district summary (engine.references.district_summary)
    served: list[dict]  # prescriptions as served (``served_body``, with prescription_id when logged)
    history: list[tuple[str, dict | None]]  # (period, the branch's result or None), oldest first: the months
    # shown and the one before them (to tell a new weakness from a continuing one in the first month shown)
    feedback: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # prescription id -> (status, date, id)


def from_month(month: Month, branch_id: str) -> ReportInputs:
    """The inputs of a branch's report from a month diagnosed in memory (``diagnose_month``)."""
    result = month.branch(branch_id)
    if result is None:
        raise NotFound(Problem(f"no branch '{branch_id}' with data in {month.period}", field=("branch",)))
    dataset = month.evaluator.dataset
    info = {"branch_id": branch_id, **dataset.branches.loc[branch_id, ["name", "type", "street"]].to_dict()}
    members = [json.loads(m.to_json()) for m in month.members if m.branch_id == branch_id]
    ids = [m["id"] for m in members]
    names = dataset.members["name"].reindex(ids).dropna().to_dict()
    window = set(months_before(month.period, HISTORY_MONTHS))
    rows = dataset.member_metrics[dataset.member_metrics["member_id"].isin(ids)
                                  & dataset.member_metrics["period"].isin(window)]
    member_rows = rows.drop(columns="pidx").reset_index(drop=True)
    served = [served_body(p, c) for c in month.choices.get(branch_id, []) for p in c.prescriptions]
    history = []
    for period in months_before(month.period, HISTORY_SHOWN + 1):
        if period == month.period:
            history.append((period, json.loads(result.to_json())))
        elif period in dataset.periods():
            earlier = next((b for b in month.evaluator.run(period, members=False)[0] if b.id == branch_id), None)
            history.append((period, None if earlier is None else json.loads(earlier.to_json())))
        else:
            history.append((period, None))
    return ReportInputs(json.loads(result.to_json()), info, members, names, member_rows, month.summary(), served,
                        history)


def needs_serving(conn: Connection, branch_id: str, period: str) -> bool:
    """No prescription list was served to the branch for the period yet (the page serves one first)."""
    return served_store.latest_list(conn, branch_id, period) is None


def ensure_served(snapshot: Snapshot, conn: Connection, branch_id: str, period: str, actor: str) -> None:
    """Serves (and logs) the branch's prescription list for the period unless one was served already: the
    page is where a secretary first sees one. A write, in the caller's transaction."""
    if needs_serving(conn, branch_id, period) and results_store.result(conn, period, "branch", branch_id) is not None:
        serve_prescriptions(snapshot, conn, branch_id, period, actor, source="page")


def from_store(snapshot: Snapshot, conn: Connection, branch_id: str, period: str,
               preview: bool = False) -> ReportInputs:
    """The inputs of a branch's report from the store (reads only: the plan is made of the list served
    last; when none was served, none, or with ``preview`` the list the service would serve now, not
    logged and without prescription ids: see ``ensure_served``)."""
    stored = results_store.result(conn, period, "branch", branch_id)
    run = results_store.latest_run(conn, period)
    info = metrics_store.branch(conn, branch_id)
    if stored is None or run is None or info is None:
        raise NotFound(Problem(f"no diagnosis of branch '{branch_id}' for {period}", field=("query", "period")))
    members = results_store.branch_members(conn, period, branch_id)
    ids = [m["id"] for m in members]
    columns, rows = metrics_store.subject_rows(conn, "member", ids, months_before(period, HISTORY_MONTHS))
    member_rows = pd.DataFrame.from_records(rows, columns=columns)
    served = served_store.latest_list(conn, branch_id, period)
    if served is None:
        served = [item["body"] for item in choose_prescriptions(snapshot, conn, branch_id, period)[2]] \
            if preview else []
    shown = months_before(period, HISTORY_SHOWN + 1)
    stored_history = results_store.subject_results(conn, "branch", branch_id, shown)
    feedback = served_store.latest_feedback(conn, [s["prescription_id"] for s in served if "prescription_id" in s])
    return ReportInputs(stored, info, members, metrics_store.member_names(conn, ids), member_rows, run["summary"],
                        served, [(p, stored_history.get(p)) for p in shown], feedback)


def build(inputs: ReportInputs, snapshot: Snapshot) -> BranchReport:
    """Everything the report shows, computed the same way whatever gathered the inputs."""
    ruleset, reg = snapshot.ruleset, snapshot.ruleset.registry
    result = SubjectResult.from_dict(inputs.branch)
    members = sorted((SubjectResult.from_dict(m) for m in inputs.members), key=lambda m: m.id)
    means = inputs.summary.get("branch_means", {})
    order = {topic: k for k, topic in enumerate(result.weaknesses)}
    findings = [{"finding": f, "indicator": reg.get("branch", f.indicator), "district_mean": means.get(f.indicator),
                 "compared": _compared(ruleset, f)}
                for f in sorted(result.findings, key=lambda f: order.get(f.topic, len(order)))  # stable: severity kept
                if f.severity != "reminder"]
    reminders = [f for f in result.findings if f.severity == "reminder"]
    lamp_reasons = [f for f in result.findings
                    if f.severity == result.lamp and (rule := ruleset.rule(f.rule)) is not None and rule.lamp]
    values = _member_values(inputs.member_rows, result.period, [m.id for m in members], snapshot)
    dues = sorted(((m.id, int(values[m.id].get("consecutive_unpaid_months") or 1)) for m in members
                   if values.get(m.id, {}).get("dues_paid") == 0), key=lambda x: (-x[1], x[0]))
    absent = sorted(((m.id, int(values[m.id]["consecutive_absent_months"])) for m in members
                     if (values.get(m.id, {}).get("consecutive_absent_months") or 0) >= ABSENT_MONTHS),
                    key=lambda x: (-x[1], x[0]))
    flagged = [m for lamp in ("red", "yellow") for m in members if m.lamp == lamp]
    plan, more = make_plan(result.weaknesses, inputs.served)
    bookings = {}
    for item in plan + more:
        resource = snapshot.catalog.get(item.resource_id) if snapshot.catalog else None
        text = resource.text if resource is not None else {}
        bookings[item.resource_id] = (text.get("booking_zh"), text.get("booking_en"))
    return BranchReport(
        result=result, info={**{k: inputs.info[k] for k in ("name", "type", "street")},
                             "street_en": snapshot.catalog.street_en(inputs.info["street"]) if snapshot.catalog
                             else inputs.info["street"]},
        members=members,
        names=dict(inputs.names), lamp_reasons=lamp_reasons, findings=findings, reminders=reminders,
        dues_unpaid=dues, absent=absent,
        flagged=flagged, plan=plan, more=more, history=_history(inputs.history),
        categories=_categories(members, values, ruleset.points),
        avg_points=_mean([m.vanguard_points for m in members]), avg_ytd=_mean([m.vanguard_points_ytd for m in members]),
        district_points=inputs.summary.get("member_points_mean"),
        top=sorted(members, key=lambda m: (-(m.vanguard_points or 0), m.id))[:TOP_MEMBERS], bookings=bookings,
        feedback=dict(inputs.feedback))


def _compared(ruleset: RuleSet, finding: Finding) -> Compare | None:
    """What the finding's rule compared the branch's value with (its main condition), when the report can
    say it in words: a mean or quantile of the district or of the branch's peers, or a bound on the value
    itself. None for a rule the rule set no longer has, a change from an earlier month, an equality, a
    finding without a reference, or a bound other than the one the finding was measured against."""
    rule = ruleset.rule(finding.rule)
    if rule is None or finding.reference is None:
        return None
    compare = rule.primary
    if compare.indicator != finding.indicator or compare.change is not None:
        return None
    if compare.ref.kind == "const" and (compare.op not in ("lt", "le", "gt", "ge")
                                        or compare.ref.value != finding.reference):  # a rule changed since
        return None
    return compare


def _member_values(rows: pd.DataFrame, period: str, ids: list[str], snapshot: Snapshot) -> dict[str, dict]:
    """member id -> this month's values, the derived ones (runs of months) included."""
    if rows.empty:
        return {}
    reported = [i.id for i in snapshot.ruleset.registry.reported("member")]
    frame = pd.DataFrame({"pidx": np.array([parse_period(p) for p in rows["period"]], dtype=np.int64),
                          "period": rows["period"].to_numpy(), "member_id": rows["member_id"].to_numpy(),
                          **{c: (rows[c].to_numpy(dtype=float, na_value=np.nan) if c in rows
                                 else np.full(len(rows), np.nan)) for c in reported}})
    frame = frame.sort_values(["pidx", "member_id"], kind="stable").reset_index(drop=True)
    derived = derive_own(frame, "member", snapshot.ruleset)
    now = derived[derived["period"] == period]
    keep = [c for c in now.columns if c not in ("pidx", "period", "member_id")]
    matrix = now[keep].to_numpy(dtype=float)
    wanted = set(ids)
    return {mid: {c: (None if v != v else float(v)) for c, v in zip(keep, row, strict=True)}
            for mid, row in zip(now["member_id"], matrix, strict=True) if mid in wanted}


def _history(months: Sequence[tuple[str, dict | None]]) -> list:
    """The last HISTORY_SHOWN months' lines; the month before them only says what was there already."""
    lines, before = [], None
    for period, obj in months:
        if obj is None:
            lines.append(MonthLine(period, None, [], []))
            before = None
            continue
        weak = list(obj.get("weaknesses", []))
        seen = set(before or [])
        # After a month not diagnosed (or the first one), whether a weakness is new cannot be told: no state.
        lines.append(MonthLine(period, obj["lamp"], [(w, "" if before is None else "continuing" if w in seen
                                                      else "new") for w in weak],
                               [w for w in (before or []) if w not in weak]))
        before = weak
    return lines[-HISTORY_SHOWN:]


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


__all__ = ["HISTORY_SHOWN", "ReportInputs", "build", "ensure_served", "from_month", "from_store", "needs_serving"]
