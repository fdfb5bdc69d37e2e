"""The effectiveness model's inputs, from where they are kept: the store, or a directory of logs.

Both give the decisions (``learning.decisions``) and the branch metrics that followed them; training,
evaluation and the closed loop then share ``learning.train`` and ``learning.evaluate``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from ..data.files import not_a_directory
from ..errors import InputError, Problem
from ..learning.decisions import decisions
from ..learning.ope import SERVED_COLUMNS, catalog_versions, served_from_log
from ..learning.outcomes import BASELINE, HORIZON
from ..periods import period_str
from ..remedies.catalog import Catalog
from ..remedies.ranking import REPEAT_WINDOW
from ..rules.model import Registry, RuleSet
from ..store import metrics as metrics_store
from ..store import served as served_store
from ..store.catalogs import CATALOGS
from .catalog_admin import check
from .store_io import dataset_from_rows

LOG_FILE = "log.csv"
METRICS_FILE = "branch_metrics.csv"


def from_store(engine: Engine, ruleset: RuleSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(decisions, reported branch metrics from the first decision's baseline to its last's outcome)."""
    with engine.connect() as conn:
        branches, _ = metrics_store.profiles(conn)
        log = decisions(served_store.first_items(conn), served_store.feedback_given(conn),
                        {b: (btype, street) for b, _name, btype, street in branches})
        if log.empty:
            return log, pd.DataFrame(columns=["pidx", "branch_id"])
        # From the first decision's baseline (BASELINE months up to it) to the last one's outcome.
        first, last = int(log["pidx"].min()) - (BASELINE - 1), int(log["pidx"].max()) + HORIZON
        dataset = dataset_from_rows(conn, ruleset.registry, period_str(last), months=last - first + 1)
    return log, dataset.branch_metrics


def served_in_store(engine: Engine, periods: list[str]) -> pd.DataFrame:
    """Everything served in ``periods`` (``ope.SERVED_COLUMNS`` and ``list_id``): what the repeat filter
    and the repeat feature knew when each logged choice was made."""
    with engine.connect() as conn:
        rows = served_store.served_during(conn, periods)
    return pd.DataFrame(rows, columns=[*SERVED_COLUMNS, "list_id"])


def catalogs_served(log: pd.DataFrame, engine: Engine | None, registry: Registry
                    ) -> tuple[dict[int, Catalog], list[str]]:
    """The stored catalog versions the log's lists were served from, by number, and a warning for each
    that no longer loads against today's rules (a topic removed since): their decisions are judged
    against the catalog given instead. Nothing without an engine (a log directory has no versions)."""
    wanted = sorted({v for v in catalog_versions(log) if v is not None})
    catalogs: dict[int, Catalog] = {}
    warnings: list[str] = []
    if engine is None or not wanted:
        return catalogs, warnings
    with engine.connect() as conn:
        for version in wanted:
            row = CATALOGS.get(conn, version)
            catalog, problems = check(row["files"], registry) if row is not None else (None, [])
            if catalog is None:
                why = problems[0].message if problems else "not in the store"
                warnings.append(f"catalog version {version} does not load ({why}): its lists are judged against "
                                f"the catalog given")
            else:
                catalogs[version] = catalog
    return catalogs, warnings


def served_of(log: pd.DataFrame, engine: Engine | None = None) -> pd.DataFrame:
    """What was served in the log's months and the REPEAT_WINDOW before them: from the store, or (without
    an engine) from the log itself (``simulate loop`` logs each decision's shown items)."""
    if engine is None:
        return served_from_log(log)
    if log.empty:
        return pd.DataFrame(columns=list(SERVED_COLUMNS))
    first, last = int(log["pidx"].min()) - REPEAT_WINDOW, int(log["pidx"].max())
    return served_in_store(engine, [period_str(p) for p in range(first, last + 1)])


def from_dir(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(decisions, branch metrics) written by ``simulate loop --out``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(not_a_directory(directory, "log directory",
                                         "a served log is a directory, as `simulate loop --out` writes it"))
    if not (directory / LOG_FILE).exists():
        raise InputError(Problem(f"{directory} has no {LOG_FILE} (a served log as the closed-loop simulation writes it)",
                                 file=str(directory)))
    return pd.read_csv(directory / LOG_FILE, keep_default_na=True), pd.read_csv(directory / METRICS_FILE)


__all__ = ["catalogs_served", "from_dir", "from_store", "served_in_store", "served_of"]
