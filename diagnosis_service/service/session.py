"""The page login: what the signed session cookie holds, when it ends, and the forms' CSRF token.

A login keeps only a reference in the cookie (the token's hash, or a redeemed ticket's id), so revoking
the token ends the session. A session ends after ``PERMANENT_SESSION_LIFETIME`` from the login, or
after ``SESSION_IDLE_SECONDS`` without a page opened (both checked here, on the server, whatever the
browser keeps). Every form carries the session's CSRF token and every POST checks it; the cookie is
also ``SameSite=Lax``, so another site cannot post with it.
"""

from __future__ import annotations

import hmac
import secrets
import time

from flask import current_app, g, request, session

KINDS = ("token_hash", "ticket_id")
TOUCH_EVERY = 60  # seconds: the idle clock is refreshed at most this often (each refresh re-sends the cookie)


class CsrfError(Exception):
    """A form posted without the session's CSRF token (expired page, or another site)."""


def start(kind: str, value: str | int) -> None:
    """A new login (a fresh session: nothing of an earlier one survives it)."""
    session.clear()
    session.permanent = True
    now = int(time.time())
    session.update({kind: value, "login_at": now, "seen_at": now, "csrf": secrets.token_urlsafe(24)})


def end() -> None:
    session.clear()


def current_login() -> tuple[str, str | int] | None:
    """(kind, value) of the session's login while it lasts; an ended one is cleared (``g.session_expired``)."""
    kind = next((k for k in KINDS if k in session), None)
    if kind is None:
        return None
    now = time.time()
    login_at, seen_at = session.get("login_at"), session.get("seen_at")
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    idle = current_app.config["SESSION_IDLE_SECONDS"]
    if (not isinstance(login_at, int) or not isinstance(seen_at, int) or now - login_at > lifetime
            or now - seen_at > idle):
        session.clear()
        g.session_expired = True
        return None
    if now - seen_at >= TOUCH_EVERY:
        session["seen_at"] = int(now)
    return kind, session[kind]


def csrf_token() -> str:
    """The session's CSRF token for a form (made on first use, e.g. for the login form)."""
    if not isinstance(session.get("csrf"), str):
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    expected, given = session.get("csrf"), request.form.get("csrf", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfError()


__all__ = ["CsrfError", "check_csrf", "csrf_token", "current_login", "end", "start"]
