"""Prescriptions as served (what was shown, in which order, with which scores and probabilities) and
the feedback on them: the log the effectiveness model learns from."""

from __future__ import annotations

import json

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from ..data.model import parse_period, period_str
from ..remedies.prescribe import History
from . import now
from .schema import feedback, served, served_lists

STATUSES = ("adopted", "declined", "completed")


def log_list(conn: Connection, branch_id: str, period: str, ranker: str, source: str, actor: str,
             items: list[dict]) -> tuple[int, list[int]]:
    """Store one shown list; ``items`` in the order shown, each with topic, rule, resource_id, kind,
    score, propensity and body. Returns (list id, prescription ids)."""
    list_id = conn.execute(served_lists.insert().values(branch_id=branch_id, period=period, ranker=ranker,
                                                        source=source, actor=actor, created_at=now())
                           ).inserted_primary_key[0]
    ids = []
    for position, item in enumerate(items):
        pid = conn.execute(served.insert().values(
            list_id=list_id, position=position, branch_id=branch_id, period=period, topic=item["topic"],
            rule=item["rule"], resource_id=item["resource_id"], kind=item["kind"], score=item["score"],
            propensity=item["propensity"], body=json.dumps(item["body"], ensure_ascii=False, sort_keys=True))
        ).inserted_primary_key[0]
        ids.append(int(pid))
    return int(list_id), ids


def latest_list(conn: Connection, branch_id: str, period: str) -> list[dict] | None:
    list_id = conn.execute(select(served_lists.c.id).where(served_lists.c.branch_id == branch_id,
                                                           served_lists.c.period == period)
                           .order_by(served_lists.c.id.desc()).limit(1)).scalar()
    if list_id is None:
        return None
    rows = conn.execute(select(served.c.prescription_id, served.c.body).where(served.c.list_id == list_id)
                        .order_by(served.c.position)).all()
    return [dict(json.loads(body), prescription_id=pid) for pid, body in rows]


def history(conn: Connection, branch_id: str, period: str, months: int) -> History:
    """What was served to the branch in the ``months`` months before ``period``."""
    last = parse_period(period)
    wanted = [period_str(p) for p in range(last - months, last)]
    h = History()
    rows = conn.execute(select(served.c.period, served.c.topic, served.c.resource_id).where(
        served.c.branch_id == branch_id, served.c.period.in_(wanted)))
    for p, topic, rid in rows:
        h.add(branch_id, p, topic, rid)
    return h


def get(conn: Connection, prescription_id: int) -> dict | None:
    row = conn.execute(select(served).where(served.c.prescription_id == prescription_id)).mappings().first()
    return None if row is None else dict(row)


def add_feedback(conn: Connection, prescription_id: int, status: str, note: str | None, actor: str) -> int:
    return int(conn.execute(feedback.insert().values(prescription_id=prescription_id, status=status, note=note,
                                                     actor=actor, created_at=now())).inserted_primary_key[0])


def decisions(conn: Connection, ruleset) -> tuple:
    """The served log as the effectiveness model reads it: one row per weakness of a branch in a month
    (a list shown again is the same decision, not a new one): the first recommendation of the latest
    showing that got feedback, else of the latest showing, with the latest feedback on it as status
    (none: ignored), and the branch's metrics to measure outcomes."""
    import pandas as pd

    from ..engine.derive import derive_own
    from ..learning.outcomes import LOG_COLUMNS
    from .metrics import load_dataset
    from .schema import branches

    first = (select(served.c.list_id, served.c.rule, func.min(served.c.position).label("position"))
             .group_by(served.c.list_id, served.c.rule).subquery())
    # Feedback may be given on any showing of the same recommendation: keyed by what was recommended.
    status = {tuple(key): st for *key, st in conn.execute(
        select(served.c.branch_id, served.c.period, served.c.rule, served.c.resource_id, feedback.c.status)
        .join(served, served.c.prescription_id == feedback.c.prescription_id).order_by(feedback.c.id))}
    info = {r[0]: (r[1], r[2]) for r in conn.execute(select(branches.c.branch_id, branches.c.type,
                                                            branches.c.street))}
    shown: dict[tuple, list[dict]] = {}
    for branch_id, period, topic, rule, rid, kind, prop, body in conn.execute(
            select(served.c.branch_id, served.c.period, served.c.topic, served.c.rule, served.c.resource_id,
                   served.c.kind, served.c.propensity, served.c.body)
            .join(first, and_(served.c.list_id == first.c.list_id, served.c.rule == first.c.rule,
                              served.c.position == first.c.position))
            .order_by(served.c.list_id, served.c.position)):
        need = json.loads(body).get("need", {})
        btype, street = info.get(branch_id, ("other", None))
        shown.setdefault((branch_id, period, rule), []).append({
            "branch_id": branch_id, "period": period, "pidx": parse_period(period), "topic": topic, "rule": rule,
            "indicator": need.get("indicator"), "resource_id": rid, "kind": kind, "propensity": prop,
            "status": status.get((branch_id, period, rule, rid), "ignored"), "branch_type": btype, "street": street,
            "members": need.get("members", 0), "value": need.get("value"), "reference": need.get("reference")})
    # A retrained model may have put another resource first in a later showing: the one the secretary
    # answered is the decision.
    rows = [next((r for r in reversed(shown[k]) if r["status"] != "ignored"), shown[k][-1]) for k in sorted(shown)]
    log = pd.DataFrame(rows, columns=list(LOG_COLUMNS))
    if log.empty:
        return log, pd.DataFrame(columns=["pidx", "branch_id"])
    last = period_str(int(log["pidx"].max()) + 3)
    dataset = load_dataset(conn, ruleset.registry, last, months=int(log["pidx"].max() - log["pidx"].min()) + 4)
    return log, derive_own(dataset.branch_metrics, "branch", ruleset)
