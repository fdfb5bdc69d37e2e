"""What was prescribed to which branch for which weakness, and when: not to prescribe it again too soon."""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..errors import InputError, Problem
from ..periods import parse_period


def _latest(months: dict[str, int], resource_id: str, pidx: int) -> None:
    months[resource_id] = max(months.get(resource_id, pidx), pidx)


class History:
    """Which resources were prescribed to which branch for which topic, by month."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], dict[str, int]] = {}
        self._first: dict[str, dict[str, int]] = {}  # branch -> resource -> last month it was recommended first
        self._adopted: dict[str, dict[str, int]] = {}  # branch -> resource -> last month its adoption was told

    def add(self, branch_id: str, period: str, topic: str, resource_id: str, *, first: bool) -> None:
        self.add_month(branch_id, parse_period(period), topic, resource_id, first=first)

    def add_month(self, branch_id: str, pidx: int, topic: str, resource_id: str, *, first: bool) -> None:
        """``first``: it was the list's first recommendation (the one a secretary acts on)."""
        _latest(self._seen.setdefault((branch_id, topic), {}), resource_id, pidx)
        if first:
            _latest(self._first.setdefault(branch_id, {}), resource_id, pidx)

    def add_adopted(self, branch_id: str, pidx: int, resource_id: str) -> None:
        """The branch said it adopted (or completed) ``resource_id``, recommended to it in month ``pidx``."""
        _latest(self._adopted.setdefault(branch_id, {}), resource_id, pidx)

    def update(self, other: History) -> None:
        for (branch_id, topic), seen in other._seen.items():
            for resource_id, pidx in seen.items():
                self.add_month(branch_id, pidx, topic, resource_id, first=False)
        for branch_id, firsts in other._first.items():
            for resource_id, pidx in firsts.items():
                _latest(self._first.setdefault(branch_id, {}), resource_id, pidx)
        for branch_id, adopted in other._adopted.items():
            for resource_id, pidx in adopted.items():
                self.add_adopted(branch_id, pidx, resource_id)

    def first_before(self, branch_id: str, period: str, months: int) -> tuple[tuple[str, int], ...]:
        """(resource, months ago) of what was recommended first to the branch, for any weakness, in the
        ``months`` months before ``period``: what the effectiveness model's repeat feature reads."""
        pidx = parse_period(period)
        firsts = self._first.get(branch_id, {})
        return tuple(sorted((rid, pidx - p) for rid, p in firsts.items() if pidx - months <= p < pidx))

    def adopted_before(self, branch_id: str, period: str, months: int) -> tuple[str, ...]:
        """The resources the branch said it adopted, recommended to it in the ``months`` months before
        ``period``: what the effectiveness model's ``repeat_adopted`` feature reads (a branch that never
        answers has none: there its ``repeat`` alone tells)."""
        pidx = parse_period(period)
        adopted = self._adopted.get(branch_id, {})
        return tuple(sorted(rid for rid, p in adopted.items() if pidx - months <= p < pidx))

    def last_on_topic(self, branch_id: str, topic: str, period: str, months: int) -> int:
        """Months since the branch's latest list for ``topic`` (a weakness) in the ``months`` months before
        ``period``, 0 for none: what the effectiveness model's weakness flags read."""
        pidx = parse_period(period)
        seen = self._seen.get((branch_id, topic), {})
        return min((pidx - p for p in seen.values() if pidx - months <= p < pidx), default=0)

    def recent(self, branch_id: str, topic: str, period: str, months: int) -> set[str]:
        """Resources prescribed in the ``months`` months before ``period`` (not counting it)."""
        pidx = parse_period(period)
        seen = self._seen.get((branch_id, topic), {})
        return {rid for rid, p in seen.items() if pidx - months <= p < pidx}

    def __len__(self) -> int:
        return sum(len(v) for v in self._seen.values())

    @classmethod
    def from_lines(cls, lines: Iterable[str], file: str, before: str | None = None) -> History:
        """Read earlier ``diagnose`` output (JSON Lines): the branch objects' prescriptions; with ``before``
        (a period), only those of earlier months. A month's own output or a later one is no history of it,
        and keeping it would hide an earlier month's list of the same resource (one month per resource is
        kept: the latest)."""
        history = cls()
        limit = parse_period(before) if before is not None else None
        problems = []
        read = 0
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                read += 1
                if obj.get("subject") != "branch":
                    continue
                branch_id, period = obj["id"], obj["period"]
                pidx = parse_period(period)
                if limit is not None and pidx >= limit:
                    continue
                topics: set[str] = set()
                for p in obj.get("prescriptions", []):  # a weakness's prescriptions, its first one first
                    history.add_month(branch_id, pidx, p["topic"], p["resource_id"], first=p["topic"] not in topics)
                    topics.add(p["topic"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                if not read:  # its first line is not JSON: another kind of file, told once, not line by line
                    raise InputError(Problem(f"not a diagnose output file: its first line is not JSON "
                                             f"({exc.__class__.__name__}: {exc})", file=file, line=n,
                                             suggestion="an earlier `diagnose --out FILE.jsonl`: JSON Lines, one "
                                                        "branch or member an object")) from None
                problems.append(Problem(f"not a diagnose output line ({exc.__class__.__name__}: {exc})", file=file,
                                        line=n, suggestion="JSON Lines as a diagnosis writes them"))
                if len(problems) >= 20:
                    break
        if problems:
            raise InputError(problems)
        return history


__all__ = ["History"]
