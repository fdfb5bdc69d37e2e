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
from ..learning.outcomes import BASELINE, HORIZON, LOG_COLUMNS, STATUSES
from ..periods import is_period, parse_period, period_str
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
    for name in (LOG_FILE, METRICS_FILE):
        if not (directory / name).is_file():
            raise InputError(Problem(f"{directory} has no {name} (a served log as the closed-loop simulation writes "
                                     f"it: {LOG_FILE} and {METRICS_FILE})", file=str(directory / name)))
    problems = check_log(directory / LOG_FILE) + check_log_metrics(directory / METRICS_FILE)
    if problems:
        raise InputError(problems)
    return pd.read_csv(directory / LOG_FILE, keep_default_na=True), pd.read_csv(directory / METRICS_FILE)


MAX_LOG_PROBLEMS = 20  # a log written by hand or by another tool is often wrong on every line the same way


def _text_table(path: Path, required: tuple[str, ...]) -> tuple[pd.DataFrame | None, list[Problem]]:
    """The file's cells as text, or the problem that it cannot be read as CSV with ``required`` columns."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(f"not UTF-8 text (byte {exc.start})", file=str(path), suggestion="save it as UTF-8")]
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        return None, [Problem(f"not a CSV table: {str(exc).strip()}", file=str(path), line=1)]
    missing = [c for c in required if c not in table.columns]
    if missing:
        return None, [Problem(f"missing column(s) {', '.join(missing)}", file=str(path), line=1,
                              suggestion=f"a served log's {path.name} has the columns {', '.join(required)}")]
    return table, []


def _row_problems(path: Path, table: pd.DataFrame, checks: list[tuple]) -> list[Problem]:
    """A problem per bad cell (``checks``: column, rows that are bad, what a good value is, and what to call
    it where not "bad <column>"), in file order, at most MAX_LOG_PROBLEMS and then how many more."""
    found = []
    for column, bad, valid, *called in checks:
        for row in bad[bad].index[:MAX_LOG_PROBLEMS].tolist():
            found.append((row, list(table.columns).index(column), column, table.at[row, column], valid,
                          called[0] if called else f"bad {column}"))
    total = sum(int(check[1].sum()) for check in checks)
    problems = [Problem(f"{what} {value!r}", file=str(path), line=int(row) + 2, column=column, suggestion=valid)
                for row, _, column, value, valid, what in sorted(found)[:MAX_LOG_PROBLEMS]]
    if total > len(problems):
        problems.append(Problem(f"and {total - len(problems)} more bad value(s)", file=str(path)))
    return problems


def _numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column.where(column != "", None), errors="coerce")


def check_log(path: Path) -> list[Problem]:
    """Every problem of a served log's decisions file (``simulate loop --out``'s log.csv), each at its line
    and column; none for a good one."""
    table, problems = _text_table(path, LOG_COLUMNS)
    if table is None:
        return problems
    well_formed = table["period"].map(is_period).astype(bool)  # a header alone: an empty bool Series
    pidx = _numbers(table["pidx"])
    expected = table["period"][well_formed].map(parse_period).reindex(table.index)
    propensity = _numbers(table["propensity"])
    members = _numbers(table["members"])
    return _row_problems(path, table, [
        ("branch_id", table["branch_id"] == "", "a branch id"),
        ("period", ~well_formed, "YYYY-MM, e.g. 2025-06"),
        ("pidx", well_formed & (pidx != expected), "the month index of the row's period (year x 12 + month - 1)"),
        ("resource_id", table["resource_id"] == "", "the id of the resource shown first"),
        ("propensity", ~((propensity > 0) & (propensity <= 1)),
         "the probability the logged resource had of being shown first: a number above 0, at most 1"),
        ("status", ~table["status"].isin(STATUSES), f"one of {', '.join(STATUSES)}"),
        ("members", ~(members >= 0), "the branch's number of members"),
        ("value", (table["value"] != "") & _numbers(table["value"]).isna(), "a number, or empty"),
        ("reference", (table["reference"] != "") & _numbers(table["reference"]).isna(), "a number, or empty"),
        # One list per weakness a month: a row twice would count its outcome twice, in the fit and the comparison.
        ("topic", table.duplicated(["branch_id", "period", "topic"]),
         "one list per branch, month and weakness (topic): an earlier row has this row's branch, period and topic",
         "a list logged twice: topic"),
    ])


def check_log_metrics(path: Path) -> list[Problem]:
    """Every problem of a served log's branch metrics (``pidx``, ``branch_id`` and numeric indicators)."""
    table, problems = _text_table(path, ("pidx", "branch_id"))
    if table is None:
        return problems
    checks = [("pidx", _numbers(table["pidx"]).isna(), "a month index (year x 12 + month - 1)"),
              ("branch_id", table["branch_id"] == "", "a branch id")]
    for column in table.columns:
        if column not in ("pidx", "period", "branch_id"):
            checks.append((column, (table[column] != "") & _numbers(table[column]).isna(), "a number, or empty"))
    return _row_problems(path, table, checks)


__all__ = ["catalogs_served", "check_log", "check_log_metrics", "from_dir", "from_store", "served_in_store", "served_of"]
