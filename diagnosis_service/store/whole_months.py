"""A whole month of metrics at once, as an import writes it: inserted when the store has none of it
(``insert_month``), recognised as unchanged against its block (``month_unchanged``), or compared with
what is stored and corrected in bulk (``correct_month``), each change recorded as ``metrics.upsert_metrics``
records it; and a month's block rebuilt from its rows (``rebuild_block``). Rows and revisions go through
the driver as tuples (COPY on PostgreSQL from a bulk engine), never a dict per row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from . import blocks, now
from .metrics import Changes, has_rows, metric_frame
from .schema import METRICS


def insert_month(conn: Connection, subject: str, period: str, ids: Sequence[str], columns: Sequence[str],
                 values: np.ndarray) -> Changes | None:
    """A month's rows written at once when the store has none of that month yet (an import appending
    a month): plain tuples through the driver (SQLite's executemany; on PostgreSQL COPY from a bulk
    engine, else multi-row VALUES), not a dict per row through the ORM's parameter handling (ten times
    the time). ``values``: float64,
    one column per name in ``columns``, NaN where missing. None when the month has rows already (the
    caller compares them: corrections are recorded)."""
    table, key, all_cols = METRICS[subject]
    blocks.lock(conn, subject, [period])
    if has_rows(conn, subject, period):
        return None
    cols = [c for c in columns if c in set(all_cols)]
    block = values[:, [list(columns).index(c) for c in cols]]
    # The month's block holds every stored column (those the rows leave out are null there too).
    whole = np.full((len(ids), len(all_cols)), np.nan)
    whole[:, [all_cols.index(c) for c in cols]] = block
    blocks.put(conn, subject, period, ids, all_cols, whole)
    _write_rows(conn, table.name, key, period, ids, cols, block)
    return Changes(inserted=len(ids))


def _write_rows(conn: Connection, table: str, key: str, period: str, ids: Sequence[str], cols: Sequence[str],
                block: np.ndarray) -> None:
    """Rows of one month into ``table`` as plain tuples through the driver: COPY from a bulk engine on
    PostgreSQL (else multi-row VALUES), SQLite's executemany."""
    if not len(ids):
        return
    names = ", ".join(f'"{c}"' for c in ("period", key, *cols))
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "postgresql" and _can_copy():
            cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv)",  # noqa: S608
                               _csv(period, ids, cols, block))
            return
        rows = np.column_stack([np.full(len(ids), period, dtype=object), np.asarray(ids, dtype=object),
                                _cells(block)]).tolist()
        if conn.dialect.name == "postgresql":
            from psycopg2.extras import execute_values

            execute_values(cursor, f"INSERT INTO {table} ({names}) VALUES %s", rows, page_size=2000)  # noqa: S608
        else:
            marks = ", ".join("?" * (len(cols) + 2))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608
    finally:
        cursor.close()


def _cells(block: np.ndarray) -> np.ndarray:
    """``block``'s values as objects for the driver, None where NaN (a missing value is NULL)."""
    cells = block.astype(object)
    cells[np.isnan(block)] = None
    return cells


def correct_month(conn: Connection, subject: str, period: str, ids: Sequence[str], columns: Sequence[str],
                  values: np.ndarray, *, source: str, actor: str) -> Changes:
    """A whole month of rows for a month the store holds (an import of corrected data): what
    ``upsert_metrics`` does with them, to the same rows and revisions (tested), but compared column-wise
    and written in bulk instead of a dict per row: rows the month lacks inserted, rows that differ
    updated in the fields given (one statement; on PostgreSQL from a temporary table filled by COPY),
    each change recorded in ``metric_revisions`` with the fields it changed. 137,000 corrected rows
    took 50 s and 1 GiB row by row. The month's block is written anew when these rows are the whole
    month in every stored column, else dropped."""
    table, key, all_cols = METRICS[subject]
    cols = [c for c in columns if c in set(all_cols)]
    incoming = np.asarray(values[:, [list(columns).index(c) for c in cols]], dtype=np.float64)
    ids = list(ids)
    blocks.lock(conn, subject, [period])
    held = metric_frame(conn, subject, cols, [period])
    at = pd.Index(held[key]).get_indexer(ids)
    new = at < 0
    old = held[cols].to_numpy(dtype=np.float64)[at[~new]]
    mine = incoming[~new]
    differs = ~((old == mine) | (np.isnan(old) & np.isnan(mine)))
    changed = np.flatnonzero(differs.any(axis=1))
    stored_ids = np.asarray(ids, dtype=object)[~new]
    _write_rows(conn, table.name, key, period, [i for i, n in zip(ids, new, strict=True) if n], cols, incoming[new])
    if len(changed):
        _update_rows(conn, table.name, key, period, stored_ids[changed].tolist(), cols, mine[changed])
        stamp = now()
        for start in range(0, len(changed), REVISIONS_AT_ONCE):  # memory: a slice's texts at a time
            rows = changed[start:start + REVISIONS_AT_ONCE]
            previous, current = _revision_texts(cols, differs[rows], old[rows], mine[rows])
            _insert_revisions(conn, [(subject, i, period, source, p, c, actor, None, stamp) for i, p, c in
                                     zip(stored_ids[rows].tolist(), previous, current, strict=True)])
    whole = set(cols) == set(all_cols) and len(held) == int((~new).sum())
    if new.any() or len(changed):
        if whole:
            order = [cols.index(c) for c in all_cols]
            blocks.put(conn, subject, period, ids, all_cols, incoming[:, order])
        else:
            blocks.drop(conn, subject, [period])
    return Changes(inserted=int(new.sum()), updated=len(changed), unchanged=int((~new).sum()) - len(changed))


def _revision_texts(cols: Sequence[str], differs: np.ndarray, old: np.ndarray,
                    new: np.ndarray) -> tuple[list[str], list[str]]:
    """Each row's changed fields before and after, as the JSON ``json.dumps(..., sort_keys=True)`` writes
    of them (a float as its repr, NaN as null), built from the arrays at once: a dict and two dumps a row
    were a third of a large correction's time."""
    order = sorted(range(len(cols)), key=lambda j: cols[j])
    differs, old, new = differs[:, order], old[:, order], new[:, order]
    rows, at = np.nonzero(differs)  # row by row, each row's fields in key order
    keys = [json.dumps(cols[j]) + ": " for j in order]

    def cells(values: np.ndarray) -> list[str]:
        return [keys[j] + ("null" if v != v else repr(v)) for j, v in zip(at.tolist(), values.tolist(), strict=True)]

    bounds = np.searchsorted(rows, np.arange(len(differs) + 1)).tolist()
    texts = []
    for part in (cells(old[rows, at]), cells(new[rows, at])):
        texts.append(["{" + ", ".join(part[a:b]) + "}" for a, b in zip(bounds, bounds[1:], strict=False)])
    return texts[0], texts[1]


REVISIONS_AT_ONCE = 20_000  # corrections whose revisions are written in one statement
REVISION_FIELDS = ("subject", "subject_id", "period", "source", "previous", "current", "actor", "request_id",
                   "created_at")


def _insert_revisions(conn: Connection, rows: list[tuple]) -> None:
    """``metric_revisions`` rows (``REVISION_FIELDS``) as tuples through the driver: COPY from a bulk engine
    on PostgreSQL, else one multi-row statement after another."""
    names = ", ".join(REVISION_FIELDS)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "postgresql" and _can_copy() and all(r[-2] is None and all(r[:7]) for r in rows):
            text_ = io.StringIO()
            csv.writer(text_, lineterminator="\n").writerows(  # an unquoted empty cell is NULL (request_id)
                (*r[:7], "", r[8].strftime("%Y-%m-%d %H:%M:%S.%f")) for r in rows)
            text_.seek(0)
            cursor.copy_expert(f"COPY metric_revisions ({names}) FROM STDIN WITH (FORMAT csv)", text_)
        elif conn.dialect.name == "postgresql":
            from psycopg2.extras import execute_values

            execute_values(cursor, f"INSERT INTO metric_revisions ({names}) VALUES %s", rows, page_size=2000)  # noqa: S608
        else:
            marks = ", ".join("?" * len(REVISION_FIELDS))
            cursor.executemany(f"INSERT INTO metric_revisions ({names}) VALUES ({marks})",  # noqa: S608
                               [(*r[:8], r[8].strftime("%Y-%m-%d %H:%M:%S.%f")) for r in rows])
    finally:
        cursor.close()


def _update_rows(conn: Connection, table: str, key: str, period: str, ids: Sequence[str], cols: Sequence[str],
                 block: np.ndarray) -> None:
    """Set ``cols`` of the rows ``ids`` of ``period`` to ``block``'s values, in one statement."""
    quoted = [f'"{c}"' for c in cols]
    if conn.dialect.name == "postgresql":
        # A temporary table of the new values, then one UPDATE joining it (dropped at commit).
        conn.exec_driver_sql(f'CREATE TEMP TABLE _corrected ON COMMIT DROP AS SELECT period, "{key}", '  # noqa: S608
                             f'{", ".join(quoted)} FROM {table} WITH NO DATA')
        _write_rows(conn, "_corrected", key, period, ids, cols, block)
        sets = ", ".join(f"{q} = s.{q}" for q in quoted)
        conn.exec_driver_sql(f'UPDATE {table} AS t SET {sets} FROM _corrected AS s '  # noqa: S608
                             f'WHERE t.period = s.period AND t."{key}" = s."{key}"')
        conn.exec_driver_sql("DROP TABLE _corrected")
        return
    rows = np.column_stack([_cells(block), np.full(len(ids), period, dtype=object),
                            np.asarray(ids, dtype=object)]).tolist()
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.executemany(f'UPDATE {table} SET {", ".join(f"{q} = ?" for q in quoted)} '  # noqa: S608
                           f'WHERE period = ? AND "{key}" = ?', rows)
    finally:
        cursor.close()


def month_unchanged(conn: Connection, subject: str, period: str, ids: Sequence[str], columns: Sequence[str],
                    values: np.ndarray) -> bool:
    """Whether the stored month already holds exactly these rows (the same ids, sorted, and equal values
    in ``columns``; NaN for missing): checked against the month's block, so an import run again does not
    compare a million rows one by one. False when there is no block, or anything differs (the caller
    then compares row by row and records the corrections)."""
    _, _, all_cols = METRICS[subject]
    cols = [c for c in columns if c in set(all_cols)]
    blocks.lock(conn, subject, [period])
    held = blocks.read(conn, subject, [period], cols).get(period)
    if held is None or held.num_rows != len(ids) or held.column("id").to_pylist() != list(ids):
        return False
    for c in cols:
        stored = held.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
        if not np.array_equal(stored, np.asarray(values[:, list(columns).index(c)], dtype=np.float64), equal_nan=True):
            return False
    return True


def rebuild_block(conn: Connection, subject: str, period: str) -> bool:
    """Write the month's block from its rows if it has none holding every stored column (under the
    month's lock: a writer cannot change the rows between the read and the write). False when there
    was nothing to do: a block is there, or the month has no rows of ``subject``."""
    _, key, all_cols = METRICS[subject]
    blocks.lock(conn, subject, [period])
    if not blocks.missing(conn, subject, [period], all_cols):
        return False
    frame = metric_frame(conn, subject, all_cols, [period])
    if frame.empty:
        return False
    blocks.put(conn, subject, period, frame[key].tolist(), all_cols, frame[list(all_cols)].to_numpy(dtype=np.float64))
    return True


def _csv(period: str, ids: Sequence[str], cols: Sequence[str], block: np.ndarray) -> io.BytesIO:
    """The rows as CSV for COPY, written by Arrow's C++ writer (a tenth of pandas' time): doubles in their
    shortest form that reads back to the same bits, NaN as an empty field (NULL), text quoted."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    arrays = [pa.array(np.full(len(ids), period, dtype=object), pa.string()),
              pa.array(np.asarray(ids, dtype=object), pa.string())]
    # + 0.0: -0.0 as 0.0, as the other writers' drivers store it (COPY would keep the sign)
    arrays += [pa.array(block[:, j] + 0.0, pa.float64(), from_pandas=True) for j in range(block.shape[1])]
    sink = io.BytesIO()
    pacsv.write_csv(pa.Table.from_arrays(arrays, names=["period", "id", *cols]), sink,
                    pacsv.WriteOptions(include_header=False))
    sink.seek(0)
    return sink


def _can_copy() -> bool:
    """COPY works only without the driver's wait callback (a bulk engine: ``make_engine(bulk=True)``)."""
    from psycopg2 import extensions

    return extensions.get_wait_callback() is None


__all__ = ["correct_month", "insert_month", "month_unchanged", "rebuild_block"]
