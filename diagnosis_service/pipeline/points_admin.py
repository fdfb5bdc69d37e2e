"""Vanguard-point weights (锋领指数, ``points.yaml``): read, check, preview and publish them.

The weights belong to the rule set: a change is a new rule-set version (``points.yaml`` among its
files), so it is versioned, audited and rolled back with the rules (``/v1/rules/versions``), and every
stored result names the rule-set digest that computed its points. A version stored before the weights
were versioned has no ``points.yaml``: the deployment's file serves it, and the first publish stores one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import Engine

from ..errors import Conflict, InputError, Problem
from ..rules import POINTS_FILE
from ..rules.yamlsafe import MAX_FILE_BYTES
from .publish import check_files, month_under, publish_rules, unified_diff
from .snapshot import Snapshot

TOP = 20


def active_text(snapshot: Snapshot, rules_dir: Path) -> str:
    """The active weights file: the version's own, or the deployment's for a version without one."""
    text = snapshot.files.get(POINTS_FILE)
    return text if text is not None else (Path(rules_dir) / POINTS_FILE).read_text(encoding="utf-8")


def active_json(snapshot: Snapshot, rules_dir: Path) -> dict:
    """GET /v1/points: the weights of the active rule-set version, as a table and as its file."""
    registry = snapshot.ruleset.registry
    weights = []
    for indicator, weight in snapshot.ruleset.points.items():
        ind = registry.get("member", indicator)
        weights.append({"indicator": indicator, "weight": weight, "name_zh": ind.name_zh if ind else None,
                        "name_en": ind.name_en if ind else None, "unit": ind.unit if ind else None})
    return {"version": snapshot.version, "digest": snapshot.digest, "weights": weights,
            "stored": POINTS_FILE in snapshot.files, "file": active_text(snapshot, rules_dir)}


def _files(snapshot: Snapshot, rules_dir: Path, text: object, tests: object = None) -> dict[str, str]:
    """The active version's files with these weights and, when given, changed rule tests (a weight
    changes what a test pinning an example's points expects)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(Problem("the weights file must be YAML text (points.yaml)", field=("file",),
                                 suggestion="GET /v1/points gives the active one to edit"))
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise InputError(Problem(f"the weights file is over the limit of {MAX_FILE_BYTES} bytes", file=POINTS_FILE))
    files = dict(snapshot.files)
    files[POINTS_FILE] = text
    if tests is not None:
        if not isinstance(tests, dict) or not all(isinstance(k, str) and k.startswith("tests/") and isinstance(v, str)
                                                  for k, v in tests.items()):
            raise InputError(Problem("tests must be an object of rule test file name (tests/NAME.yaml) -> YAML text",
                                     field=("tests",)))
        files.update(tests)
    return files


def validate(snapshot: Snapshot, rules_dir: Path, text: object, tests: object = None) -> list[Problem]:
    """Every problem of the rule set with these weights (the rule tests included: a test may expect
    points), located in ``points.yaml`` by line and column."""
    return [_hint(p) for p in check_files(rules_dir, _files(snapshot, rules_dir, text, tests))[1]]


def _hint(p: Problem) -> Problem:
    if not p.message.startswith("rule test ") or p.suggestion:
        return p
    return Problem(p.message, file=p.file, line=p.line, column=p.column, rule_id=p.rule_id,
                   suggestion="the weights change what this rule test expects: send the test updated with them "
                              '("tests": {"tests/NAME.yaml": "..."}): the district\'s contract changes with them')


def publish(snapshot: Snapshot, rules_dir: Path, engine: Engine, text: object, comment: object, author: str,
            base_version: object = None, tests: object = None) -> tuple[int, dict[str, str], dict]:
    """PUT /v1/points: a new rule-set version with these weights (and the rule tests sent with them),
    refused whole on any problem."""
    files = _files(snapshot, rules_dir, text, tests)
    changed = {k: v for k, v in files.items() if snapshot.files.get(k) != v}
    if (not changed or snapshot.files.get(POINTS_FILE) is None and text == active_text(snapshot, rules_dir)
            and not tests):
        raise Conflict(Problem("no change: the weights equal the active ones", field=("file",)))
    try:
        return publish_rules(snapshot, rules_dir, engine, changed, comment, author, base_version)
    except InputError as exc:
        raise InputError([_hint(p) for p in exc.problems]) from None


def preview(snapshot: Snapshot, rules_dir: Path, engine: Engine, text: object, period: object,
            limit: int = TOP) -> dict:
    """How a month's rankings would move under these weights: every member's points and rank (the year's
    points, as rankings order them by default; ties ranked alike) now and then, the members and branches
    that move most, and lamps that change where a rule reads the points."""
    files = _files(snapshot, rules_dir, text)
    candidate, before, after = month_under(snapshot, rules_dir, engine, files, period)
    members = [(old.id, old.branch_id, _num(old.vanguard_points), _num(new.vanguard_points),
                _num(old.vanguard_points_ytd), _num(new.vanguard_points_ytd), old.lamp != new.lamp)
               for old, new in zip(before.members, after.members, strict=True)]
    rank_before = _ranks({m[0]: m[4] for m in members})
    rank_after = _ranks({m[0]: m[5] for m in members})
    moves = [{"member_id": mid, "branch_id": bid, "points": {"before": pb, "after": pa},
              "points_ytd": {"before": yb, "after": ya}, "rank": {"before": rank_before[mid], "after": rank_after[mid]}}
             for mid, bid, pb, pa, yb, ya, _ in members]
    moved = [m for m in moves if m["rank"]["before"] != m["rank"]["after"]]
    moved.sort(key=lambda m: (-abs(m["rank"]["before"] - m["rank"]["after"]), m["member_id"]))
    branches = _branch_moves(members)
    lamps = sum(m[6] for m in members) + sum(o.lamp != n.lamp for o, n in zip(before.branches, after.branches,
                                                                              strict=True))
    return {
        "period": period, "active_version": snapshot.version, "candidate_digest": candidate.version,
        "weights": _weight_changes(snapshot.ruleset.points, candidate.points),
        "members": len(members), "members_points_changed": sum(m[2] != m[3] for m in members),
        "members_rank_moved": len(moved), "lamps_changed": lamps,
        "top_before": _top(moves, "before", limit), "top_after": _top(moves, "after", limit),
        "largest_moves": moved[:limit], "branches": branches[:limit],
        "branches_rank_moved": sum(b["rank"]["before"] != b["rank"]["after"] for b in branches),
        "diff": unified_diff({POINTS_FILE: active_text(snapshot, rules_dir)}, {POINTS_FILE: files[POINTS_FILE]}),
    }


def _num(value: float | None) -> float:
    return round(float(value), 6) if value is not None else 0.0


def _ranks(points: Mapping[str, float]) -> dict[str, int]:
    """Highest first, ties by id and ranked alike (1, 2, 2, 4), as rankings rank them."""
    out, rank, last = {}, 0, None
    for k, (mid, p) in enumerate(sorted(points.items(), key=lambda kv: (-kv[1], kv[0])), start=1):
        if p != last:
            rank, last = k, p
        out[mid] = rank
    return out


def _top(moves: list[dict], when: str, limit: int) -> list[dict]:
    ranked = sorted(moves, key=lambda m: (m["rank"][when], m["member_id"]))[:limit]
    return [{"member_id": m["member_id"], "branch_id": m["branch_id"], "rank": m["rank"][when],
             "points_ytd": m["points_ytd"][when]} for m in ranked]


def _branch_moves(members: list[tuple]) -> list[dict]:
    """Branches by their members' mean year's points, before and after, the largest moves first."""
    sums: dict[str, list[float]] = {}
    for _, bid, _, _, yb, ya, _ in members:
        acc = sums.setdefault(bid, [0.0, 0.0, 0])
        acc[0] += yb
        acc[1] += ya
        acc[2] += 1
    means = {b: (round(s[0] / s[2], 4), round(s[1] / s[2], 4)) for b, s in sums.items()}
    rb = _ranks({b: m[0] for b, m in means.items()})
    ra = _ranks({b: m[1] for b, m in means.items()})
    out = [{"branch_id": b, "mean_points_ytd": {"before": m[0], "after": m[1]}, "rank": {"before": rb[b], "after": ra[b]}}
           for b, m in means.items()]
    out.sort(key=lambda b: (-abs(b["rank"]["before"] - b["rank"]["after"]), b["branch_id"]))
    return out


def _weight_changes(old: Mapping[str, float], new: Mapping[str, float]) -> list[dict]:
    return [{"indicator": k, "before": old.get(k), "after": new.get(k)}
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


__all__ = ["active_json", "active_text", "preview", "publish", "validate"]
