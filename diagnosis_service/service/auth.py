"""Who is calling: a bearer token (or, for the pages, the login session), and what that role may do.

Roles are enforced here, on the server: ``platform`` may do everything but publish rules; ``admin``
manages rules and reads everything; ``street`` reads the branches and members of its street (街道/镇);
a ``secretary`` reads and acts for their own branch only.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from flask import abort, g, request

from ..errors import NotFound, Problem
from ..pipeline.rankings import Scope
from ..store import metrics as metrics_store
from ..store import overview as overview_store
from ..store import tickets as tickets_store
from ..store import tokens as tokens_store
from .db import get_db
from .query_check import check_query
from .session import current_login

PUBLIC = {"health.healthz", "health.readyz", "pages.login", "pages.login_post", "pages.ticket_login", "pages.ticket_post",
          "static"}
READERS = ("platform", "admin", "street", "secretary")
# Verified tokens are remembered for a second: a lookup per request costs as much as the cheapest
# endpoints themselves. A revoked token therefore stops working within a second, in every process.
IDENTITY_TTL = 1.0
MAX_CACHED = 10_000
_verified: dict[str, tuple[tokens_store.Identity, float]] = {}


def _by_hash(digest: str) -> tokens_store.Identity | None:
    now = time.monotonic()
    hit = _verified.get(digest)
    if hit is not None and hit[1] > now:
        return hit[0]
    identity = tokens_store.verify_hash(get_db(), digest)
    if identity is not None:
        if len(_verified) >= MAX_CACHED:
            _verified.clear()
        _verified[digest] = (identity, now + IDENTITY_TTL)
    else:
        _verified.pop(digest, None)
    return identity


def bearer_given() -> bool:
    """Whether the request carries a bearer token at all (the scheme in any case, as ``identify`` reads it)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def identify() -> tokens_store.Identity | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith(tokens_store.PREFIX) or len(token) > 200:
            return None
        return _by_hash(tokens_store.token_hash(token))
    if request.blueprint != "pages":
        return None
    login = current_login()
    if login is None:
        return None
    kind, value = login
    if kind == "token_hash" and isinstance(value, str):
        return _by_hash(value)
    if kind == "ticket_id" and isinstance(value, int):
        return tickets_store.identity(get_db(), value)
    return None


def load_identity() -> None:
    """before_request: 401 for a missing or bad token, except on public endpoints (the sign-in pages
    still learn whether a session just ended, to say so)."""
    g.identity = None
    if request.endpoint in PUBLIC or request.endpoint is None:
        if request.blueprint == "pages":
            current_login()
        return
    identity = identify()
    if identity is None:
        if request.blueprint == "pages":
            return  # the page view redirects to the login form
        # A token that was given but not accepted is told apart from none (RFC 6750's invalid_token); why it
        # was not (unknown, revoked, mistyped) is not said.
        abort(401, description="the token given is not valid (unknown or revoked): Authorization: Bearer <token>"
              if bearer_given() else "a valid token is required: Authorization: Bearer <token>")
    g.identity = identity


def roles(*allowed: str) -> Callable:
    """Only these roles may call the view (a secretary's branch is checked by the view itself)."""

    def wrap(view: Callable) -> Callable:
        view.roles = allowed  # read by the OpenAPI document

        @functools.wraps(view)
        def inner(*args, **kwargs):
            identity = g.get("identity")
            if identity is None:
                abort(401, description="a valid token is required: Authorization: Bearer <token>")
            if identity.role not in allowed:
                abort(403, description=f"the {identity.role} role may not do this (allowed: {', '.join(allowed)})")
            check_query()  # after who may ask: a caller without a token learns nothing of the parameters
            return view(*args, **kwargs)

        return inner

    return wrap


def require_branch(branch_id: str | None) -> None:
    """A secretary may only touch their own branch; a street role only the branches of its street (an
    unknown branch gets the same 403 as another's: the answer says nothing of what exists)."""
    identity = g.identity
    if identity.role == "secretary" and branch_id != identity.branch_id:
        abort(403, description="a secretary may only see their own branch")
    if identity.role == "street" and (branch_id is None or _street_of(branch_id) != identity.street):
        abort(403, description="a street role may only see the branches of its street")


def require_member(member_id: str) -> None:
    """A member is seen by whoever may see their branch."""
    if g.identity.role in ("secretary", "street"):
        require_branch(metrics_store.member_branch(get_db(), member_id))


def _street_of(branch_id: str) -> str | None:
    found = metrics_store.branch(get_db(), branch_id)
    return None if found is None else found["street"]


def scoped(street: str | None = None, branch_type: str | None = None, branch_id: str | None = None) -> Scope:
    """The scope a caller asked for, narrowed to what its role may see: a street role sees its street
    (asking for another is 403), a secretary their branch (``branch_id`` required: 403 without it)."""
    identity = g.identity
    if identity.role == "street":
        if street is not None and street != identity.street:
            abort(403, description="a street role may only see its own street")
        if branch_id is not None:
            require_branch(branch_id)
        return Scope(identity.street, branch_type, branch_id)
    if identity.role == "secretary":
        if branch_id is None:
            abort(403, description="a secretary may only see their own branch (give branch_id)")
        require_branch(branch_id)
    if street is not None and identity.role != "secretary":  # a secretary is told nothing of what exists
        known = known_streets()
        if street not in known:  # else an empty answer would read as "nothing diagnosed there"
            raise NotFound(Problem(f"no branch in street {street[:40]!r} (streets: {'、'.join(known) or 'none yet'})",
                                   field=("query", "street")))
    if branch_id is not None and identity.role in ("platform", "admin") and not metrics_store.known_ids(
            get_db(), "branch", [branch_id]):  # else an empty answer would read as "nothing to say of it"
        raise NotFound(Problem(f"no branch {branch_id[:64]!r}", field=("query", "branch_id"),
                               suggestion="a branch_id sent with a month's metrics"))
    return Scope(street, branch_type, branch_id)


def known_streets() -> list[str]:
    """The streets a scope may name: those of today's branches and those the stored months were
    diagnosed under (a branch may have moved, a street been renamed, since)."""
    conn = get_db()
    return sorted(set(metrics_store.streets(conn)) | set(overview_store.streets(conn)))


def actor() -> str:
    identity = g.get("identity")
    return f"{identity.role}:{identity.name}" if identity else "anonymous"
