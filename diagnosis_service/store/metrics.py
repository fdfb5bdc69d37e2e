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


def missing_since(conn: Connection, period: str) -> tuple[str | None, list[str]]:
    """(the latest earlier month with branch metrics, the branches it has that ``period`` lacks, sorted):
    a platform's month sent in part. A branch gone for longer (dissolved, merged) is not named again."""
    table = METRICS["branch"][0]
    before = conn.execute(select(func.max(table.c.period)).where(table.c.period < period)).scalar()
    if before is None:
        return None, []
    now = select(table.c.branch_id).where(table.c.period == period)
    lacking = conn.execute(select(table.c.branch_id).where(table.c.period == before, table.c.branch_id.not_in(now))
                           .order_by(table.c.branch_id)).scalars()
    return before, list(lacking)


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
           "has_rows", "member_values", "metric_frame", "missing_since", "periods", "profiles", "roll", "streets",
           "subject_history", "subject_rows", "upsert_metrics", "upsert_profiles"]
