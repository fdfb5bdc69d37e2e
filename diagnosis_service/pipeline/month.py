"""A month through the pipeline: load (a source) -> evaluate -> prescribe -> keep (a sink).

``diagnose_month`` is the one function the command line, the service and the closed-loop simulation
call to diagnose a period; ``Month`` is what it gives back: every subject's result, the evaluator
(for explanations and reports) and, when asked, each branch's prescriptions. A sink keeps a month:
``JsonLinesSink`` writes ``diagnose --out`` files, ``store_io.StoreSink`` the store's results.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..data.files import write_atomic
from ..data.model import Dataset
from ..engine import Evaluator, make_evaluator
from ..engine.findings import SubjectResult
from ..engine.references import district_summary
from ..errors import InputError, Problem
from ..periods import check_period, require_period_in
from ..remedies.history import History
from ..remedies.prescribe import Choice, prescriptions_json
from ..rules.model import RuleSet
from .snapshot import Snapshot


@dataclass
class Month:
    period: str
    ruleset: RuleSet
    branches: list[SubjectResult]
    members: list[SubjectResult]
    evaluator: Evaluator
    choices: dict[str, list[Choice]] = field(default_factory=dict)  # branch id -> one per weakness
    # Prescribes for a branch's result, when ``diagnose_month`` left it for later (``prescribe_now``).
    prescribe: Callable[[SubjectResult], list[Choice]] | None = None

    def lines(self) -> Iterable[str]:
        """The JSON Lines of ``diagnose --out``: every branch, then every member, each sorted by id."""
        for result in self.branches:
            yield result.to_json()
        for result in self.members:
            yield result.to_json()

    def prescribe_pending(self) -> None:
        """Prescribe for every branch the month left for later (``diagnose_month(prescribe_now=False)``)."""
        if self.prescribe is not None:
            for result in self.branches:
                self.choices[result.id] = self.prescribe(result)
            self.prescribe = None

    def summary(self) -> dict:
        """References and district means, as the store keeps them with the period's results."""
        return district_summary(self.evaluator, self.period)

    def branch(self, branch_id: str) -> SubjectResult | None:
        return next((r for r in self.branches if r.id == branch_id), None)


class Sink(Protocol):
    def keep(self, month: Month) -> object: ...


def require_period(dataset: Dataset, period: str) -> None:
    """InputError unless ``period`` is a period with data in ``dataset``."""
    require_period_in(period, dataset.periods())


def diagnose_month(dataset: Dataset, snapshot: Snapshot, period: str, engine: str = "vectorized",
                   per_weakness: int = 0, history: History | None = None,
                   references_at: dict[int, dict] | None = None, prescribe_now: bool = True) -> Month:
    """Lamps, findings and points of every subject in ``period``; with ``per_weakness`` > 0, each
    branch's prescriptions too (``prescriptions`` in its JSON, and ``Month.choices``). ``references_at``:
    the district's references when ``dataset`` is a part of it (``pipeline.partitioned``).
    ``prescribe_now`` false: ``Month.prescribe`` does it, branch by branch, later (``pipeline.forked``
    shares that out among processes)."""
    require_period(dataset, period)
    evaluator = make_evaluator(dataset, snapshot.ruleset, engine, references_at)
    branches, members = evaluator.run(period)
    month = Month(period, snapshot.ruleset, branches, members, evaluator)
    if per_weakness > 0:
        month.prescribe = branch_prescriber(dataset, snapshot, per_weakness, history)
        if prescribe_now:
            month.prescribe_pending()
    return month


def branch_prescriber(dataset: Dataset, snapshot: Snapshot, per_weakness: int,
                      history: History | None) -> Callable[[SubjectResult], list[Choice]]:
    """A function that prescribes for one branch's result: its choices, and its ``prescriptions`` JSON."""
    prescriber = snapshot.prescriber(per_weakness)
    streets = dataset.branches["street"].to_dict()
    sizes = dataset.members.groupby("branch_id").size().to_dict()

    def prescribe(result: SubjectResult) -> list[Choice]:
        choices = prescriber.for_branch(result, streets.get(result.id), history, sizes.get(result.id, 0))
        result.extra["prescriptions"] = prescriptions_json([p for c in choices for p in c.prescriptions])
        return choices

    return prescribe


class JsonLinesSink:
    """``diagnose --out``: the month's JSON Lines, written whole or not at all."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def keep(self, month: Month) -> Path:
        write_lines(month.lines(), self.path)
        return self.path


def write_lines(lines: Iterable[str], out: Path) -> None:
    """JSON Lines written whole or not at all (a reader never sees half a file)."""
    write_atomic(out, (f"{line}\n" for line in lines))


def history_from_files(paths: Iterable[Path], before: str | None = None) -> History:
    """What earlier ``diagnose --out`` files prescribed (not to prescribe it again too soon); with ``before``,
    in the months before that period only (the files may hold it or later months too)."""
    if before is not None:
        check_period(before, "period")  # a bad --period is said as such, before any file is read
    history = History()
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                history.update(History.from_lines(fh, str(path), before))
        except UnicodeDecodeError:  # a workbook or an archive given by mistake
            raise InputError(Problem("not a diagnose output file: not UTF-8 text", file=str(path),
                                     suggestion="an earlier `diagnose --out FILE.jsonl`: JSON Lines, one branch or "
                                                "member an object")) from None
    return history


def summary_json(summary: dict) -> str:
    return json.dumps(summary, ensure_ascii=False, sort_keys=True)


__all__ = ["JsonLinesSink", "Month", "Sink", "branch_prescriber", "diagnose_month", "history_from_files", "require_period",
           "summary_json", "write_lines"]
