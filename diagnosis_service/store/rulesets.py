"""Rule-set versions: every published set of rule files, who published it, when, why and what changed.

Exactly one version is active. Publishing and rolling back switch the active flag inside one
transaction, so readers see the old version or the new one, never neither.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from ..errors import Conflict, Problem
from . import now
from .schema import rule_versions


def active(conn: Connection) -> dict | None:
    row = conn.execute(select(rule_versions).where(rule_versions.c.active.is_(True))).mappings().first()
    return _full(row)


def active_version(conn: Connection) -> int | None:
    return conn.execute(select(rule_versions.c.version).where(rule_versions.c.active.is_(True))).scalar()


def get(conn: Connection, version: int) -> dict | None:
    return _full(conn.execute(select(rule_versions).where(rule_versions.c.version == version)).mappings().first())


def listing(conn: Connection) -> list[dict]:
    cols = [c for c in rule_versions.c if c.name not in ("files", "diff")]
    return [dict(r) for r in conn.execute(select(*cols).order_by(rule_versions.c.version.desc())).mappings()]


def publish(conn: Connection, files: dict[str, str], digest: str, *, comment: str, author: str,
            based_on: int | None, diff: str) -> int:
    """Store a new version and make it the active one (in the caller's transaction), provided the active
    version is still ``based_on`` (None: the store has none yet). Otherwise Conflict: another publish or
    rollback came first, and this one was made on what is no longer there (never a lost update).
    The check is the update itself, so two publishes at once cannot both pass it."""
    stamp = now()
    if based_on is None:
        if active_version(conn) is not None:
            raise Conflict(Problem("the store has an active rule set already", field=("base_version",)))
    else:
        done = conn.execute(update(rule_versions).where(rule_versions.c.active.is_(True),
                                                        rule_versions.c.version == based_on).values(active=False))
        if done.rowcount != 1:
            raise Conflict(Problem(f"version {based_on} is no longer the active one: version "
                                   f"{active_version(conn)} is", field=("base_version",),
                                   suggestion="read GET /v1/rules again, apply your change to it and publish that"))
    version = (conn.execute(select(func.max(rule_versions.c.version))).scalar() or 0) + 1
    conn.execute(rule_versions.insert().values(
        version=version, digest=digest, files=json.dumps(files, ensure_ascii=False, sort_keys=True), active=True,
        based_on=based_on, diff=diff, comment=comment, author=author, created_at=stamp, activated_at=stamp))
    return version


def activate(conn: Connection, version: int) -> bool:
    if conn.execute(select(rule_versions.c.version).where(rule_versions.c.version == version)).first() is None:
        return False
    conn.execute(update(rule_versions).where(rule_versions.c.active.is_(True)).values(active=False))
    conn.execute(update(rule_versions).where(rule_versions.c.version == version).values(active=True,
                                                                                         activated_at=now()))
    return True


def _full(row) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    out["files"] = json.loads(out["files"])
    return out
