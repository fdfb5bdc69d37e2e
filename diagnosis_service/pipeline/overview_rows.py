"""The overview's row per branch and month (``branch_months``): from result objects, as a stored diagnosis
keeps them and an event re-evaluates a branch (``branch_month_row``), or from a month evaluated here
with its members read as columns (``month_rows``, what ``overview --data`` does for every month)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..engine.evaluator import Evaluator
from ..engine.findings import SubjectResult, clean_number
from ..periods import parse_period


def _fields(result: SubjectResult | Mapping) -> tuple:
    """(lamp, month's points, year's points, weakness topics, fired rule ids but reminders) of a result
    object or of its JSON (as stored)."""
    # Reminders (what is still to be done) are not problems: the overview counts problems.
    if isinstance(result, SubjectResult):
        return (result.lamp, clean_number(result.vanguard_points), clean_number(result.vanguard_points_ytd),
                list(result.weaknesses), sorted({f.rule for f in result.findings if f.severity != "reminder"}))
    return (result["lamp"], result.get("vanguard_points"), result.get("vanguard_points_ytd"),
            list(result.get("weaknesses", [])),
            sorted({f["rule"] for f in result.get("findings", []) if f.get("severity") != "reminder"}))


def branch_month_row(period: str, branch: SubjectResult | Mapping, members: Iterable[SubjectResult | Mapping],
                     street: str, branch_type: str) -> dict:
    """The ``branch_months`` row of one branch's result and its members' results."""
    lamp, _, _, weaknesses, rules = _fields(branch)
    row = {"period": period, "branch_id": branch.id if isinstance(branch, SubjectResult) else branch["id"],
           "street": street, "type": branch_type, "lamp": lamp, "members": 0, "members_red": 0,
           "members_yellow": 0, "points_sum": 0.0, "points_n": 0, "ytd_sum": 0.0, "ytd_n": 0}
    member_rules: Counter = Counter()
    for m in members:
        m_lamp, points, ytd, _, m_rules = _fields(m)
        row["members"] += 1
        row["members_red"] += m_lamp == "red"
        row["members_yellow"] += m_lamp == "yellow"
        if points is not None:
            row["points_sum"] += points
            row["points_n"] += 1
        if ytd is not None:
            row["ytd_sum"] += ytd
            row["ytd_n"] += 1
        member_rules.update(m_rules)
    row["weaknesses"] = json.dumps(weaknesses)
    row["findings"] = json.dumps(rules)
    row["member_findings"] = json.dumps(dict(sorted(member_rules.items())))
    return row


def branch_month_rows(period: str, branches: Sequence[SubjectResult], members: Sequence[SubjectResult],
                      profiles: Mapping[str, Mapping]) -> list[dict]:
    """The rows of a diagnosed month, one per branch, by branch id (``profiles``: branch id -> street,
    type)."""
    by_branch: dict[str, list[SubjectResult]] = defaultdict(list)
    for m in members:
        by_branch[m.branch_id or ""].append(m)
    out = []
    for b in sorted(branches, key=lambda b: b.id):
        info = profiles.get(b.id, {})
        out.append(branch_month_row(period, b, by_branch.get(b.id, ()), str(info.get("street") or ""),
                                    str(info.get("type") or b.branch_type or "")))
    return out


def month_rows(evaluator: Evaluator, period: str, profiles: Mapping[str, Mapping]) -> list[dict]:
    """``branch_month_rows`` of a month evaluated here, the same rows (tested), without a result object
    per member: a district month has 50,000, and building them took most of an overview's time. Their
    lamps, points and kept findings are read as columns and added up per branch in member id order (the
    sums add in the same order, so they are the same floats)."""
    pidx = parse_period(period)
    branches, _ = evaluator.run(period, members=False)
    branches = sorted(branches, key=lambda b: b.id)
    ids, lamps, _ = evaluator.members_at(pidx, build=False)
    kept_ids, kept = evaluator.kept_findings("member", pidx)
    assert kept_ids.equals(ids), "member ids of the lamps and of the findings differ"  # one context: a bug
    codes = pd.Index([b.id for b in branches]).get_indexer(evaluator.dataset.members["branch_id"].reindex(ids))
    inside, n = codes >= 0, len(branches)
    mine = codes[inside]

    def per_branch(selected: np.ndarray | None = None, weights: np.ndarray | None = None) -> list:
        chosen = mine if selected is None else mine[selected[inside]]
        counts = np.bincount(chosen, weights=weights, minlength=n)
        # With no weight at all bincount gives ints: a sum of no points is 0.0, as the loop starts it.
        return (counts if weights is None else counts.astype(float)).tolist()

    frame = evaluator.frame("member", pidx)
    sums = {}
    for column in ("vanguard_points", "vanguard_points_ytd"):
        values = (frame[column].reindex(ids).to_numpy(dtype=float, copy=True) if column in frame.columns
                  else np.full(len(ids), np.nan))
        present = np.isfinite(values)  # what clean_number keeps
        # Cleaned (rounded as clean_number rounds, in Python) once per distinct value: points take a few
        # hundred. bincount adds each bin's weights in input order from 0.0, as ``branch_month_row`` adds.
        codes_, distinct = pd.factorize(values[present])
        values[present] = np.array([float(clean_number(v)) for v in distinct.tolist()], dtype=float)[codes_]
        sums[column] = (per_branch(present, values[inside & present]), per_branch(present))
    counts, red, yellow = per_branch(), per_branch(lamps == "red"), per_branch(lamps == "yellow")
    member_rules: list[dict[str, int]] = [{} for _ in range(n)]
    for rule_id in sorted(kept):
        if evaluator.ruleset.rule(rule_id).severity == "reminder":
            continue
        for j, count in enumerate(per_branch(kept[rule_id])):
            if count:
                member_rules[j][rule_id] = count
    out = []
    for j, b in enumerate(branches):
        info = profiles.get(b.id, {})
        lamp, _, _, weaknesses, rules = _fields(b)
        out.append({"period": period, "branch_id": b.id, "street": str(info.get("street") or ""),
                    "type": str(info.get("type") or b.branch_type or ""), "lamp": lamp, "members": counts[j],
                    "members_red": red[j], "members_yellow": yellow[j], "points_sum": sums["vanguard_points"][0][j],
                    "points_n": sums["vanguard_points"][1][j], "ytd_sum": sums["vanguard_points_ytd"][0][j],
                    "ytd_n": sums["vanguard_points_ytd"][1][j], "weaknesses": json.dumps(weaknesses), "findings": json.dumps(rules),
                    "member_findings": json.dumps(member_rules[j])})
    return out


__all__ = ["branch_month_row", "branch_month_rows", "month_rows"]
