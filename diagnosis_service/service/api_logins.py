"""One-time login tickets: the platform links a secretary to their branch's page without a token."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, current_app, jsonify, url_for

from ..data.text import id_problem, label_problem
from ..errors import InputError, Problem, unknown_fields
from ..periods import check_period
from ..store import tickets as tickets_store
from .auth import actor, roles
from .db import write
from .request_args import json_body

bp = Blueprint("logins", __name__, url_prefix="/v1")
FIELDS = ("branch_id", "user", "period", "lang")


@bp.post("/login-tickets")
@roles("platform")
def post_login_ticket():
    """A ticket for the secretary of a branch, redeemed once within five minutes at the returned url."""
    body = json_body()
    if not isinstance(body, dict):
        raise InputError(Problem('the body must be {"branch_id": "...", "user": "..."}', field=()))
    problems = unknown_fields(body, FIELDS)
    for key in ("branch_id", "user"):
        check = id_problem if key == "branch_id" else label_problem  # a user's name may hold any character
        problem = check(body.get(key)) if key in body else "is required"
        if problem:
            problems.append(Problem(f"{key} {problem}"[:300], field=(key,)))
    if body.get("lang") not in (None, "zh", "en"):
        problems.append(Problem("lang must be zh or en", field=("lang",)))
    if problems:
        raise InputError(problems)
    period = body.get("period")
    if period is not None:
        check_period(period, "period")
    seconds = current_app.config["LOGIN_TICKET_SECONDS"]
    who = actor()
    ticket, expires = write(lambda conn: tickets_store.create(conn, body["branch_id"], body["user"], who, seconds))
    url = url_for("pages.ticket_login", ticket=ticket, period=period, lang=body.get("lang"))
    return jsonify({"ticket": ticket, "url": url, "branch_id": body["branch_id"],
                    "expires_at": expires.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
                    "expires_in": int(seconds)}), 201
