"""Webhooks (admin): subscriptions, their delivery log and redelivery (docs/webhooks.md)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..pipeline import webhooks
from ..store.webhooks import STATUSES
from .auth import actor, roles
from .db import get_db, runtime
from .request_args import check_id, choice_arg, int_arg, json_body

bp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks")


@bp.post("")
@roles("admin")
def create():
    """A subscription: a target URL whose host is allowed, event types, an optional street or branches.
    The answer carries the signing secret, shown this once."""
    settings = runtime().settings
    out = webhooks.create(runtime().engine, json_body(), actor(), settings.webhook_allowed_hosts, settings.secret())
    return jsonify(out), 201


@bp.get("")
@roles("admin")
def listing():
    return jsonify(webhooks.listing(get_db()))


@bp.get("/<int:subscription_id>")
@roles("admin")
def one(subscription_id: int):
    return jsonify(webhooks.one(get_db(), check_id(subscription_id, "id")))


@bp.delete("/<int:subscription_id>")
@roles("admin")
def delete(subscription_id: int):
    """Stop delivering to it: its pending deliveries are cancelled, its log is kept."""
    return jsonify(webhooks.delete(runtime().engine, check_id(subscription_id, "id")))


@bp.post("/<int:subscription_id>/secret")
@roles("admin")
def rotate_secret(subscription_id: int):
    """A new signing secret, shown this once; deliveries from now on are signed with it."""
    settings = runtime().settings
    return jsonify(webhooks.rotate_secret(runtime().engine, check_id(subscription_id, "id"), settings.secret()))


@bp.get("/<int:subscription_id>/deliveries")
@roles("admin")
def deliveries(subscription_id: int):
    """The delivery log, newest first: status, attempts, last status and error, next try."""
    status = choice_arg("status", STATUSES)
    limit = int_arg("limit", 100, 1, 1000)
    offset = int_arg("offset", 0, 0, 10_000_000)
    return jsonify(webhooks.deliveries(get_db(), check_id(subscription_id, "id"), status, limit, offset))


@bp.post("/<int:subscription_id>/deliveries/<int:delivery_id>/redeliver")
@roles("admin")
def redeliver(subscription_id: int, delivery_id: int):
    """Send a delivered or dead-lettered event again (a new delivery at the end of the queue)."""
    out = webhooks.redeliver(runtime().engine, check_id(subscription_id, "id"), check_id(delivery_id, "delivery_id"))
    return jsonify(out), 202
