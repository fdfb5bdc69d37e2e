"""Preview a catalog change: how one diagnosed month's prescriptions would change under it.

Every branch diagnosed in the period is prescribed for twice, with the active catalog and with the
candidate, by the same ranker and with the same history (what was served in the months before), so the
difference is the catalog's alone. The answer counts, per topic and per branch type, the resources that
would be gained and lost in the branches' lists, and the weaknesses that would be left without a remedy.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping

from sqlalchemy.engine import Engine

from ..engine.findings import SubjectResult
from ..errors import InputError, NotFound, Problem
from ..periods import check_period, months_before, parse_period
from ..remedies.catalog import Catalog
from ..remedies.history import History
from ..remedies.prescribe import DEFAULT_REPEAT_MONTHS, Choice, Prescriber
from ..remedies.ranking import REPEAT_WINDOW
from ..rules.model import Registry
from ..store import metrics as metrics_store
from ..store import results as results_store
from ..store import served as served_store
from .catalog_admin import check
from .publish import merged_files, unified_diff
from .snapshot import Snapshot

TOP = 20  # resources listed per group (the counts cover them all)


def preview(snapshot: Snapshot, active_files: Mapping[str, str], registry: Registry, engine: Engine,
            changes: object, period: object, limit: int = 200) -> dict:
    """POST /v1/catalog/preview: the active catalog with ``changes`` applied, prescribed for every branch
    diagnosed in ``period`` beside the active one (nothing is stored or served)."""
    check_period(period, "period")
    files = merged_files(active_files, changes)
    candidate, problems = check(files, registry)
    if candidate is None:
        raise InputError(problems)
    with engine.connect() as conn:
        rows = results_store.period_rows(conn, period, "branch")
        if not rows:
            raise NotFound(Problem(f"no diagnosis stored for period {period}", field=("period",),
                                   suggestion="POST /v1/diagnoses for the period first"))
        streets = {b[0]: b[3] for b in metrics_store.profiles(conn)[0]}
        sizes = results_store.member_counts(conn, period)
        history = History()  # as POST /v1/prescriptions reads it (history_for): what the ranker is told too
        periods = months_before(period, max(DEFAULT_REPEAT_MONTHS, REPEAT_WINDOW), include=False)
        for branch_id, served_period, topic, resource_id, first, _list_id in served_store.served_during(conn, periods):
            history.add(branch_id, served_period, topic, resource_id, first=first)
        for branch_id, served_period, resource_id in served_store.adopted_in(conn, periods):
            history.add_adopted(branch_id, parse_period(served_period), resource_id)
    active = snapshot.prescriber()
    after = Prescriber(candidate, snapshot.ruleset, snapshot.ranker)
    tally = _Tally(active.catalog, candidate)
    for branch_id, *_, body in sorted(rows):
        result = SubjectResult.from_dict(json.loads(body))
        if not result.weaknesses:
            continue
        street, size = streets.get(branch_id), sizes.get(branch_id, 0)
        tally.add(result, active.for_branch(result, street, history, size),
                  after.for_branch(result, street, history, size), limit)
    return {"period": period, "active_version": snapshot.catalog_version, "candidate_digest": candidate.version,
            **tally.answer(), "truncated": tally.branches_changed > len(tally.changed), "changed": tally.changed,
            "diff": unified_diff(active_files, files)}


class _Tally:
    def __init__(self, old: Catalog, new: Catalog):
        self.catalogs = (old, new)
        self.branches = self.weaknesses = self.branches_changed = 0
        self.items = [0, 0]
        self.unremedied = [0, 0]
        self.groups: dict[tuple[str, str], dict] = defaultdict(
            lambda: {"weaknesses": 0, "before": 0, "after": 0, "gained": Counter(), "lost": Counter(),
                     "without_remedy_before": 0, "without_remedy_after": 0})
        self.left_without: list[dict] = []
        self.changed: list[dict] = []

    def add(self, result: SubjectResult, before: list[Choice], after: list[Choice], limit: int) -> None:
        self.branches += 1
        branch_changed = False
        gained_here: list[str] = []
        lost_here: list[str] = []
        for old, new in zip(before, after, strict=True):
            self.weaknesses += 1
            ids = [[p.resource_id for p in c.prescriptions] for c in (old, new)]
            gained = [r for r in ids[1] if r not in ids[0]]
            lost = [r for r in ids[0] if r not in ids[1]]
            for key in (("topic", old.need.topic), ("branch_type", old.need.branch_type)):
                group = self.groups[key]
                group["weaknesses"] += 1
                group["before"] += len(ids[0])
                group["after"] += len(ids[1])
                group["gained"].update(gained)
                group["lost"].update(lost)
                group["without_remedy_before"] += not ids[0]
                group["without_remedy_after"] += not ids[1]
            for k in (0, 1):
                self.items[k] += len(ids[k])
                self.unremedied[k] += not ids[k]
            if not ids[1] and len(self.left_without) < limit:
                self.left_without.append({"branch_id": result.id, "topic": new.need.topic, "rule": new.need.rule,
                                          "severity": new.need.severity, "had_before": ids[0]})
            if ids[0] != ids[1]:
                branch_changed = True
                gained_here += gained
                lost_here += lost
        if branch_changed:
            self.branches_changed += 1
            if len(self.changed) < limit:
                self.changed.append({"branch_id": result.id, "branch_type": result.branch_type,
                                     "gained": gained_here, "lost": lost_here})

    def _resources(self, counts: Counter, which: int) -> list[dict]:
        out = []
        for resource_id, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]:
            r = self.catalogs[which].get(resource_id)
            out.append({"resource_id": resource_id, "kind": r.kind if r else None,
                        "title_zh": r.title_zh if r else None, "title_en": r.title_en if r else None,
                        "branches": n})
        return out

    def _group(self, field: str) -> list[dict]:
        out = []
        for (kind, name), g in sorted(self.groups.items()):
            if kind != field:
                continue
            out.append({field: name, "weaknesses": g["weaknesses"],
                        "prescriptions": {"before": g["before"], "after": g["after"]},
                        "without_remedy": {"before": g["without_remedy_before"], "after": g["without_remedy_after"]},
                        "gained": self._resources(g["gained"], 1), "lost": self._resources(g["lost"], 0)})
        return out

    def answer(self) -> dict:
        gained, lost = Counter(), Counter()
        for (kind, _), g in self.groups.items():
            if kind == "topic":
                gained.update(g["gained"])
                lost.update(g["lost"])
        return {"branches": self.branches, "weaknesses": self.weaknesses, "branches_changed": self.branches_changed,
                "prescriptions": {"before": self.items[0], "after": self.items[1]},
                "without_remedy": {"before": self.unremedied[0], "after": self.unremedied[1],
                                   "weaknesses": self.left_without},
                "resources_gained": self._resources(gained, 1), "resources_lost": self._resources(lost, 0),
                "by_topic": self._group("topic"), "by_branch_type": self._group("branch_type")}


__all__ = ["preview"]
