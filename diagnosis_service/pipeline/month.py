"""Diagnosis as a library call: load, evaluate, write JSON Lines. The CLI and the service call this."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..data.csvdir import load_dir
from ..data.model import Dataset, parse_period, period_str
from ..engine import Evaluator, make_evaluator
from ..engine.findings import SubjectResult
from ..errors import InputError, Problem
from ..remedies.catalog import load_catalog
from ..remedies.prescribe import DEFAULT_PER_WEAKNESS, Choice, History, Prescriber
from ..rules import load_ruleset
from ..rules.model import RuleSet


@dataclass
class Diagnosis:
    period: str
    ruleset: RuleSet
    branches: list[SubjectResult]
    members: list[SubjectResult]
    evaluator: Evaluator
    choices: dict[str, list[Choice]] = field(default_factory=dict)  # branch id -> one per weakness

    def lines(self) -> Iterable[str]:
        for result in self.branches:
            yield result.to_json()
        for result in self.members:
            yield result.to_json()


def check_period(dataset: Dataset, period: str) -> None:
    try:
        pidx = parse_period(period)
    except ValueError as exc:
        raise InputError(Problem(str(exc), column="--period")) from None
    have = dataset.periods()
    if period_str(pidx) not in have:
        span = f"{have[0]} to {have[-1]}" if have else "none"
        raise InputError(Problem(f"no data for period {period}", file=dataset.source, column="period",
                                 suggestion=f"periods in the data: {span}"))


def diagnose(dataset: Dataset, ruleset: RuleSet, period: str, engine: str = "vectorized",
             prescriber: Prescriber | None = None, history: History | None = None) -> Diagnosis:
    """Lamps, findings and points of every subject in ``period``; with a prescriber, each branch's
    prescriptions too (``prescriptions`` in its JSON)."""
    check_period(dataset, period)
    evaluator = make_evaluator(dataset, ruleset, engine)
    branches, members = evaluator.run(period)
    diag = Diagnosis(period, ruleset, branches, members, evaluator)
    if prescriber is not None:
        streets = dataset.branches["street"].to_dict()
        sizes = dataset.members.groupby("branch_id").size().to_dict()
        for result in branches:
            choices = prescriber.for_branch(result, streets.get(result.id), history, sizes.get(result.id, 0))
            diag.choices[result.id] = choices
            result.extra["prescriptions"] = [p.as_dict() for c in choices for p in c.prescriptions]
    return diag


def diagnose_dir(data_dir: Path, rules_dir: Path, period: str, engine: str = "vectorized",
                 catalog_dir: Path | None = None, per_weakness: int = DEFAULT_PER_WEAKNESS,
                 history: History | None = None) -> Diagnosis:
    """``diagnose`` on a data directory; prescriptions when a catalog directory is given."""
    ruleset = load_ruleset(rules_dir)
    prescriber = None
    if catalog_dir is not None and per_weakness > 0:
        prescriber = Prescriber(load_catalog(catalog_dir, ruleset.registry), ruleset, per_weakness=per_weakness)
    dataset = load_dir(data_dir, ruleset.registry)
    return diagnose(dataset, ruleset, period, engine, prescriber, history)


def write_lines(lines: Iterable[str], out: Path) -> None:
    """Write to a temp file beside ``out`` and rename: a reader never sees half a file."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            for line in lines:
                fh.write(line)
                fh.write("\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
