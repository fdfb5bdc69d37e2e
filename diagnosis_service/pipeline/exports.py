"""The monthly circular (通报) as workbooks: a period's stored results in a scope (the district, a street,
a branch type), gathered as records and written as .xlsx (``reports.circular`` names the sheets and
headers, ``reports.xlsx`` writes them).

Kinds: ``branch-lamps`` (every branch with its lamp, weaknesses and reasons), ``member-lamps`` (every
member of the scope: lamp, points and reasons; a member without data that month is listed as such),
``rankings`` (members by the year's points, branches by their members' mean), ``weaknesses`` (per
street, how many branches have each weakness), ``dues`` (the members to remind of their party dues),
and ``circular``: all of them in one workbook, after a sheet of figures.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable

from sqlalchemy.engine import Connection

from ..engine.findings import clean_number
from ..errors import NotFound, Problem
from ..periods import check_period
from ..reports.circular import sheets
from ..reports.labels import with_street_names
from ..reports.xlsx import workbook_bytes
from ..rules.model import RuleSet
from ..store import metrics as metrics_store
from ..store import overview as overview_store
from ..store import rankings as rankings_store
from ..store import results as results_store
from . import rankings
from .rankings import DISTRICT, Scope

KINDS = ("circular", "branch-lamps", "member-lamps", "rankings", "weaknesses", "dues")
DUES_TOPIC = "dues"
_PARTS = {"circular": ("branches", "members", "rankings", "weaknesses", "dues"), "branch-lamps": ("branches",),
          "member-lamps": ("members",), "rankings": ("rankings",), "weaknesses": ("weaknesses",), "dues": ("dues",)}


def records(conn: Connection, ruleset: RuleSet, period: str, kind: str = "circular", scope: Scope = DISTRICT) -> dict:
    """What the workbook of ``kind`` shows, as plain records (every list in a stable order)."""
    check_period(period, "query", "period")
    if kind not in KINDS:
        raise NotFound(Problem(f"no export '{kind}'", field=("kind",), suggestion="kinds: " + ", ".join(KINDS)))
    run = results_store.latest_run(conn, period)
    if run is None:
        raise NotFound(Problem(f"period {period} has not been diagnosed", field=("query", "period"),
                               suggestion="POST /v1/diagnoses (or diagnosis-service diagnose) first"))
    branch_rows, member_rows = metrics_store.profiles(conn)
    info = {b: {"name": n, "type": t, "street": s} for b, n, t, s in branch_rows
            if (scope.street is None or s == scope.street) and (scope.branch_type is None or t == scope.branch_type)}
    out: dict = {"period": period, "scope": scope.as_dict(), "kind": kind, "stamp": run["created_at"],
                 "ruleset_version": run["ruleset_version"]}
    parts = _PARTS[kind]
    member_results = None
    if "members" in parts or "dues" in parts:
        member_results = {sid: (branch_id, lamp, points, ytd, json.loads(body)) for sid, branch_id, lamp, points, ytd, body
                          in results_store.period_rows(conn, period, "member", street=scope.street,
                                                       branch_type=scope.branch_type)}
    if "branches" in parts:
        out["branches"] = _branches(conn, period, scope, info)
    if "members" in parts:
        out["members"] = _members(member_rows, info, member_results)
    if "rankings" in parts:
        _, ranked = rankings_store.member_ranking(conn, period, "ytd", limit=10_000_000, **scope.store_args())
        out["member_ranking"] = [{**r, "street": info.get(r["branch_id"], {}).get("street", ""),
                                  "vanguard_points": clean_number(r["vanguard_points"]),
                                  "vanguard_points_ytd": clean_number(r["vanguard_points_ytd"])} for r in ranked]
        out["branch_ranking"] = rankings.branch_ranking(conn, period, "ytd", scope, limit=10_000_000)["ranking"]
    if "weaknesses" in parts:
        out["weaknesses"] = _weaknesses(conn, period, scope, ruleset)
    if "dues" in parts:
        out["dues"] = _dues(member_results, member_rows, info)
    return out


def _branches(conn: Connection, period: str, scope: Scope, info: dict) -> list[dict]:
    months = {r["branch_id"]: r for r in overview_store.rows(conn, [period], street=scope.street,
                                                            branch_type=scope.branch_type)}
    out = []
    for sid, _, lamp, _, _, body in results_store.period_rows(conn, period, "branch", street=scope.street,
                                                               branch_type=scope.branch_type):
        data = json.loads(body)
        m = months.get(sid, {})
        out.append({"branch_id": sid, **info.get(sid, {"name": "", "type": "", "street": ""}), "lamp": lamp,
                    "weaknesses": data.get("weaknesses", []), "findings": _problems(data),
                    "members": m.get("members", 0), "members_red": m.get("members_red", 0),
                    "members_yellow": m.get("members_yellow", 0),
                    "mean_points_ytd": clean_number(m["ytd_sum"] / m["ytd_n"]) if m.get("ytd_n") else None})
    out.sort(key=lambda b: b["branch_id"])
    return out


def _problems(data: dict) -> list[dict]:
    """A result's findings but its reminders: the reasons of a lamp and of weaknesses."""
    return [f for f in data.get("findings", []) if f.get("severity") != "reminder"]


def _members(member_rows: list[tuple], info: dict, results: dict) -> list[dict]:
    out = []
    for member_id, branch_id, name in sorted(member_rows):
        if branch_id not in info:
            continue
        found = results.get(member_id)
        b = info[branch_id]
        row = {"member_id": member_id, "name": name, "branch_id": branch_id, "branch_name": b["name"],
               "street": b["street"], "lamp": None, "vanguard_points": None, "vanguard_points_ytd": None,
               "findings": []}
        if found is not None:
            _, lamp, points, ytd, data = found
            row.update(lamp=lamp, vanguard_points=clean_number(points), vanguard_points_ytd=clean_number(ytd),
                       findings=_problems(data))
        out.append(row)
    return out


def _weaknesses(conn: Connection, period: str, scope: Scope, ruleset: RuleSet) -> dict:
    """Per street: branches diagnosed, and how many have each weakness (topics in the registry's order)."""
    per_street: dict[str, Counter] = defaultdict(Counter)
    branches: Counter = Counter()
    for r in overview_store.rows(conn, [period], street=scope.street, branch_type=scope.branch_type):
        branches[r["street"]] += 1
        per_street[r["street"]].update(json.loads(r["weaknesses"]))
    seen = {t for c in per_street.values() for t in c}
    topics = [t for t in ruleset.registry.topics if t in seen] + sorted(seen - set(ruleset.registry.topics))
    names = {t: ((ruleset.registry.topics[t].name_zh, ruleset.registry.topics[t].name_en)
                 if t in ruleset.registry.topics else (t, t)) for t in topics}
    rows = [{"street": s, "branches": branches[s], "counts": [per_street[s][t] for t in topics]}
            for s in sorted(branches)]
    return {"topics": [{"topic": t, "name_zh": names[t][0], "name_en": names[t][1]} for t in topics], "rows": rows}


def _dues(results: dict, member_rows: list[tuple], info: dict) -> list[dict]:
    names = {m: (b, n) for m, b, n in member_rows}
    out = []
    for member_id in sorted(results):
        branch_id, lamp, _, _, data = results[member_id]
        dues = [f for f in data.get("findings", []) if f.get("topic") == DUES_TOPIC]
        if not dues:
            continue
        b = info.get(branch_id, {"name": "", "street": ""})
        out.append({"member_id": member_id, "name": names.get(member_id, ("", ""))[1], "branch_id": branch_id,
                    "branch_name": b["name"], "street": b["street"], "lamp": lamp, "findings": dues})
    return out


def workbook(conn: Connection, ruleset: RuleSet, period: str, kind: str = "circular", scope: Scope = DISTRICT,
             lang: str = "zh", street_name: Callable[[str], str | None] | None = None) -> bytes:
    """The .xlsx of ``kind`` for ``period`` in ``scope`` (byte-identical for the same stored results and,
    in English, the same catalog); ``street_name``: how streets are shown (the catalog's English names in
    an English workbook)."""
    data = with_street_names(records(conn, ruleset, period, kind, scope), street_name)
    return workbook_bytes(sheets(data, ruleset.registry, lang), data["stamp"], title=f"{kind} {period}")


__all__ = ["KINDS", "records", "workbook"]
