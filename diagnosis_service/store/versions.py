"""Versioned sets of files (rule sets, remedy catalogs): every published version, who published it,
when, why and what changed.

Exactly one version of a kind is active. Publishing and rolling back switch the active flag inside one
transaction, so readers see the old version or the new one, never neither.
"""

from __future__ import annotations

import json

from sqlalchemy import Table, func, select, update
from sqlalchemy.engine import Connection

from ..errors import Conflict, Problem
from . import now


class VersionTable:
    """The versions kept in one table (``rule_versions``, ``catalog_versions``)."""

    def __init__(self, table: Table, what: str, read_again: str):
        self.table = table
        self.what = what  # "rule set", "catalog": how conflicts name it
        self.read_again = read_again  # where a client reads the active version again

    def active(self, conn: Connection) -> dict | None:
        return _full(conn.execute(select(self.table).where(self.table.c.active.is_(True))).mappings().first())

    def active_version(self, conn: Connection) -> int | None:
        return conn.execute(select(self.table.c.version).where(self.table.c.active.is_(True))).scalar()

    def get(self, conn: Connection, version: int) -> dict | None:
        return _full(conn.execute(select(self.table).where(self.table.c.version == version)).mappings().first())

    def listing(self, conn: Connection) -> list[dict]:
        cols = [c for c in self.table.c if c.name not in ("files", "diff")]
        return [dict(r) for r in conn.execute(select(*cols).order_by(self.table.c.version.desc())).mappings()]

    def publish(self, conn: Connection, files: dict[str, str], digest: str, *, comment: str, author: str,
                based_on: int | None, diff: str) -> int:
        """Store a new version and make it the active one (in the caller's transaction), provided the
        active version is still ``based_on`` (None: the store has none yet). Otherwise Conflict: another
        publish or rollback came first, and this one was made on what is no longer there (never a lost
        update). The check is the update itself, so two publishes at once cannot both pass it."""
        t, stamp = self.table, now()
        if based_on is None:
            if self.active_version(conn) is not None:
                raise Conflict(Problem(f"the store has an active {self.what} already", field=("base_version",)))
        else:
            done = conn.execute(update(t).where(t.c.active.is_(True), t.c.version == based_on).values(active=False))
            if done.rowcount != 1:
                raise Conflict(Problem(f"version {based_on} is no longer the active one: version "
                                       f"{self.active_version(conn)} is", field=("base_version",),
                                       suggestion=f"read {self.read_again} again, apply your change to it and "
                                                  "publish that"))
        version = (conn.execute(select(func.max(t.c.version))).scalar() or 0) + 1
        conn.execute(t.insert().values(
            version=version, digest=digest, files=json.dumps(files, ensure_ascii=False, sort_keys=True), active=True,
            based_on=based_on, diff=diff, comment=comment, author=author, created_at=stamp, activated_at=stamp))
        return version

    def activate(self, conn: Connection, version: int) -> bool:
        t = self.table
        if conn.execute(select(t.c.version).where(t.c.version == version)).first() is None:
            return False
        conn.execute(update(t).where(t.c.active.is_(True)).values(active=False))
        conn.execute(update(t).where(t.c.version == version).values(active=True, activated_at=now()))
        return True


def _full(row) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    out["files"] = json.loads(out["files"])
    return out


__all__ = ["VersionTable"]
