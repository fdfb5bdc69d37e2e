"""Evaluation engines. ``make_evaluator`` picks one; both produce the same findings and lamps."""

from __future__ import annotations

from ..data.model import Dataset
from ..rules.model import RuleSet
from .evaluator import Evaluator

ENGINES = ("vectorized", "durable")


def make_evaluator(dataset: Dataset, ruleset: RuleSet, engine: str = "vectorized",
                   references_at: dict[int, dict] | None = None) -> Evaluator:
    """An evaluator with the named matcher; ``references_at``: district aggregates per month index, for a
    part of a district (see ``engine.partitioned``)."""
    if engine == "vectorized":
        from .vectorized import VectorizedMatcher

        return Evaluator(dataset, ruleset, VectorizedMatcher(), references_at=references_at)
    if engine == "durable":
        from .durable import DurableMatcher

        return Evaluator(dataset, ruleset, DurableMatcher(ruleset), references_at=references_at)
    raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Evaluator", "make_evaluator"]
