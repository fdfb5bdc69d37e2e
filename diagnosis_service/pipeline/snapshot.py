"""What one diagnosis, report or request works with, fixed from its start to its end.

A ``Snapshot`` holds the rule set (and, in the service, its version and compiled single-subject
engine), the remedy catalog and the ranker. The command line builds one from directories; the
service takes one from its runtime per request (``Runtime.snapshot()``), so that a rule publish in
the middle of a request cannot mix two versions. Every prescriber is set up here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..data.sources import Carry
from ..engine.lookback import carry_plan, lookback_columns
from ..engine.references import PeriodReferences
from ..engine.subject import SubjectEngine
from ..errors import Conflict, Problem
from ..remedies.catalog import Catalog
from ..remedies.catalog_files import load_catalog
from ..remedies.prescribe import DEFAULT_PER_WEAKNESS, Prescriber
from ..remedies.ranking import PriorRanker, Ranker
from ..rules import load_ruleset
from ..rules.model import RuleSet


@dataclass(frozen=True)
class Snapshot:
    ruleset: RuleSet
    catalog: Catalog | None = None
    ranker: Ranker = field(default_factory=PriorRanker)
    version: int | None = None  # the rule-set version in the store; None for a rules directory
    files: Mapping[str, str] = field(default_factory=dict)  # that version's rule files (and rule tests)
    subject_engine: SubjectEngine | None = None  # compiled once per version by the service
    # (period, rules digest) -> references recomputed for rules newer than a period's diagnosis; shared
    # by the snapshots of one process, so that it is computed once.
    references: dict[tuple[str, str], PeriodReferences] = field(default_factory=dict, compare=False)
    catalog_version: int | None = None  # the catalog version in the store; None for a catalog directory

    @property
    def digest(self) -> str:
        return self.ruleset.version

    @classmethod
    def from_dirs(cls, rules_dir: Path, catalog_dir: Path | None = None, ranker: Ranker | None = None) -> Snapshot:
        """Rules (and a catalog, when given) from directories, as the command line uses them."""
        ruleset = load_ruleset(rules_dir)
        catalog = load_catalog(catalog_dir, ruleset.registry) if catalog_dir is not None else None
        return cls(ruleset, catalog, ranker or PriorRanker())

    def replace(self, **changes) -> Snapshot:
        return dataclasses.replace(self, **changes)

    def prescriber(self, per_weakness: int = DEFAULT_PER_WEAKNESS) -> Prescriber:
        """A prescriber over this snapshot's catalog and ranker; Conflict when no catalog is loaded."""
        if self.catalog is None:
            raise Conflict(Problem("the remedy catalog is not loaded", suggestion="see /readyz or `catalog check`"))
        return Prescriber(self.catalog, self.ruleset, self.ranker, per_weakness=per_weakness)

    def street_names(self, lang: str) -> Callable[[str | None], str | None] | None:
        """How output in ``lang`` shows a street: by the catalog's English name in English (the data spells
        streets in Chinese); None where they show as spelled (Chinese, or no catalog loaded)."""
        return self.catalog.street_en if lang == "en" and self.catalog is not None else None

    def lookback(self) -> dict[str, frozenset[str]]:
        """The indicators a month's diagnosis reads of the months before it (``engine.lookback``)."""
        return lookback_columns(self.ruleset)

    def carry(self) -> Carry | None:
        """The derived indicators a dataset may keep with each month for this rule set (``pipeline.carry``)."""
        return carry_plan(self.ruleset)

    def single_subject(self) -> SubjectEngine:
        """The single-subject engine of this rule set (compiled now if the service did not)."""
        return self.subject_engine if self.subject_engine is not None else SubjectEngine(self.ruleset)


__all__ = ["Snapshot"]
