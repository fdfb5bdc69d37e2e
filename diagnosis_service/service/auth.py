"""Who is calling: a bearer token (or, for the report page, the login cookie), and what that role may do.

Roles are enforced here, on the server: ``platform`` may do everything but publish rules; ``admin``
manages rules and reads everything; a ``secretary`` reads and acts for their own branch only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import abort, g, request, session

from ..store import tokens as tokens_store
from .db import get_db

PUBLIC = {"health.healthz", "pages.login", "pages.login_post", "static"}
READERS = ("platform", "admin", "secretary")


def identify() -> tokens_store.Identity | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return tokens_store.verify(get_db(), token.strip())
    digest = session.get("token_hash")
    if digest and request.blueprint == "pages":
        return tokens_store.verify_hash(get_db(), digest)
    return None


def load_identity() -> None:
    """before_request: 401 for a missing or bad token, except on public endpoints."""
    g.identity = None
    if request.endpoint in PUBLIC or request.endpoint is None:
        return
    identity = identify()
    if identity is None:
        if request.blueprint == "pages":
            return  # the page view redirects to the login form
        abort(401, description="a valid token is required: Authorization: Bearer <token>")
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
            return view(*args, **kwargs)

        return inner

    return wrap


def require_branch(branch_id: str | None) -> None:
    """A secretary may only touch their own branch."""
    identity = g.identity
    if identity.role == "secretary" and branch_id != identity.branch_id:
        abort(403, description="a secretary may only see their own branch")


def actor() -> str:
    identity = g.get("identity")
    return f"{identity.role}:{identity.name}" if identity else "anonymous"
