"""Diagnosing a dataset in a test: the pipeline's one function, with a rule set (and a catalog)."""

from diagnosis_service.pipeline.month import Month, diagnose_month
from diagnosis_service.pipeline.snapshot import Snapshot


def diagnose(dataset, ruleset, period: str, engine: str = "vectorized", catalog=None, history=None) -> Month:
    """``catalog``: also prescribe (five per weakness, as the command line does by default)."""
    snapshot = Snapshot(ruleset, catalog)
    return diagnose_month(dataset, snapshot, period, engine, per_weakness=5 if catalog is not None else 0,
                          history=history)
