"""The district's (or a street's, or a branch type's) months side by side: lamps and lamp rates, their
change, the most frequent weaknesses and findings, streets compared, branches red month after month.

Kept when a month is diagnosed (and when an event re-evaluates a branch): one row per branch
(``branch_months``: its street and type then, its lamp, its members' lamps and points, what fired) and
those rows added up per street and branch type (``cells``). The overview reads the cells of its months
(~1,600 for twelve months of the district, whatever the scope) and the red branches' rows; the command
line builds the same rows and cells from the months it diagnoses itself (``from_dataset``).

A lamp rate is the share of subjects with a red or yellow lamp (红黄灯率, as the seed reports it); the
red rate counts red lamps only. A change is given in percentage points and relative to the earlier
rate (the seed's "fell by 17%" is relative).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from ..data.model import Dataset
from ..engine import make_evaluator
from ..engine.evaluator import Evaluator
from ..engine.findings import SubjectResult, clean_number
from ..errors import InputError, Problem
from ..periods import check_period, parse_period, period_str
from ..rules.model import RuleSet
from ..store import overview as overview_store
from .rankings import DISTRICT, LAMP_ORDER, Scope

MAX_MONTHS = 60
TOP = 10  # weaknesses and findings listed, unless asked otherwise
LAMPS = ("red", "yellow", "green")


# -- rows and cells: what is kept per branch, and per street and type, for each period ---------------

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


def cells(rows: Iterable[Mapping]) -> list[dict]:
    """``branch_months`` rows added up per period, street and branch type (the ``overview_cells`` rows),
    in key order."""
    out: dict[tuple, dict] = {}
    for r in rows:
        key = (r["period"], r["street"], r["type"])
        c = out.get(key)
        if c is None:
            c = out[key] = {"period": key[0], "street": key[1], "type": key[2], "branches": 0, "branches_red": 0,
                            "branches_yellow": 0, "members": 0, "members_red": 0, "members_yellow": 0,
                            "weaknesses": Counter(), "findings": Counter()}
        c["branches"] += 1
        c["branches_red"] += r["lamp"] == "red"
        c["branches_yellow"] += r["lamp"] == "yellow"
        for k in ("members", "members_red", "members_yellow"):
            c[k] += r[k]
        c["weaknesses"].update(json.loads(r["weaknesses"]))
        c["findings"].update(json.loads(r["findings"]))
        c["findings"].update(json.loads(r["member_findings"]))
    return [{**c, "weaknesses": json.dumps(dict(sorted(c["weaknesses"].items()))),
             "findings": json.dumps(dict(sorted(c["findings"].items())))} for _, c in sorted(out.items())]


def keep_branch(conn: Connection, period: str, row: Mapping) -> None:
    """After an event: the branch's new row, and its cell added up again from the rows it now holds."""
    overview_store.replace_row(conn, period, row)
    (cell,) = cells(overview_store.cell_rows(conn, period, row["street"], row["type"]))
    overview_store.replace_cell(conn, cell)


# -- the overview ------------------------------------------------------------------------------------

def check_range(period_from: object, period_to: object) -> list[str]:
    """The months from ``period_from`` to ``period_to``, both included, or InputError."""
    check_period(period_from, "query", "from")
    check_period(period_to, "query", "to")
    first, last = parse_period(str(period_from)), parse_period(str(period_to))
    if last < first:
        raise InputError(Problem(f"'from' ({period_from}) is after 'to' ({period_to})", field=("query", "from"),
                                 suggestion="give the earlier month as from, the later as to"))
    if last - first + 1 > MAX_MONTHS:
        raise InputError(Problem(f"{last - first + 1} months asked: at most {MAX_MONTHS}", field=("query", "from"),
                                 suggestion=f"ask for a range of up to {MAX_MONTHS} months"))
    return [period_str(i) for i in range(first, last + 1)]


def year_before(period: str) -> str:
    return period_str(parse_period(period) - 12)


def from_store(conn: Connection, ruleset: RuleSet, period_from: str, period_to: str,
               scope: Scope = DISTRICT, top: int = TOP) -> dict:
    """The overview of stored months (``GET /v1/overview``, the page, ``overview`` without ``--data``)."""
    months = check_range(period_from, period_to)
    wanted = sorted(set(months) | {year_before(p) for p in months})
    found = overview_store.cells(conn, wanted, street=scope.street, branch_type=scope.branch_type)
    red = overview_store.red_rows(conn, months, street=scope.street, branch_type=scope.branch_type)
    return build(found, red, months, ruleset, scope, top)


def branch_list(conn: Connection, period: str, scope: Scope = DISTRICT) -> list[dict]:
    """The period's branches of the scope, red first, then yellow, then green, each by id: lamp, members,
    red members and the members' mean year's points (the overview page's list)."""
    out = []
    for r in overview_store.rows(conn, [period], street=scope.street, branch_type=scope.branch_type):
        out.append({"branch_id": r["branch_id"], "name": r["name"], "street": r["street"], "type": r["type"],
                    "lamp": r["lamp"], "members": r["members"], "members_red": r["members_red"],
                    "mean_points_ytd": clean_number(r["ytd_sum"] / r["ytd_n"]) if r["ytd_n"] else None})
    out.sort(key=lambda b: (-LAMP_ORDER.get(b["lamp"], -1), b["branch_id"]))
    return out


def from_rows(rows: Iterable[Mapping], months: Sequence[str], ruleset: RuleSet, scope: Scope = DISTRICT,
              top: int = TOP, names: Mapping[str, str] | None = None) -> dict:
    """The overview of ``branch_months`` rows held in memory (those of the scope are used)."""
    mine = [r for r in rows if (scope.street is None or r["street"] == scope.street)
            and (scope.branch_type is None or r["type"] == scope.branch_type)]
    red = [{"period": r["period"], "branch_id": r["branch_id"], "street": r["street"], "type": r["type"],
            "name": (names or {}).get(r["branch_id"], "")} for r in mine if r["lamp"] == "red" and r["period"] in months]
    return build(cells(mine), red, months, ruleset, scope, top)


def from_dataset(dataset: Dataset, ruleset: RuleSet, period_from: str, period_to: str, scope: Scope = DISTRICT,
                 top: int = TOP, progress: Callable[[str, int, int], None] | None = None) -> dict:
    """The overview of months diagnosed here, from a dataset (``overview --data``): every month of the
    range with data, and the months a year before them that have data too. ``progress(period, k, n)``
    is called after each month."""
    months = check_range(period_from, period_to)
    have = set(dataset.periods())
    wanted = sorted(have & (set(months) | {year_before(p) for p in months}))
    if not have & set(months):
        span = f"{min(have)} to {max(have)}" if have else "none"
        raise InputError(Problem(f"no data from {months[0]} to {months[-1]}", field=("from",),
                                 suggestion=f"periods in the data: {span}"))
    evaluator = make_evaluator(dataset, ruleset, "vectorized")
    profiles = dataset.branches[["name", "street", "type"]].to_dict("index")
    rows = []
    for k, period in enumerate(wanted, start=1):
        rows += month_rows(evaluator, period, profiles)
        if progress:
            progress(period, k, len(wanted))
    return from_rows(rows, months, ruleset, scope, top, {b: str(p["name"]) for b, p in profiles.items()})


def _rate(part: int, total: int) -> float | None:
    return round(part * 100.0 / total, 2) if total else None


def _counts(found: Iterable[Mapping]) -> dict:
    """Branches and members by lamp, and their rates, of cells."""
    n = red = yellow = members = m_red = m_yellow = 0
    for c in found:
        n, red, yellow = n + c["branches"], red + c["branches_red"], yellow + c["branches_yellow"]
        members, m_red, m_yellow = members + c["members"], m_red + c["members_red"], m_yellow + c["members_yellow"]
    return {
        "branches": {"total": n, "red": red, "yellow": yellow, "green": n - red - yellow,
                     "red_rate": _rate(red, n), "lamp_rate": _rate(red + yellow, n)},
        "members": {"total": members, "red": m_red, "yellow": m_yellow, "green": members - m_red - m_yellow,
                    "red_rate": _rate(m_red, members), "lamp_rate": _rate(m_red + m_yellow, members)},
    }


def _change(now: dict | None, before: dict | None) -> dict | None:
    """Per subject and rate: the change in percentage points and relative to ``before`` (percent)."""
    if not now or not before or not now["branches"]["total"] or not before["branches"]["total"]:
        return None
    out = {}
    for subject in ("branches", "members"):
        out[subject] = {}
        for rate in ("red_rate", "lamp_rate"):
            a, b = now[subject][rate], before[subject][rate]
            if a is None or b is None:
                out[subject][rate] = None
                continue
            out[subject][rate] = {"points": round(a - b, 2), "relative": round((a - b) * 100.0 / b, 1) if b else None}
    return out


def _red_streaks(months: Sequence[str], lamps: Mapping[str, str]) -> tuple[int, str | None, str | None, int]:
    """(longest run of red months, its first and last month, the run ending with the last month)."""
    best, best_end, run = 0, None, 0
    for p in months:
        run = run + 1 if lamps.get(p) == "red" else 0
        if run > best:
            best, best_end = run, p
    start = period_str(parse_period(best_end) - best + 1) if best_end else None
    return best, start, best_end, run


def build(found: Iterable[Mapping], red: Iterable[Mapping], months: Sequence[str], ruleset: RuleSet,
          scope: Scope = DISTRICT, top: int = TOP) -> dict:
    """The overview of ``months`` from cells (those of the months a year before as well, when known, for
    the year-on-year change) and the rows of the branches red in ``months``. Deterministic: every list
    has a stable order."""
    by_period: dict[str, list[dict]] = defaultdict(list)
    for c in found:
        by_period[c["period"]].append({**c, "weaknesses": _json(c["weaknesses"]), "findings": _json(c["findings"])})
    counts = {p: _counts(by_period[p]) for p in sorted(by_period)}
    diagnosed = [p for p in months if counts.get(p, {}).get("branches", {}).get("total")]
    first = diagnosed[0] if diagnosed else None
    out_months = []
    for p in months:
        entry = {"period": p, "diagnosed": p in diagnosed, **(counts.get(p) if p in diagnosed else _counts([]))}
        entry["change_vs_first"] = _change(counts.get(p), counts.get(first)) if first and p != first else None
        entry["change_vs_year_before"] = _change(counts.get(p), counts.get(year_before(p)))
        out_months.append(entry)
    last = diagnosed[-1] if diagnosed else None
    return {
        "from": months[0], "to": months[-1], "scope": scope.as_dict(), "months": out_months,
        "diagnosed": diagnosed, "last": last,
        "weaknesses": _top_weaknesses(by_period, diagnosed, last, ruleset, top),
        "findings": _top_findings(by_period, diagnosed, last, ruleset, top),
        "streets": _streets(by_period, diagnosed, first),
        "persistent_red": _persistent_red(red, months),
    }


def _json(value: str | Mapping) -> Mapping:
    return json.loads(value) if isinstance(value, str) else value


def _totals(by_period: Mapping[str, list[dict]], diagnosed: Sequence[str], last: str | None,
            key: str) -> tuple[Counter, Counter]:
    total: Counter = Counter()
    now: Counter = Counter()
    for p in diagnosed:
        for c in by_period[p]:
            total.update(c[key])
            if p == last:
                now.update(c[key])
    return total, now


def _top_weaknesses(by_period: Mapping[str, list[dict]], diagnosed: Sequence[str], last: str | None,
                    ruleset: RuleSet, top: int) -> list[dict]:
    total, now = _totals(by_period, diagnosed, last, "weaknesses")
    topics = ruleset.registry.topics
    out = []
    for topic, n in sorted(total.items(), key=lambda kv: (-now[kv[0]], -kv[1], kv[0]))[:top]:
        info = topics.get(topic)
        out.append({"topic": topic, "name_zh": info.name_zh if info else topic,
                    "name_en": info.name_en if info else topic, "branches_last": now[topic], "branch_months": n})
    return out


def _top_findings(by_period: Mapping[str, list[dict]], diagnosed: Sequence[str], last: str | None,
                  ruleset: RuleSet, top: int) -> list[dict]:
    total, now = _totals(by_period, diagnosed, last, "findings")
    out = []
    for rule_id, n in sorted(total.items(), key=lambda kv: (-now[kv[0]], -kv[1], kv[0]))[:top]:
        rule = ruleset.rule(rule_id)
        out.append({"rule": rule_id, "subject": rule.subject if rule else None,
                    "title_zh": rule.title("zh") if rule else rule_id, "title_en": rule.title("en") if rule else rule_id,
                    "count_last": now[rule_id], "count": n})
    return out


def _streets(by_period: Mapping[str, list[dict]], diagnosed: Sequence[str], first: str | None) -> list[dict]:
    per_street: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for p in diagnosed:
        for c in by_period[p]:
            per_street[c["street"]][p].append(c)
    out = []
    for street in sorted(per_street):
        per = {p: _counts(per_street[street].get(p, ())) for p in diagnosed}
        last = per[diagnosed[-1]]
        months = [{"period": p, "branches": per[p]["branches"]["total"], "members": per[p]["members"]["total"],
                   "branch_red_rate": per[p]["branches"]["red_rate"],
                   "branch_lamp_rate": per[p]["branches"]["lamp_rate"],
                   "member_red_rate": per[p]["members"]["red_rate"],
                   "member_lamp_rate": per[p]["members"]["lamp_rate"]} for p in diagnosed]
        out.append({"street": street, "branches": last["branches"]["total"], "members": last["members"]["total"],
                    "last": last, "months": months,
                    "change_vs_first": _change(last, per[first]) if first and len(diagnosed) > 1 else None})
    return out


def _persistent_red(red: Iterable[Mapping], months: Sequence[str]) -> list[dict]:
    lamps: dict[str, dict[str, str]] = defaultdict(dict)
    info: dict[str, Mapping] = {}
    for r in sorted(red, key=lambda r: (r["period"], r["branch_id"])):
        lamps[r["branch_id"]][r["period"]] = "red"
        info[r["branch_id"]] = r  # the last month's street and type
    out = []
    for branch_id in sorted(lamps):
        longest, start, end, current = _red_streaks(months, lamps[branch_id])
        if longest < 2:
            continue
        r = info[branch_id]
        out.append({"branch_id": branch_id, "name": r["name"], "street": r["street"], "type": r["type"],
                    "months": longest, "from": start, "to": end, "red_months_now": current,
                    "red_months": len(lamps[branch_id])})
    out.sort(key=lambda b: (-b["red_months_now"], -b["months"], b["branch_id"]))
    return out


__all__ = ["MAX_MONTHS", "branch_list", "branch_month_row", "branch_month_rows", "build", "cells", "check_range", "from_dataset",
           "from_rows", "from_store", "keep_branch", "year_before"]
