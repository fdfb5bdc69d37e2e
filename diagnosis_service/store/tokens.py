"""API tokens: random, shown once, stored only as a SHA-256 hash (a random 256-bit token needs no slow
hash: there is nothing to guess)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from ..errors import InputError, Problem
from . import now
from .metrics import streets
from .schema import api_tokens, branches

ROLES = ("platform", "admin", "street", "secretary")
MAX_NAME = 64  # "role:name" is what the audit columns (100 characters) keep of who did what
PREFIX = "ds_"


@dataclass(frozen=True)
class Identity:
    name: str
    role: str
    branch_id: str | None = None  # a secretary's branch
    street: str | None = None  # a street role's street (街道/镇)
    shown: str | None = None  # what a page shows, where ``name`` says more for the log (a ticket's number)

    @property
    def display_name(self) -> str:
        return self.shown or self.name


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(conn: Connection, name: str, role: str, branch_id: str | None = None, street: str | None = None) -> str:
    """A new token (returned once, never stored in clear): a secretary's is tied to a branch, a street
    role's to a street (街道/镇) that has branches."""
    problems = []
    if role not in ROLES:
        problems.append(Problem(f"unknown role '{role}'", field=("role",), suggestion="roles: " + ", ".join(ROLES)))
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME or not name.isprintable() or name != name.strip():
        problems.append(Problem(f"a token needs a name of 1 to {MAX_NAME} printable characters (no surrounding "
                                "spaces)", field=("name",)))
    if role == "secretary" and not branch_id:
        problems.append(Problem("a secretary's token needs a branch", field=("branch",)))
    if role != "secretary" and branch_id:
        problems.append(Problem("only a secretary's token is tied to a branch", field=("branch",)))
    if role == "street" and not street:
        problems.append(Problem("a street role's token needs a street", field=("street",)))
    if role != "street" and street:
        problems.append(Problem("only a street role's token is tied to a street", field=("street",)))
    if street and conn.execute(select(branches.c.branch_id).where(branches.c.street == street).limit(1)).first() is None:
        known = streets(conn)
        problems.append(Problem(f"no branch is in street '{street}'"[:200], field=("street",),
                                suggestion=("streets: " + ", ".join(known[:20])) if known else
                                "import the district first (diagnosis-service import DIR)"))
    if branch_id is not None and (not branch_id.isprintable() or len(branch_id) > 64):
        problems.append(Problem("a branch id is at most 64 printable characters", field=("branch",)))
    elif branch_id and conn.execute(select(branches.c.branch_id).where(branches.c.branch_id == branch_id)).first() is None:
        problems.append(Problem(f"unknown branch '{branch_id}'", field=("branch",),
                                suggestion="import the district first (diagnosis-service import DIR)"))
    held = conn.execute(select(api_tokens.c.revoked_at).where(api_tokens.c.name == name)).first() if not problems else None
    if held is not None:
        problems.append(Problem(f"a token named '{name}' exists" + (" (revoked)" if held[0] else ""), field=("name",),
                                suggestion="choose another name (a revoked token keeps its name, for the record)"
                                if held[0] else "choose another name, or revoke that one"))
    if problems:
        raise InputError(problems)
    token = PREFIX + secrets.token_urlsafe(32)
    conn.execute(api_tokens.insert().values(name=name, role=role, branch_id=branch_id, street=street,
                                            token_hash=token_hash(token), created_at=now()))
    return token


def revoke(conn: Connection, name: str) -> bool:
    done = conn.execute(update(api_tokens).where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
                        .values(revoked_at=now()))
    return done.rowcount > 0


def verify(conn: Connection, token: str) -> Identity | None:
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    return verify_hash(conn, token_hash(token))


# Built once: every request runs it, and building a statement costs more than running it.
_BY_HASH = select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.branch_id, api_tokens.c.street).where(
    api_tokens.c.token_hash == bindparam("digest"), api_tokens.c.revoked_at.is_(None))


def verify_hash(conn: Connection, digest: str) -> Identity | None:
    """The identity of an unrevoked token by its hash (the report page keeps only the hash in its cookie)."""
    row = conn.execute(_BY_HASH, {"digest": digest}).first()
    return None if row is None else Identity(row[0], row[1], row[2], row[3])


def listing(conn: Connection) -> list[dict]:
    rows = conn.execute(select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.branch_id, api_tokens.c.street,
                               api_tokens.c.created_at, api_tokens.c.revoked_at).order_by(api_tokens.c.name)).mappings()
    return [dict(r) for r in rows]
