"""The store as a source of months and as their sink: datasets from its rows, results into its rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection, Engine

from ..data.model import Dataset
from ..data.sources import HISTORY_MONTHS
from ..engine.findings import SubjectResult, clean_number
from ..periods import months_before, parse_period
from ..rules.model import Registry
from ..store import metrics as metrics_store
from ..store import overview as overview_store
from ..store import results as results_store
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

    def load(self, registry: Registry, period: str | None = None, months: int = HISTORY_MONTHS) -> Dataset:
        if isinstance(self.engine, Connection):
            return dataset_from_rows(self.engine, registry, period, months)
        with self.engine.connect() as conn:
            return dataset_from_rows(conn, registry, period, months)


def dataset_from_rows(conn: Connection, registry: Registry, period: str | None,
                      months: int = HISTORY_MONTHS) -> Dataset:
    """Every organisation and the ``months`` months up to ``period`` (every stored month without one)."""
    wanted = months_before(period, months) if period else metrics_store.periods(conn)
    branch_rows, member_rows = metrics_store.profiles(conn)
    branch_frame = pd.DataFrame(branch_rows, columns=["branch_id", "name", "type", "street"])
    member_frame = pd.DataFrame(member_rows, columns=["member_id", "branch_id", "name"])
    frames = {}
    for subject in ("branch", "member"):
        key = metrics_store.KEYS[subject]
        reported = [i.id for i in registry.reported(subject)]
        out = metrics_store.metric_frame(conn, subject, reported, wanted)
        pidx = {p: parse_period(p) for p in set(out["period"])}
        out.insert(0, "pidx", np.array([pidx[p] for p in out["period"]], dtype=np.int64))
        # Sorted here, not by the database: its collation may order ids differently from Python.
        frames[subject] = out.sort_values(["pidx", key], kind="stable").reset_index(drop=True)
    return Dataset(branch_frame.set_index("branch_id"), member_frame.set_index("member_id"), frames["branch"],
                   frames["member"], source="store")


def result_row(result: SubjectResult) -> dict:
    """What the store keeps of one result: the columns it queries by, and the JSON line itself."""
    return {"subject": result.subject, "subject_id": result.id,
            "branch_id": result.id if result.subject == "branch" else (result.branch_id or ""), "lamp": result.lamp,
            "vanguard_points": clean_number(result.vanguard_points),
            "vanguard_points_ytd": clean_number(result.vanguard_points_ytd), "body": result.to_json()}


class StoreSink:
    """Keeps a month as the period's stored run: every result, the summary later steps need, the
    per-branch rows of the overviews and the events it causes (the outbox), in one transaction."""

    def __init__(self, engine: Engine, snapshot: Snapshot, actor: str):
        self.engine = engine
        self.snapshot = snapshot
        self.actor = actor

    def keep(self, month: Month) -> int:
        rows = [result_row(r) for r in month.branches] + [result_row(r) for r in month.members]
        summary = summary_json(month.summary())
        profiles = month.evaluator.dataset.branches[["street", "type"]].to_dict("index")
        aggregates = branch_month_rows(month.period, month.branches, month.members, profiles)
        added = cells(aggregates)

        streets = {b: str(p.get("street") or "") for b, p in profiles.items()}

        def step(conn: Connection) -> int:
            outbox = notify.Outbox(conn)
            notify.diagnosis_changes(outbox, month.period, month.branches, month.members, streets)
            run_id = results_store.save_run(conn, month.period, rows, version=self.snapshot.version or 0,
                                            digest=self.snapshot.digest, summary=summary, actor=self.actor)
            overview_store.save_period(conn, month.period, aggregates, added)
            notify.diagnosis_completed(outbox, month.period, run_id, self.snapshot.version, month.branches,
                                       month.members)
            outbox.flush()
            return run_id

        return in_transaction(self.engine, step)


__all__ = ["StoreSink", "StoreSource", "dataset_from_rows", "result_row"]
