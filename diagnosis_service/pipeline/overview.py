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

from sqlalchemy.engine import Connection

from ..data.model import Dataset
from ..engine import make_evaluator
from ..engine.findings import clean_number
from ..errors import InputError, Problem
from ..periods import check_period, parse_period, period_str
from ..rules.model import RuleSet
from ..store import overview as overview_store
from .overview_rows import branch_month_row, branch_month_rows, month_rows
from .rankings import DISTRICT, LAMP_ORDER, Scope

MAX_MONTHS = 60
TOP = 10  # weaknesses and findings listed, unless asked otherwise
LAMPS = ("red", "yellow", "green")


# -- cells: the rows kept per branch (``overview_rows``) added up per street and type, for each period ---

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
