"""One-time login tickets: the platform asks for one for a secretary and links them to the page with it,
so secretaries need not paste tokens. A ticket is random (256 bits), stored only as its SHA-256 hash,
redeemed at most once and only before it expires; the session it opens reads its row (and lasts as a
session does: it cannot be revoked before it ends)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from ..errors import NotFound, Problem
from . import now
from .schema import branches, login_tickets
from .tokens import Identity, token_hash

PREFIX = "lt_"


def create(conn: Connection, branch_id: str, user: str, issued_by: str, seconds: float) -> tuple[str, datetime]:
    """A new ticket for a secretary (named ``user``) of ``branch_id``, returned once, and when it expires;
    NotFound for a branch the store does not know (the caller has checked both are well-formed)."""
    if conn.execute(select(branches.c.branch_id).where(branches.c.branch_id == branch_id)).first() is None:
        raise NotFound(Problem(f"no branch '{branch_id}'", field=("branch_id",),
                               suggestion="import the district first, or check the id"))
    ticket = PREFIX + secrets.token_urlsafe(32)
    created = now()
    expires = created + timedelta(seconds=seconds)
    conn.execute(login_tickets.insert().values(ticket_hash=token_hash(ticket), branch_id=branch_id, user_name=user,
                                               issued_by=issued_by, created_at=created, expires_at=expires))
    return ticket, expires


def peek(conn: Connection, ticket: str) -> tuple[str, str] | None:
    """(branch id, user) of a ticket that could be redeemed now, without redeeming it."""
    if not isinstance(ticket, str) or not ticket.startswith(PREFIX) or len(ticket) > 100:
        return None
    row = conn.execute(select(login_tickets.c.branch_id, login_tickets.c.user_name).where(
        login_tickets.c.ticket_hash == token_hash(ticket), login_tickets.c.used_at.is_(None),
        login_tickets.c.expires_at > now())).first()
    return None if row is None else (row[0], row[1])


def redeem(conn: Connection, ticket: str) -> int | None:
    """Marks the ticket used and returns its id, when it is known, unused and not expired; else None.
    One UPDATE decides, so two redemptions racing cannot both succeed."""
    if not isinstance(ticket, str) or not ticket.startswith(PREFIX) or len(ticket) > 100:
        return None
    moment = now()
    digest = token_hash(ticket)
    done = conn.execute(update(login_tickets).where(login_tickets.c.ticket_hash == digest,
                                                    login_tickets.c.used_at.is_(None),
                                                    login_tickets.c.expires_at > moment).values(used_at=moment))
    if done.rowcount != 1:
        return None
    return conn.execute(select(login_tickets.c.id).where(login_tickets.c.ticket_hash == digest)).scalar_one()


def identity(conn: Connection, ticket_id: int) -> Identity | None:
    """Who a redeemed ticket's session is: the branch's secretary, named as the platform named them."""
    row = conn.execute(select(login_tickets.c.branch_id, login_tickets.c.user_name).where(
        login_tickets.c.id == ticket_id, login_tickets.c.used_at.is_not(None))).first()
    return None if row is None else Identity(f"{row[1]} (ticket {ticket_id})", "secretary", row[0], shown=row[1])


__all__ = ["PREFIX", "create", "identity", "peek", "redeem"]
