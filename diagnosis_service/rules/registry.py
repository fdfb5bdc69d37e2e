"""Parse and validate the indicator registry (indicators.yaml) and the points file (points.yaml)."""

from __future__ import annotations

import math
from typing import Any

from ..errors import Problem, did_you_mean
from .model import OP_ALIASES, SUBJECTS, UNIT_RANGES, Indicator, Named, Registry
from .parse_common import ID_RE, format_version, is_number, unknown_keys
from .yamlsafe import Located

DERIVATIONS = ("sum", "run", "points", "year_to_date", "window", "remaining_months", "day_of_month",
               "days_left_in_month", "per_members", "member_share", "member_mean")
WINDOWS = ("quarter", "year")  # calendar windows: what "once a quarter" and "once a year" mean
WINDOW_AGGS = ("sum", "max", "count_nonzero")


# --------------------------------------------------------------------------------------------- registry

MAX_RANGE = 1e12  # what a float column, durable_rules and JSON all hold exactly enough


def parse_registry(doc: Located, problems: list[Problem]) -> Registry:
    data = doc.data
    if not isinstance(data, dict):
        problems.append(doc.problem((), "the indicator registry must be a mapping with 'branch' and 'member'"))
        return Registry({"branch": {}, "member": {}}, {}, {})
    unknown_keys(doc, (), data, ("version", "branch", "member", "topics", "branch_types", "size_bands"), problems,
                  "the indicator registry")
    format_version(doc, data, problems, "the indicator registry")
    bands = data.get("size_bands", [10, 30])
    if (not isinstance(bands, list) or not bands or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0
                                                            for b in bands) or sorted(set(bands)) != bands):
        problems.append(doc.problem(("size_bands",), f"size_bands must be increasing whole numbers > 0, got {bands!r}",
                                    suggestion="e.g. [10, 30]: fewer than 10 members, 10 to 29, 30 and more"))
        bands = [10, 30]
    topics = _parse_named(doc, data, "topics", problems)
    types = _parse_named(doc, data, "branch_types", problems)
    indicators: dict[str, dict[str, Indicator]] = {}
    for subject in SUBJECTS:
        table: dict[str, Indicator] = {}
        items = data.get(subject)
        if not isinstance(items, list):
            problems.append(doc.problem((subject,), f"'{subject}' must be a list of indicators"))
            indicators[subject] = table
            continue
        for i, item in enumerate(items):
            ind = _parse_indicator(doc, (subject, i), item, subject, problems)
            if ind is None:
                continue
            if ind.id in table:
                problems.append(doc.problem((subject, i, "id"), f"duplicate indicator id '{ind.id}'"))
            table[ind.id] = ind
        indicators[subject] = table
    registry = Registry(indicators, topics, types, tuple(bands))
    _check_derivations(doc, registry, problems)
    return registry


def _parse_named(doc: Located, data: dict, key: str, problems: list[Problem]) -> dict[str, Named]:
    out: dict[str, Named] = {}
    items = data.get(key)
    if not isinstance(items, list) or not items:
        problems.append(doc.problem((key,), f"'{key}' must be a non-empty list of {{id, zh, en}}"))
        return out
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("id", "zh", "en")):
            problems.append(doc.problem((key, i), f"each entry of '{key}' needs id, zh and en"))
            continue
        out[item["id"]] = Named(item["id"], item["zh"], item["en"])
    return out


def _parse_indicator(doc: Located, path: tuple, item: Any, subject: str,
                     problems: list[Problem]) -> Indicator | None:
    if not isinstance(item, dict):
        problems.append(doc.problem(path, "an indicator must be a mapping with id, zh, en, unit"))
        return None
    unknown_keys(doc, path, item, ("id", "zh", "en", "unit", "range", "derived", "norm"), problems,
                  "an indicator")
    ind_id = item.get("id")
    if not isinstance(ind_id, str) or not ID_RE.fullmatch(ind_id):
        problems.append(doc.problem(path + ("id",), f"bad indicator id {ind_id!r}",
                                    suggestion="lower-case letters, digits and _"))
        return None
    ok = True
    for key in ("zh", "en"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            problems.append(doc.problem(path + (key,), f"indicator {ind_id}: '{key}' name is required"))
            ok = False
    unit = item.get("unit")
    if unit not in UNIT_RANGES:
        problems.append(doc.problem(path + ("unit",), f"indicator {ind_id}: unknown unit {unit!r}",
                                    suggestion="one of " + ", ".join(UNIT_RANGES)))
        return None
    lo, hi, integer = UNIT_RANGES[unit]
    if "range" in item:
        rng = item["range"]
        if (not isinstance(rng, list) or len(rng) != 2 or not all(is_number(x) and math.isfinite(x) for x in rng)
                or not rng[0] <= rng[1] or max(abs(rng[0]), abs(rng[1])) > MAX_RANGE):
            problems.append(doc.problem(path + ("range",), f"indicator {ind_id}: range must be [min, max], two "
                                        f"finite numbers with min <= max, within ±{MAX_RANGE:g}"))
            ok = False
        else:
            lo, hi = rng
    derived = item.get("derived")
    if derived is not None and (not isinstance(derived, dict) or len(derived) != 1
                                or next(iter(derived)) not in DERIVATIONS):
        problems.append(doc.problem(path + ("derived",), f"indicator {ind_id}: unknown derivation",
                                    suggestion="one of " + ", ".join(DERIVATIONS)))
        ok = False
    if not ok:
        return None
    return Indicator(ind_id, subject, item["zh"], item["en"], unit, lo, hi, integer, derived,
                     item.get("norm"))


def _check_derivations(doc: Located, registry: Registry, problems: list[Problem]) -> None:
    # Derivations name other indicators; a typo here would silently produce empty columns.
    # An indicator written in the file that did not parse has its own problem told: not again here.
    written = {subject: {it.get("id") for it in doc.data.get(subject) or [] if isinstance(it, dict)}
               for subject in registry.indicators}
    for subject, table in registry.indicators.items():
        items = doc.data.get(subject) or []
        index = {it.get("id"): i for i, it in enumerate(items) if isinstance(it, dict)}
        for ind in table.values():
            if ind.derived is None:
                continue
            kind, arg = next(iter(ind.derived.items()))
            path = (subject, index.get(ind.id, 0), "derived", kind)
            names: list[tuple[str, str]] = []
            if kind == "sum":
                names = [(subject, n) for n in arg] if isinstance(arg, list) else [(subject, "")]
            elif kind == "run":
                if not isinstance(arg, dict) or arg.get("op") not in OP_ALIASES or not is_number(arg.get("value")):
                    problems.append(doc.problem(path, f"indicator {ind.id}: run needs indicator, op and value"))
                    continue
                names = [(subject, arg.get("indicator"))]
            elif kind == "year_to_date":
                names = [(subject, arg)]
            elif kind == "window":
                if not isinstance(arg, dict) or set(arg) != {"indicator", "period", "agg"}:
                    problems.append(doc.problem(path, f"indicator {ind.id}: window needs indicator, period and agg",
                                                suggestion="e.g. {indicator: member_assemblies, period: quarter, "
                                                           "agg: sum}"))
                    continue
                for key, allowed in (("period", WINDOWS), ("agg", WINDOW_AGGS)):
                    if arg[key] not in allowed:
                        problems.append(doc.problem(path + (key,), f"indicator {ind.id}: window {key} must be one "
                                                    f"of {', '.join(allowed)}, got {arg[key]!r}",
                                                    suggestion=did_you_mean(str(arg[key]), allowed)))
                names = [(subject, arg["indicator"])]
            elif kind == "per_members":
                if subject != "branch" or not isinstance(arg, dict) or set(arg) != {"indicator", "per"} \
                        or not is_number(arg["per"]) or arg["per"] <= 0:
                    problems.append(doc.problem(path, f"indicator {ind.id}: per_members is a branch indicator with "
                                                      "indicator and per (a number > 0)",
                                                suggestion="e.g. {indicator: activists_in_training, per: 10}"))
                    continue
                names = [(subject, arg["indicator"])]
            elif kind in ("day_of_month", "days_left_in_month") and arg is not True:
                problems.append(doc.problem(path, f"indicator {ind.id}: write {kind}: true"))
            elif kind == "remaining_months" and arg not in WINDOWS:
                problems.append(doc.problem(path, f"indicator {ind.id}: remaining_months must be one of "
                                            f"{', '.join(WINDOWS)}, got {arg!r}", suggestion=did_you_mean(str(arg), WINDOWS)))
            elif kind == "member_mean":
                names = [("member", arg)]
            elif kind == "member_share" and (not isinstance(arg, dict) or arg.get("lamp") not in ("red", "yellow")):
                problems.append(doc.problem(path, f"indicator {ind.id}: member_share needs lamp: red|yellow"))
            for subj, name in names:
                source = registry.get(subj, name) if isinstance(name, str) else None
                if source is None and name in written.get(subj, ()):
                    continue
                if source is None:
                    problems.append(doc.problem(path, f"indicator {ind.id}: derivation names unknown "
                                                      f"{subj} indicator {name!r}",
                                                suggestion=did_you_mean(str(name), registry.indicators[subj])))
                elif kind != "member_mean" and member_based(source):
                    # Computed per period from the members' lamps, after a subject's own rows: nothing
                    # of the subject's own can be derived from it.
                    problems.append(doc.problem(path, f"indicator {ind.id}: {kind} cannot use '{name}', which is "
                                                      "computed from the members' results",
                                                suggestion="compare with it directly in a rule"))
            cycle = _cycle(registry, subject, ind.id)
            if cycle:
                problems.append(doc.problem(path, f"indicator {ind.id}: derived indicators form a cycle: "
                                                  f"{' -> '.join(cycle)}"))


MEMBER_BASED = ("member_share", "member_mean")


def member_based(ind: Indicator) -> bool:
    """Whether an indicator is derived from a branch's members' results (not from its own rows)."""
    return ind.derived is not None and next(iter(ind.derived)) in MEMBER_BASED


def sources(ind: Indicator) -> list[str]:
    """The indicators of the same subject a derived indicator is computed from."""
    if ind.derived is None:
        return []
    kind, arg = next(iter(ind.derived.items()))
    if kind == "sum" and isinstance(arg, list):
        return [a for a in arg if isinstance(a, str)]
    if kind in ("run", "window", "per_members") and isinstance(arg, dict) and isinstance(arg.get("indicator"), str):
        return [arg["indicator"]]
    if kind == "year_to_date" and isinstance(arg, str):
        return [arg]
    return []


def _cycle(registry: Registry, subject: str, start: str) -> list[str]:
    """A path of derivations from ``start`` back to itself, or [] (a bounded walk: the registry is small)."""
    def walk(name: str, path: list[str]) -> list[str]:
        ind = registry.get(subject, name)
        for dep in sources(ind) if ind else []:
            if dep == start:
                return path + [dep]
            if dep not in path and len(path) < 64:
                found = walk(dep, path + [dep])
                if found:
                    return found
        return []

    return walk(start, [start])


# --------------------------------------------------------------------------------------------- points

def parse_points(doc: Located, registry: Registry, problems: list[Problem]) -> dict[str, float]:
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("points"), dict):
        problems.append(doc.problem((), "the points file must have a 'points' mapping of member indicator -> weight"))
        return {}
    unknown_keys(doc, (), data, ("version", "points"), problems, "the points file")
    format_version(doc, data, problems, "the points file")
    out: dict[str, float] = {}
    for name, spec in data["points"].items():
        path = ("points", name)
        ind = registry.get("member", name)
        if ind is None or not ind.reported:
            problems.append(doc.problem(path, f"'{name}' is not a reported member indicator", key=True,
                                        suggestion=did_you_mean(name, [i.id for i in registry.reported("member")])))
            continue
        weight = spec.get("weight") if isinstance(spec, dict) else spec
        if not is_number(weight) or weight < 0:
            problems.append(doc.problem(path, f"weight of '{name}' must be a number >= 0, got {weight!r}"))
            continue
        out[name] = float(weight)
    return out


