"""The store as a source of months and as their sink: datasets from its rows, results into its rows."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ..data.model import Dataset
from ..data.sources import HISTORY_MONTHS, Carry, Lookback
from ..engine.findings import SubjectResult, clean_number
from ..errors import Problem, StoreError
from ..periods import months_before, parse_period
from ..rules.model import Registry
from ..store import blocks as blocks_store
from ..store import metrics as metrics_store
from ..store import overview as overview_store
from ..store import results as results_store
from ..store import whole_months
from . import notify
from .common import in_transaction
from .month import Month, summary_json
from .overview import branch_month_rows, cells
from .snapshot import Snapshot


class StoreSource:
    """Organisations and metrics stored by ``import`` and ``PUT /v1/periods/{period}/metrics``."""

    name = "store"

    def __init__(self, engine: Engine | Connection):
        self.engine = engine

    def load(self, registry: Registry, period: str | None = None, months: int = HISTORY_MONTHS,
             lookback: Lookback | None = None, carry: Carry | None = None) -> Dataset:
        # Every column: a month's rows are stored together (a block), so fewer columns save nothing.
        if isinstance(self.engine, Connection):
            return dataset_from_rows(self.engine, registry, period, months)
        with self.engine.connect() as conn:
            return dataset_from_rows(conn, registry, period, months)


def rebuild_blocks(engine: Engine, period: str | None, months: int = HISTORY_MONTHS) -> int:
    """Give each stored month of the window that lacks its columnar block (written through the API,
    corrected, or stored before blocks were) one now, each in a transaction of its own; how many were
    written. The monthly job's first step, never a side effect of reading: a reader may be inside a
    write transaction of its own (an event), and a rebuild waits for the month's writers."""
    with engine.connect() as conn:
        wanted = _wanted(conn, period, months)
        todo = {s: [p for p in blocks_store.missing(conn, s, wanted, metrics_store.METRICS[s][2])
                    if metrics_store.has_rows(conn, s, p)] for s in metrics_store.KEYS}
    return sum(in_transaction(engine, lambda conn, s=subject, p=p: whole_months.rebuild_block(conn, s, p))
               for subject, periods in todo.items() for p in periods)


def _wanted(conn: Connection, period: str | None, months: int) -> list[str]:
    return months_before(period, months) if period else metrics_store.periods(conn)


def dataset_from_rows(conn: Connection, registry: Registry, period: str | None,
                      months: int = HISTORY_MONTHS) -> Dataset:
    """Every organisation and the ``months`` months up to ``period`` (every stored month without one):
    each month from its columnar block where it has one, else from its rows."""
    wanted = _wanted(conn, period, months)
    branch_rows, member_rows = metrics_store.profiles(conn)
    branch_frame = pd.DataFrame(branch_rows, columns=["branch_id", "name", "type", "street"])
    member_frame = pd.DataFrame(member_rows, columns=["member_id", "branch_id", "name"])
    frames = {}
    for subject in ("branch", "member"):
        key = metrics_store.KEYS[subject]
        reported = [i.id for i in registry.reported(subject)]
        held = blocks_store.read(conn, subject, wanted, reported)
        rest = [p for p in wanted if p not in held]
        out = _from_blocks(held, key, reported)
        rows = metrics_store.metric_frame(conn, subject, reported, rest) if rest else None
        if rows is not None and len(rows):
            pidx = {p: parse_period(p) for p in set(rows["period"])}
            rows.insert(0, "pidx", np.array([pidx[p] for p in rows["period"]], dtype=np.int64))
            # Sorted here, not by the database: its collation may order ids differently from Python.
            out = (pd.concat([out, rows], ignore_index=True) if len(out) else rows).sort_values(["pidx", key],
                                                                                                  kind="stable")
        frames[subject] = out.reset_index(drop=True)
    return Dataset(branch_frame.set_index("branch_id"), member_frame.set_index("member_id"), frames["branch"],
                   frames["member"], source="store")


def _from_blocks(held: dict, key: str, reported: list[str]) -> pd.DataFrame:
    """The blocks as one frame (pidx, period, the key, the indicators), months in order and each month
    sorted by id already: the frame the rows would give, sorted."""
    import pyarrow as pa

    tables = []
    for p in sorted(held, key=parse_period):
        table = held[p]
        n = table.num_rows
        tables.append(pa.Table.from_arrays(
            [pa.array(np.full(n, parse_period(p), dtype=np.int64)), pa.array([p] * n, pa.string()),
             table.column("id"), *table.columns[1:]], names=["pidx", "period", key, *reported]))
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "pidx" else object if c in ("period", key)
                                          else np.float64) for c in ["pidx", "period", key, *reported]})
    return pa.concat_tables(tables).to_pandas()


def result_row(result: SubjectResult) -> dict:
    """What the store keeps of one result: the columns it queries by, and the JSON line itself."""
    return {"subject": result.subject, "subject_id": result.id,
            "branch_id": result.id if result.subject == "branch" else (result.branch_id or ""), "lamp": result.lamp,
            "vanguard_points": clean_number(result.vanguard_points),
            "vanguard_points_ytd": clean_number(result.vanguard_points_ytd), "body": result.to_json()}


STORE_RUN_LOCK = 0x64696167  # PostgreSQL advisory lock key held while a month's run is stored ("diag")


STORE_TURN_WAIT = 300.0  # seconds a run waits for another's storing to end (a district's takes a few)


def _store_turn(conn: Connection) -> None:
    """Take the advisory lock that stores one run at a time, for this transaction. Tried again every 50 ms,
    not waited for in one statement: the service reads a silent database as an outage after
    DIAGNOSIS_DB_TIMEOUT (1.5 s), and another run's storing may take longer."""
    deadline = time.monotonic() + STORE_TURN_WAIT
    while not conn.execute(text("select pg_try_advisory_xact_lock(:key)"), {"key": STORE_RUN_LOCK}).scalar():
        if time.monotonic() > deadline:
            raise StoreError(Problem(f"another diagnosis was still being stored after {STORE_TURN_WAIT:g} s",
                                     suggestion="try again when it is done"))
        time.sleep(0.05)


class StoreSink:
    """Keeps a month as the period's stored run: every result, the summary later steps need, the
    per-branch rows of the overviews and the events it causes (the outbox), in one transaction."""

    def __init__(self, engine: Engine, snapshot: Snapshot, actor: str, model: dict | None = None):
        self.engine = engine
        self.snapshot = snapshot
        self.actor = actor
        self.model = model  # what the model's routine did before the month, told with diagnosis.completed

    def keep(self, month: Month, before_commit: Callable[[Connection, int], None] | None = None) -> int:
        """The run's id. ``before_commit(conn, run_id)`` runs last in the transaction: what it writes is kept
        with the run or not at all, and if it raises, nothing is kept."""
        rows = [result_row(r) for r in month.branches] + [result_row(r) for r in month.members]
        summary = summary_json(month.summary())
        profiles = month.evaluator.dataset.branches[["street", "type"]].to_dict("index")
        aggregates = branch_month_rows(month.period, month.branches, month.members, profiles)
        added = cells(aggregates)

        streets = {b: str(p.get("street") or "") for b, p in profiles.items()}

        def step(conn: Connection) -> int:
            if conn.dialect.name == "postgresql":
                # One month stored at a time: its lamp.changed events compare with the previous month's lamps,
                # which a run being stored at the same moment by another process would not show yet (read
                # committed); waiting here, the statements after see it. SQLite has one writer anyway.
                _store_turn(conn)
            outbox = notify.Outbox(conn)
            notify.diagnosis_changes(outbox, month.period, month.branches, month.members, streets)
            run_id = results_store.save_run(conn, month.period, rows, version=self.snapshot.version or 0,
                                            digest=self.snapshot.digest, summary=summary, actor=self.actor)
            overview_store.save_period(conn, month.period, aggregates, added)
            notify.diagnosis_completed(outbox, month.period, run_id, self.snapshot.version, month.branches,
                                       month.members, self.model)
            outbox.flush()
            if before_commit is not None:
                before_commit(conn, run_id)
            return run_id

        return in_transaction(self.engine, step)


__all__ = ["StoreSink", "StoreSource", "dataset_from_rows", "rebuild_blocks", "result_row"]
