"""How remedies are ranked for one weakness of one branch: one interface, a documented prior behind it.

A ranker sees a ``Need`` (the branch, its weakness, how far below the norm) and the candidate
resources that passed the hard filters (active, suitable, not recently prescribed); it returns a
score per resource, higher is better, with the parts of the score for explanations. It never sees
HTTP requests or the database. The effectiveness model implements the same interface.

The prior (``PriorRanker``) scores what can be known without outcomes (docs/prescriptions.md):

    score = topic match x kind preference x branch-type fit x locality

- topic match: 1.0 when the weakness's topic is the resource's main (first) topic, 0.6 otherwise;
- kind preference: the rule's ``remedy_kinds`` in order get 1.00, 0.98, 0.96, ...; other kinds 0.75
  (every kind 1.0 when the rule names none);
- branch-type fit: 1.0 for a resource made for a list of types that includes the branch's, 0.9 for one
  for every type;
- locality: 1.0 for a resource limited to streets that include the branch's, 0.95 for a district-wide one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .catalog import Resource

TOPIC_MAIN, TOPIC_OTHER = 1.0, 0.6
KIND_STEP, KIND_UNLISTED = 0.02, 0.75
TYPE_SPECIFIC, TYPE_GENERAL = 1.0, 0.9
LOCAL, DISTRICT_WIDE = 1.0, 0.95


MEMO_NEEDS = 4096  # (topic, kinds, branch type) whose scores the prior keeps (a district has a few hundred)
REPEAT_WINDOW = 6  # months a branch's earlier first recommendations are told to the ranker (Need.recent_first)


@dataclass(frozen=True)
class Need:
    """One weakness of one branch in one period."""

    branch_id: str
    branch_type: str
    street: str | None
    period: str
    topic: str
    rule: str
    indicator: str
    severity: str
    value: float | None
    reference: float | None
    preferred_kinds: tuple[str, ...] = ()
    members: int | None = None
    # (resource, months ago) recommended first to this branch lately, for any weakness (History.first_before)
    recent_first: tuple[tuple[str, int], ...] = ()
    # the kinds of those, as the catalog knows them (``prescribe.recent_kinds``)
    recent_kinds: tuple[str, ...] = ()
    # resources recommended to this branch in the same months that it said it adopted (History.adopted_before)
    recent_adopted: tuple[str, ...] = ()
    # months since this branch's latest list for the same weakness (topic), 0 for none (History.last_on_topic)
    weakness_months: int = 0

    @property
    def shortfall(self) -> float | None:
        """How far below the norm, relative to it (0.25 = a quarter below); None when unknown."""
        if self.value is None or self.reference is None:
            return None
        return abs(self.value - self.reference) / max(abs(self.reference), 1.0)


@dataclass(slots=True)  # not frozen: a district creates ~100,000 of these and frozen init is slow
class Scored:
    resource: Resource
    score: float
    parts: tuple[tuple[str, float], ...] = ()  # named factors, for --explain
    note_zh: str | None = None  # a sentence a secretary reads, e.g. what happened elsewhere
    note_en: str | None = None


class Ranker(Protocol):
    """Scores candidate resources for one need. ``cache_key`` lets a caller reuse scores between
    needs that the ranker cannot tell apart (None: no reuse)."""

    name: str

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]: ...

    def cache_key(self, need: Need) -> tuple | None: ...


class PriorRanker:
    """The documented prior: what fits the weakness best before any outcome is known."""

    name = "prior"

    def __init__(self) -> None:
        # (topic, preferred kinds, branch type) -> resource id -> (the resource, {place: its Scored}). A
        # district's needs differ mostly by street, which changes the score of the few local resources
        # only: the others' Scored objects (read-only) are shared, not made again per street.
        self._memo: dict[tuple, dict[str, tuple[Resource, dict[float, Scored]]]] = {}

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]:
        key = (need.topic, need.preferred_kinds, need.branch_type)
        memo = self._memo.get(key)
        if memo is None:
            if len(self._memo) >= MEMO_NEEDS:  # a service's ranker lives on through catalog and rule changes
                self._memo.clear()
            memo = self._memo[key] = {}
        out = []
        for r in resources:
            place = LOCAL if r.streets and need.street in r.streets else DISTRICT_WIDE
            entry = memo.get(r.id)
            if entry is None or entry[0] is not r:  # another catalog's resource of that id
                entry = memo[r.id] = (r, {})
            scored = entry[1].get(place)
            if scored is None:
                topic = TOPIC_MAIN if r.topics[0] == need.topic else TOPIC_OTHER
                kind = kind_preference(r.kind, need.preferred_kinds)
                btype = TYPE_SPECIFIC if r.branch_types and need.branch_type in r.branch_types else TYPE_GENERAL
                scored = entry[1][place] = Scored(r, round(topic * kind * btype * place, 6), (
                    ("topic", topic), ("kind", kind), ("branch_type", btype), ("place", place)))
            out.append(scored)
        return out

    def cache_key(self, need: Need) -> tuple | None:
        return (need.topic, need.preferred_kinds, need.branch_type, need.street)


def kind_preference(kind: str, preferred: Sequence[str]) -> float:
    if not preferred:
        return 1.0
    if kind in preferred:
        return round(1.0 - KIND_STEP * list(preferred).index(kind), 6)
    return KIND_UNLISTED


__all__ = ["Need", "PriorRanker", "Ranker", "Scored", "kind_preference"]
