"""Prescriptions as served (what was shown, in which order, with which scores and probabilities) and
the feedback on them: the log the effectiveness model learns from."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from . import now
from .schema import feedback, served, served_lists

STATUSES = ("adopted", "declined", "completed")


def log_list(conn: Connection, branch_id: str, period: str, ranker: str, source: str, actor: str,
             items: list[dict], catalog_version: int | None = None) -> tuple[int, list[int]]:
    """Store one shown list; ``items`` in the order shown, each with topic, rule, resource_id, kind,
    score, propensity and body; ``catalog_version``: the stored catalog it came from. Returns (list id,
    prescription ids)."""
    list_id = conn.execute(served_lists.insert().values(branch_id=branch_id, period=period, ranker=ranker,
                                                        catalog_version=catalog_version, source=source,
                                                        actor=actor, created_at=now())
                           ).inserted_primary_key[0]
    ids = []
    for position, item in enumerate(items):
        pid = conn.execute(served.insert().values(
            list_id=list_id, position=position, branch_id=branch_id, period=period, topic=item["topic"],
            rule=item["rule"], resource_id=item["resource_id"], kind=item["kind"], score=item["score"],
            propensity=item["propensity"], body=_body_text(item["body"]))
        ).inserted_primary_key[0]
        ids.append(int(pid))
    return int(list_id), ids


def _body_text(body: dict) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def same_as_latest(conn: Connection, branch_id: str, period: str, ranker: str, items: list[dict],
                   catalog_version: int | None = None) -> tuple[int, list[int]] | None:
    """(list id, prescription ids) of the latest list served to the branch for the month when it is the
    list ``log_list`` would store now (the same ranker and catalog version, the same items in the same
    order with the same scores, probabilities and bodies), else None. A platform asking again (a retry
    after a lost response, a screen shown twice) is then answered with the list it has, and the log
    keeps one showing: the learning counts a list shown again as the same decision anyway."""
    latest = _latest(conn, branch_id, period, served_lists.c.id, served_lists.c.ranker,
                     served_lists.c.catalog_version).first()
    if latest is None or latest.ranker != ranker or latest.catalog_version != catalog_version:
        return None
    rows = conn.execute(select(served.c.prescription_id, served.c.topic, served.c.rule, served.c.resource_id,
                               served.c.kind, served.c.score, served.c.propensity, served.c.body)
                        .where(served.c.list_id == latest.id).order_by(served.c.position)).all()
    if len(rows) != len(items):
        return None
    for row, item in zip(rows, items, strict=True):
        if tuple(row[1:]) != (item["topic"], item["rule"], item["resource_id"], item["kind"], float(item["score"]),
                              float(item["propensity"]), _body_text(item["body"])):
            return None
    return int(latest.id), [int(row.prescription_id) for row in rows]


def _latest(conn: Connection, branch_id: str, period: str, *columns):
    """``columns`` of the latest list served to the branch for the month (a result of at most one row)."""
    return conn.execute(select(*columns).where(served_lists.c.branch_id == branch_id, served_lists.c.period == period)
                        .order_by(served_lists.c.id.desc()).limit(1))


def latest_list(conn: Connection, branch_id: str, period: str) -> list[dict] | None:
    list_id = _latest(conn, branch_id, period, served_lists.c.id).scalar()
    if list_id is None:
        return None
    rows = conn.execute(select(served.c.prescription_id, served.c.body).where(served.c.list_id == list_id)
                        .order_by(served.c.position)).all()
    return [dict(json.loads(body), prescription_id=pid) for pid, body in rows]


def served_in(conn: Connection, branch_id: str, periods: Sequence[str]) -> list[tuple[str, str, str, bool]]:
    """(period, topic, resource_id, first) of everything served to the branch in ``periods``; ``first``:
    it was its topic's first item in its list."""
    return [row[1:5] for row in _with_first(conn, [served.c.branch_id == branch_id, served.c.period.in_(periods)])]


def served_during(conn: Connection, periods: Sequence[str]) -> list[tuple[str, str, str, str, bool, int]]:
    """(branch_id, period, topic, resource_id, first, list_id) of everything served to any branch in
    ``periods``; list ids grow in the order lists were served."""
    return _with_first(conn, [served.c.period.in_(periods)])


def _with_first(conn: Connection, where: list) -> list:
    rows = conn.execute(select(served.c.list_id, served.c.position, served.c.branch_id, served.c.period,
                               served.c.topic, served.c.resource_id).where(*where)
                        .order_by(served.c.list_id, served.c.position)).all()
    seen: set[tuple[int, str]] = set()
    out = []
    for list_id, _, branch_id, period, topic, resource_id in rows:
        out.append((branch_id, period, topic, resource_id, (list_id, topic) not in seen, list_id))
        seen.add((list_id, topic))
    return out


def served_before(conn: Connection, period: str) -> bool:
    """Whether any list was served for a month before ``period`` (one whose outcome may have begun)."""
    return conn.execute(select(served_lists.c.id).where(served_lists.c.period < period).limit(1)).first() is not None


def get(conn: Connection, prescription_id: int) -> dict | None:
    row = conn.execute(select(served).where(served.c.prescription_id == prescription_id)).mappings().first()
    return None if row is None else dict(row)


def add_feedback(conn: Connection, prescription_id: int, status: str, note: str | None, actor: str,
                 done_on: str | None = None) -> int:
    return int(conn.execute(feedback.insert().values(prescription_id=prescription_id, status=status, note=note,
                                                     done_on=done_on,
                                                     actor=actor, created_at=now())).inserted_primary_key[0])


def last_feedback(conn: Connection, prescription_id: int) -> dict | None:
    """The latest feedback row on one prescription (id, status, note, done_on), or None."""
    row = conn.execute(select(feedback.c.id, feedback.c.status, feedback.c.note, feedback.c.done_on)
                       .where(feedback.c.prescription_id == prescription_id)
                       .order_by(feedback.c.id.desc()).limit(1)).mappings().first()
    return None if row is None else dict(row)


def latest_feedback(conn: Connection, prescription_ids: Sequence[int]) -> dict[int, tuple[str, str, int]]:
    """prescription id -> (status, date, feedback id) of the latest feedback on each of them that has one;
    the date is the day it was done for a completed remedy, else the day the feedback was given."""
    out: dict[int, tuple[str, str, int]] = {}
    if not prescription_ids:
        return out
    rows = conn.execute(select(feedback.c.prescription_id, feedback.c.status, feedback.c.done_on,
                               feedback.c.created_at, feedback.c.id)
                        .where(feedback.c.prescription_id.in_(list(prescription_ids))).order_by(feedback.c.id))
    for pid, status, done_on, created, fid in rows:
        out[int(pid)] = (status, done_on or created.strftime("%Y-%m-%d"), int(fid))
    return out


def resource_counts(conn: Connection) -> dict[str, tuple[int, int, int]]:
    """resource_id -> (times served, answered, adopted or completed), by each prescription's latest answer."""
    out = {str(r): [int(n), 0, 0] for r, n in conn.execute(
        select(served.c.resource_id, func.count()).group_by(served.c.resource_id))}
    latest = (select(feedback.c.prescription_id, func.max(feedback.c.id).label("fid"))
              .group_by(feedback.c.prescription_id).subquery())
    for resource_id, status in conn.execute(
            select(served.c.resource_id, feedback.c.status)
            .join(latest, latest.c.prescription_id == served.c.prescription_id)
            .join(feedback, feedback.c.id == latest.c.fid)):
        counts = out.setdefault(str(resource_id), [0, 0, 0])
        counts[1] += 1
        counts[2] += status in ("adopted", "completed")
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def adopted_in(conn: Connection, periods: Sequence[str], branch_id: str | None = None) -> list[tuple[str, str, str]]:
    """(branch_id, period, resource_id) of what was served in ``periods`` (to ``branch_id`` alone, if
    given) and, by its latest answer, adopted or completed; sorted."""
    latest = (select(feedback.c.prescription_id, func.max(feedback.c.id).label("fid"))
              .group_by(feedback.c.prescription_id).subquery())
    where = [served.c.period.in_(periods), feedback.c.status.in_(("adopted", "completed"))]
    if branch_id is not None:
        where.append(served.c.branch_id == branch_id)
    rows = conn.execute(
        select(served.c.branch_id, served.c.period, served.c.resource_id)
        .join(latest, latest.c.prescription_id == served.c.prescription_id)
        .join(feedback, feedback.c.id == latest.c.fid)
        .where(*where))
    return sorted({(str(b), str(p), str(r)) for b, p, r in rows})


def first_items(conn: Connection) -> list[tuple]:
    """The first recommendation for each weakness (rule) of every shown list, in the order shown:
    (list_id, branch_id, period, topic, rule, resource_id, kind, propensity, body, catalog_version)."""
    first = (select(served.c.list_id, served.c.rule, func.min(served.c.position).label("position"))
             .group_by(served.c.list_id, served.c.rule).subquery())
    return [tuple(r) for r in conn.execute(
        select(served.c.list_id, served.c.branch_id, served.c.period, served.c.topic, served.c.rule,
               served.c.resource_id, served.c.kind, served.c.propensity, served.c.body,
               served_lists.c.catalog_version)
        .join(first, and_(served.c.list_id == first.c.list_id, served.c.rule == first.c.rule,
                          served.c.position == first.c.position))
        .join(served_lists, served_lists.c.id == served.c.list_id)
        .order_by(served.c.list_id, served.c.position))]


def feedback_given(conn: Connection) -> list[tuple]:
    """Every feedback in the order given, with what it answered: (branch_id, period, rule, resource_id,
    status)."""
    return [tuple(r) for r in conn.execute(
        select(served.c.branch_id, served.c.period, served.c.rule, served.c.resource_id, feedback.c.status)
        .join(served, served.c.prescription_id == feedback.c.prescription_id).order_by(feedback.c.id))]


__all__ = ["STATUSES", "adopted_in", "add_feedback", "feedback_given", "first_items", "get", "latest_feedback", "latest_list",
           "log_list", "resource_counts", "same_as_latest", "served_during", "served_in"]
