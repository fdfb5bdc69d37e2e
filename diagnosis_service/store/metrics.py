"""Organisations and monthly metrics in the store: idempotent upserts, corrections recorded, rows out.

An upsert compares each incoming row with the stored one: equal rows are left alone (importing the
same directory twice changes nothing), new rows are inserted, and a row that differs is updated and
the change recorded in ``metric_revisions`` (which fields, before and after, by whom). A row updates
only the fields it carries: a field it does not name keeps its stored value.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.engine import Connection

from . import blocks, now
from .schema import METRICS, branches, member_metrics, members, metric_revisions

KEYS = {"branch": "branch_id", "member": "member_id"}
PROFILE_COLUMNS = {"branch": ("name", "type", "street"), "member": ("branch_id", "name")}


@dataclass
class Changes:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


def _clean(value: object) -> object:
    """A value as the database keeps it: None for a missing number (NaN), floats as floats."""
    if value is None:
        return None
    if hasattr(value, "item"):  # a numpy scalar (np.float64 is a float the drivers cannot all take)
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else float(value)
    return value


def upsert_profiles(conn: Connection, branch_rows: Sequence[Mapping] | None,
                    member_rows: Sequence[Mapping] | None) -> dict[str, Changes]:
    """Branches (branch_id, name, type, street) and members (member_id, branch_id, name)."""
    out = {}
    for subject, table, rows in (("branch", branches, branch_rows), ("member", members, member_rows)):
        key, cols = KEYS[subject], PROFILE_COLUMNS[subject]
        changes = Changes()
        if rows:
            existing = {}
            for chunk in _chunks([r[key] for r in rows], 5000):
                for row in conn.execute(select(table).where(table.c[key].in_(chunk))).mappings():
                    existing[row[key]] = tuple(row[c] for c in cols)
            inserts, updates = [], []
            for rec in rows:
                new = tuple("" if rec.get(c) is None else str(rec[c]) for c in cols)
                old = existing.get(rec[key])
                if old is None:
                    inserts.append({key: rec[key], **dict(zip(cols, new, strict=True))})
                elif old != new:
                    updates.append({"_key": rec[key], **dict(zip(cols, new, strict=True))})
                else:
                    changes.unchanged += 1
            if inserts:
                conn.execute(table.insert(), inserts)
            if updates:
                conn.execute(table.update().where(table.c[key] == bindparam("_key"))
                             .values({c: bindparam(c) for c in cols}), updates)
            changes.inserted, changes.updated = len(inserts), len(updates)
        out[table.name] = changes
    return out


def upsert_metrics(conn: Connection, subject: str, records: Sequence[Mapping], *, source: str, actor: str,
                   request_id: str | None = None) -> Changes:
    """Store metric rows (``period``, the key, indicator values; None or NaN for a missing value).
    Each row inserts or updates the indicators it carries; the others keep their stored values."""
    table, key, all_cols = METRICS[subject]
    known = set(all_cols)
    changes = Changes()
    if not records:
        return changes
    existing: dict[tuple[str, str], dict] = {}
    by_period: dict[str, list[str]] = {}
    for rec in records:
        by_period.setdefault(rec["period"], []).append(rec[key])
    blocks.lock(conn, subject, by_period)
    for period, ids in sorted(by_period.items()):
        query = select(table).where(table.c.period == period)
        if len(ids) < 1000:  # one subject or a few: don't read the whole month
            query = query.where(table.c[key].in_(ids))
        for row in conn.execute(query).mappings():
            existing[(row["period"], row[key])] = dict(row)
    inserts, revisions = [], []
    updates: dict[tuple[str, ...], list[dict]] = {}  # grouped by the fields they carry
    stamp = now()
    for rec in records:
        values = {c: _clean(v) for c, v in rec.items() if c in known}
        old = existing.get((rec["period"], rec[key]))
        if old is None:
            inserts.append({"period": rec["period"], key: rec[key], **{c: values.get(c) for c in all_cols}})
            continue
        changed = {c: v for c, v in values.items() if old.get(c) != v}
        if not changed:
            changes.unchanged += 1
            continue
        # The row sets every field it carries, those unchanged to the very value stored: grouped by the fields
        # changed, corrections scattered over the columns made a statement, compiled anew, per row (8.8 s for
        # 6,080 rows on SQLite, 1.2 s now); rows that carry the same fields share one.
        updates.setdefault(tuple(sorted(values)), []).append(
            {"_period": rec["period"], "_key": rec[key], **{c: old.get(c) for c in values}, **changed})
        revisions.append({
            "subject": subject, "subject_id": rec[key], "period": rec["period"], "source": source,
            "previous": json.dumps({c: old.get(c) for c in changed}, sort_keys=True),
            "current": json.dumps(changed, sort_keys=True), "actor": actor, "request_id": request_id,
            "created_at": stamp})
    if inserts:
        conn.execute(table.insert(), inserts)
    for cols, rows in updates.items():
        conn.execute(table.update().where(and_(table.c.period == bindparam("_period"),
                                               table.c[key] == bindparam("_key")))
                     .values({c: bindparam(c) for c in cols}), rows)
    if revisions:
        conn.execute(metric_revisions.insert(), revisions)
    touched = {r["period"] for r in inserts} | {r["_period"] for rows in updates.values() for r in rows}
    blocks.drop(conn, subject, touched)
    changes.inserted, changes.updated = len(inserts), sum(len(r) for r in updates.values())
    return changes


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
        cells = block.astype(object)
        cells[np.isnan(block)] = None
        rows = np.column_stack([np.full(len(ids), period, dtype=object), np.asarray(ids, dtype=object),
                                cells]).tolist()
        if conn.dialect.name == "postgresql":
            from psycopg2.extras import execute_values

            execute_values(cursor, f"INSERT INTO {table} ({names}) VALUES %s", rows, page_size=2000)  # noqa: S608
        else:
            marks = ", ".join("?" * (len(cols) + 2))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608
    finally:
        cursor.close()


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
    # + 0.0: -0.0 as 0.0, as the databases keep it through their drivers (COPY keeps the sign)
    incoming = np.asarray(values[:, [list(columns).index(c) for c in cols]], dtype=np.float64) + 0.0
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
    import csv

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
    cells = block.astype(object)
    cells[np.isnan(block)] = None
    rows = np.column_stack([cells, np.full(len(ids), period, dtype=object), np.asarray(ids, dtype=object)]).tolist()
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


def known_ids(conn: Connection, subject: str, ids: Iterable[str]) -> set[str]:
    table = branches if subject == "branch" else members
    key = KEYS[subject]
    found: set[str] = set()
    for chunk in _chunks(sorted(set(ids)), 5000):
        found |= set(conn.execute(select(table.c[key]).where(table.c[key].in_(chunk))).scalars())
    return found


def has_rows(conn: Connection, subject: str, period: str) -> bool:
    """Whether the month holds any metric row of ``subject`` (one index lookup)."""
    table, key, _ = METRICS[subject]
    return conn.execute(select(table.c[key]).where(table.c.period == period).limit(1)).first() is not None


def periods(conn: Connection) -> list[str]:
    table = METRICS["branch"][0]
    return sorted(set(conn.execute(select(table.c.period).distinct()).scalars()))


def profiles(conn: Connection) -> tuple[list[tuple], list[tuple]]:
    """Every branch as (branch_id, name, type, street) and member as (member_id, branch_id, name)."""
    return ([tuple(r) for r in conn.execute(select(branches.c.branch_id, branches.c.name, branches.c.type,
                                                   branches.c.street))],
            [tuple(r) for r in conn.execute(select(members.c.member_id, members.c.branch_id, members.c.name))])


def streets(conn: Connection) -> list[str]:
    """Every street (街道/镇) some branch is in, sorted."""
    return sorted(set(conn.execute(select(branches.c.street).distinct()).scalars()))


def branch(conn: Connection, branch_id: str) -> dict | None:
    """One branch's profile (branch_id, name, type, street)."""
    row = conn.execute(select(branches).where(branches.c.branch_id == branch_id)).mappings().first()
    return None if row is None else dict(row)


def roll(conn: Connection, branch_id: str) -> int:
    """How many members the branch has on its roll (what its size band counts)."""
    return int(conn.execute(select(func.count()).where(members.c.branch_id == branch_id)).scalar() or 0)


def member_branch(conn: Connection, member_id: str) -> str | None:
    return conn.execute(select(members.c.branch_id).where(members.c.member_id == member_id)).scalar()


def metric_frame(conn: Connection, subject: str, columns: Sequence[str], periods: Sequence[str]) -> pd.DataFrame:
    """(period, id, *columns) of every subject in ``periods`` as a frame (indicators float64, NaN where
    missing), in no particular order. Read column-wise, never a pandas frame over row objects (pandas
    then guesses each value's type: 15 s for a district's 24 months): PostgreSQL writes each month out
    as one CSV text for pandas' C parser; SQLite's rows come from the driver as tuples and become one
    float64 block."""
    table, key, _ = METRICS[subject]
    names = ["period", key, *columns]
    if conn.dialect.name == "postgresql":
        return _postgresql_csv(conn, table.name, names, key, columns, periods)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        quoted = ", ".join(f'"{n}"' for n in names)
        marks = ", ".join("?" * len(periods))
        cursor.execute(f"SELECT {quoted} FROM {table.name} WHERE period IN ({marks})", list(periods))  # noqa: S608
        rows = cursor.fetchall()
    finally:
        cursor.close()
    # One object matrix from the tuples (numpy copies the pointers), then the indicator block as float64
    # at once: column by column from tuples costs three times as long.
    grid = np.array(rows, dtype=object).reshape(len(rows), len(names))
    values = grid[:, 2:]
    values[values == None] = np.nan  # noqa: E711 -- elementwise: numpy compares each cell with None
    data = {"period": grid[:, 0], key: grid[:, 1]}
    block = values.astype(np.float64)
    for i, name in enumerate(columns):
        data[name] = block[:, i]
    return pd.DataFrame(data, columns=names)


def _postgresql_csv(conn: Connection, table: str, names: Sequence[str], key: str, columns: Sequence[str],
              periods: Sequence[str]) -> pd.DataFrame:
    """PostgreSQL writes each month as one CSV text (string_agg; COPY does not go with the driver's wait
    callback that bounds every statement), a double in its shortest exact form."""
    cells = [f'coalesce("{c}"::text, \'\')' for c in columns]
    line = " || ',' || ".join(["period", f"'\"' || replace({key}, '\"', '\"\"') || '\"'", *cells])
    query = text(f"SELECT string_agg({line}, E'\\n') FROM {table} WHERE period = :p")  # noqa: S608
    parts = [conn.execute(query, {"p": p}).scalar() for p in periods]
    body = "\n".join(x for x in parts if x)
    if not body:
        return pd.DataFrame({n: pd.Series(dtype=object if n in ("period", key) else np.float64) for n in names})
    buf = io.StringIO(body)
    # pandas' parser reads the shortest exact form back as the very same double (tested).
    return pd.read_csv(buf, header=None, names=list(names), dtype={"period": object, key: object,
                                                                   **{c: np.float64 for c in columns}},
                       keep_default_na=False, na_values={c: [""] for c in columns})


def member_values(conn: Connection, period: str, member_ids: Sequence[str], columns: Sequence[str]) -> list[tuple]:
    """(member_id, *columns) of the given members in one period."""
    rows: list[tuple] = []
    for chunk in _chunks(list(member_ids), 5000):
        rows += [tuple(r) for r in conn.execute(select(member_metrics.c.member_id, *[member_metrics.c[c]
                                                                                      for c in columns])
                                                .where(member_metrics.c.period == period,
                                                       member_metrics.c.member_id.in_(chunk)))]
    return rows


def member_names(conn: Connection, member_ids: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in _chunks(sorted(set(member_ids)), 5000):
        out.update(dict(conn.execute(select(members.c.member_id, members.c.name)
                                     .where(members.c.member_id.in_(chunk))).all()))
    return out


def subject_rows(conn: Connection, subject: str, ids: Sequence[str],
                 periods: Sequence[str]) -> tuple[list[str], list[tuple]]:
    """(column names, rows) of the given subjects in ``periods``: period, key and every indicator column."""
    table, key, cols = METRICS[subject]
    names = [c.name for c in table.columns]
    out: list[tuple] = []
    for chunk in _chunks(sorted(set(ids)), 5000):
        out += conn.execute(select(table).where(table.c[key].in_(chunk), table.c.period.in_(periods))).all()
    return names, out


def subject_history(conn: Connection, subject: str, subject_id: str, periods: Sequence[str]) -> list[dict]:
    """One subject's rows (period + every indicator column) in ``periods``, oldest first."""
    table, key, cols = METRICS[subject]
    rows = conn.execute(select(table).where(table.c[key] == subject_id, table.c.period.in_(periods))
                        .order_by(table.c.period)).mappings()
    return [{"period": r["period"], **{c: r[c] for c in cols}} for r in rows]


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


__all__ = ["KEYS", "PROFILE_COLUMNS", "Changes", "branch", "known_ids", "member_branch", "member_names",
           "has_rows", "insert_month", "member_values", "month_unchanged", "rebuild_block", "metric_frame", "periods", "profiles", "roll", "streets", "subject_history", "subject_rows", "upsert_metrics",
           "upsert_profiles"]
