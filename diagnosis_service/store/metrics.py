"""Organisations and monthly metrics in the store: idempotent upserts, corrections recorded, datasets out.

An upsert compares each incoming row with the stored one: equal rows are left alone (importing the
same directory twice changes nothing), new rows are inserted, and a row that differs is replaced and
the change recorded in ``metric_revisions`` (which fields, before and after, by whom).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Connection

from ..data.model import KEYS, Dataset, parse_period, period_str
from ..rules.model import Registry
from . import now
from .schema import METRICS, branches, members, metric_revisions

HISTORY_MONTHS = 24  # months a diagnosis reads before its period: runs and changes look back this far at most


@dataclass
class Changes:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


def _clean(value: object) -> float | str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    return value


def upsert_profiles(conn: Connection, branch_rows: pd.DataFrame | None,
                    member_rows: pd.DataFrame | None) -> dict[str, Changes]:
    """Branches (branch_id, name, type, street) and members (member_id, branch_id, name)."""
    out = {}
    for table, key, frame, cols in ((branches, "branch_id", branch_rows, ("name", "type", "street")),
                                    (members, "member_id", member_rows, ("branch_id", "name"))):
        changes = Changes()
        if frame is not None and len(frame):
            ids = frame[key].tolist()
            existing = {}
            for chunk in _chunks(ids, 5000):
                for row in conn.execute(select(table).where(table.c[key].in_(chunk))).mappings():
                    existing[row[key]] = tuple(row[c] for c in cols)
            inserts, updates = [], []
            for rec in frame[[key, *cols]].to_dict("records"):
                new = tuple("" if rec[c] is None else str(rec[c]) for c in cols)
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


def upsert_metrics(conn: Connection, subject: str, frame: pd.DataFrame, *, source: str, actor: str,
                   request_id: str | None = None, partial: bool = False) -> Changes:
    """Store a validated metrics frame (period, key, indicator columns). With ``partial``, columns
    absent from the frame keep their stored values (an event sends only what changed)."""
    table, key, all_cols = METRICS[subject]
    cols = [c for c in all_cols if c in frame.columns] if partial else list(all_cols)
    changes = Changes()
    if not len(frame):
        return changes
    periods = sorted(set(frame["period"].tolist()))
    existing: dict[tuple[str, str], dict] = {}
    for period in periods:
        ids = frame.loc[frame["period"] == period, key].tolist()
        query = select(table).where(table.c.period == period)
        if len(ids) < 1000:  # one subject or a few: don't read the whole month
            query = query.where(table.c[key].in_(ids))
        for row in conn.execute(query).mappings():
            existing[(row["period"], row[key])] = dict(row)
    records = frame[["period", key, *[c for c in cols if c in frame.columns]]].to_dict("records")
    inserts, updates, revisions = [], [], []
    stamp = now()
    for rec in records:
        values = {c: _clean(rec.get(c)) for c in cols}
        old = existing.get((rec["period"], rec[key]))
        if old is None:
            inserts.append({"period": rec["period"], key: rec[key], **values})
            continue
        changed = {c: v for c, v in values.items() if old.get(c) != v}
        if not changed:
            changes.unchanged += 1
            continue
        updates.append({"_period": rec["period"], "_key": rec[key], **{c: values[c] for c in cols}})
        revisions.append({
            "subject": subject, "subject_id": rec[key], "period": rec["period"], "source": source,
            "previous": json.dumps({c: old.get(c) for c in changed}, sort_keys=True),
            "current": json.dumps(changed, sort_keys=True), "actor": actor, "request_id": request_id,
            "created_at": stamp})
    if inserts:
        conn.execute(table.insert(), inserts)
    if updates:
        conn.execute(table.update().where(and_(table.c.period == bindparam("_period"),
                                               table.c[key] == bindparam("_key")))
                     .values({c: bindparam(c) for c in cols}), updates)
    if revisions:
        conn.execute(metric_revisions.insert(), revisions)
    changes.inserted, changes.updated = len(inserts), len(updates)
    return changes


def import_dataset(conn: Connection, dataset: Dataset, actor: str) -> dict[str, Changes]:
    """Everything of a validated data directory, in the caller's transaction."""
    out = upsert_profiles(conn, dataset.branches.reset_index(), dataset.members.reset_index())
    for subject in ("branch", "member"):
        frame = dataset.metrics(subject)
        out[METRICS[subject][0].name] = upsert_metrics(conn, subject, frame, source="import", actor=actor)
    return out


def known_ids(conn: Connection, subject: str, ids: Iterable[str]) -> set[str]:
    table = branches if subject == "branch" else members
    key = KEYS[subject]
    found: set[str] = set()
    for chunk in _chunks(sorted(set(ids)), 5000):
        found |= set(conn.execute(select(table.c[key]).where(table.c[key].in_(chunk))).scalars())
    return found


def periods(conn: Connection) -> list[str]:
    table = METRICS["branch"][0]
    return sorted(set(conn.execute(select(table.c.period).distinct()).scalars()))


def load_dataset(conn: Connection, registry: Registry, period: str, months: int = HISTORY_MONTHS) -> Dataset:
    """The district as a Dataset: every organisation and the ``months`` months up to ``period``."""
    last = parse_period(period)
    wanted = [period_str(p) for p in range(last - months + 1, last + 1)]
    branch_frame = pd.DataFrame(conn.execute(select(branches)).mappings().all(),
                                columns=["branch_id", "name", "type", "street"])
    member_frame = pd.DataFrame(conn.execute(select(members)).mappings().all(),
                                columns=["member_id", "branch_id", "name"])
    frames = {}
    for subject in ("branch", "member"):
        table, key, _ = METRICS[subject]
        reported = [i.id for i in registry.reported(subject)]
        query = select(table.c.period, table.c[key], *[table.c[c] for c in reported]).where(
            table.c.period.in_(wanted))
        result = conn.execute(query)
        rows = result.fetchall()
        frame = pd.DataFrame(rows, columns=["period", key, *reported])
        matrix = frame[reported].to_numpy(dtype=float, na_value=np.nan) if len(frame) else np.empty((0, len(reported)))
        out = pd.DataFrame(matrix, columns=reported)
        out.insert(0, key, frame[key].to_numpy(dtype=object))
        out.insert(0, "period", frame["period"].to_numpy(dtype=object))
        pidx = {p: parse_period(p) for p in set(frame["period"])}
        out.insert(0, "pidx", np.array([pidx[p] for p in frame["period"]], dtype=np.int64))
        # Sorted here, not by the database: its collation may order ids differently from Python.
        frames[subject] = out.sort_values(["pidx", key], kind="stable").reset_index(drop=True)
    return Dataset(branch_frame.set_index("branch_id"), member_frame.set_index("member_id"), frames["branch"],
                   frames["member"], source="store")


def subject_history(conn: Connection, subject: str, subject_id: str, period: str,
                    months: int = HISTORY_MONTHS) -> list[dict]:
    """One subject's rows (period + indicators) for the ``months`` months up to ``period``."""
    table, key, cols = METRICS[subject]
    last = parse_period(period)
    wanted = [period_str(p) for p in range(last - months + 1, last + 1)]
    rows = conn.execute(select(table).where(table.c[key] == subject_id, table.c.period.in_(wanted))
                        .order_by(table.c.period)).mappings()
    return [{"period": r["period"], **{c: r[c] for c in cols}} for r in rows]


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


__all__ = ["HISTORY_MONTHS", "Changes", "import_dataset", "known_ids", "load_dataset", "periods",
           "subject_history", "upsert_metrics", "upsert_profiles"]
