"""Each month's metrics once more as one columnar block beside its rows (``metric_blocks``).

A district month of member metrics is about 47,000 rows of 30 numbers: reading the 24 months a
diagnosis looks back on row by row takes the monthly job seconds (8 s on SQLite), while the same months
as Arrow blocks (compressed, a few MB each) read in a fraction of one. The rows stay the truth:

- a whole new month writes its block with its rows, in the same transaction (``put``);
- any other write to a month's rows drops that month's block, in the same transaction (``drop``);
- the monthly job rebuilds a missing block from the rows before it reads (``metrics.rebuild_block``);
  other readers read such a month from its rows and write nothing.

Writers and rebuilders of a month take the same lock first (``lock``: an advisory lock on PostgreSQL;
SQLite has one writer at a time already), so a block never holds older values than its month's rows.
A block sorts its rows by id (code point order, as Python sorts text): months read in order need no
sort.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import and_, delete, select, text
from sqlalchemy.engine import Connection

from . import now
from .schema import metric_blocks

COMPRESSION = "zstd"


def lock(conn: Connection, subject: str, periods: Iterable[str]) -> None:
    """Hold the months' locks until the transaction ends (in one order: no two writers deadlock). On
    SQLite the database's one write lock serves: the caller's transaction must hold it from its start
    (``pipeline.common.in_transaction``: BEGIN IMMEDIATE), not only from its first write."""
    if conn.dialect.name != "postgresql":
        return
    for period in sorted(set(periods)):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _key(subject, period)})


def _key(subject: str, period: str) -> int:
    digest = hashlib.blake2b(f"metric_blocks:{subject}:{period}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def encode(ids: Sequence[str], columns: Sequence[str], values: np.ndarray) -> bytes:
    """The month as Arrow IPC: ``id`` then one float64 column per name (null where NaN), sorted by id."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.ipc as ipc

    arrays = [pa.array(list(ids), pa.string())]
    # + 0.0: -0.0 as 0.0, as the databases keep it (the rows give 0.0 back)
    arrays += [pa.array(np.asarray(values[:, j], dtype=np.float64) + 0.0, pa.float64(), from_pandas=True)
               for j in range(len(columns))]
    table = pa.Table.from_arrays(arrays, names=["id", *columns])
    table = table.take(pc.sort_indices(table, sort_keys=[("id", "ascending")]))
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema, options=ipc.IpcWriteOptions(compression=COMPRESSION)) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode(data: bytes):  # -> pyarrow.Table (pyarrow is imported only when a block is read)
    import pyarrow as pa
    import pyarrow.ipc as ipc

    return ipc.open_stream(pa.py_buffer(data)).read_all()


def put(conn: Connection, subject: str, period: str, ids: Sequence[str], columns: Sequence[str],
        values: np.ndarray) -> None:
    """Write (or replace) the month's block; the caller holds its lock and has written the same rows."""
    conn.execute(delete(metric_blocks).where(and_(metric_blocks.c.subject == subject,
                                                  metric_blocks.c.period == period)))
    conn.execute(metric_blocks.insert().values(subject=subject, period=period, columns=json.dumps(list(columns)),
                                               rows=len(ids), data=encode(ids, columns, values),
                                               written_at=now()))


def drop(conn: Connection, subject: str, periods: Iterable[str]) -> None:
    """The months' rows changed: their blocks no longer stand for them."""
    wanted = sorted(set(periods))
    if wanted:
        conn.execute(delete(metric_blocks).where(and_(metric_blocks.c.subject == subject,
                                                      metric_blocks.c.period.in_(wanted))))


def missing(conn: Connection, subject: str, periods: Sequence[str], columns: Sequence[str]) -> list[str]:
    """The months of ``periods`` without a block that holds every one of ``columns``."""
    held = {p: set(json.loads(c)) for p, c in conn.execute(
        select(metric_blocks.c.period, metric_blocks.c.columns)
        .where(and_(metric_blocks.c.subject == subject, metric_blocks.c.period.in_(list(periods)))))}
    need = set(columns)
    return [p for p in periods if p not in held or not need <= held[p]]


def read(conn: Connection, subject: str, periods: Sequence[str], columns: Sequence[str]) -> dict:
    """period -> its block as an Arrow table (``id``, then ``columns`` in that order), for the months of
    ``periods`` that have a block holding every one of ``columns``."""
    out = {}
    need = set(columns)
    for period, names, data in conn.execute(
            select(metric_blocks.c.period, metric_blocks.c.columns, metric_blocks.c.data)
            .where(and_(metric_blocks.c.subject == subject, metric_blocks.c.period.in_(list(periods))))):
        if need <= set(json.loads(names)):
            out[period] = decode(data).select(["id", *columns])
    return out


__all__ = ["COMPRESSION", "decode", "drop", "encode", "lock", "missing", "put", "read"]
