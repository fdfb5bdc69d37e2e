"""The webhooks' part of the OpenAPI document: the subscription endpoints, and the payload of every event
type under OpenAPI 3.1's ``webhooks`` (what a receiver is sent)."""

from __future__ import annotations

from collections.abc import Callable

from ..pipeline import notify
from .openapi_schemas import LAMP, PERIOD, STR_NULL, arr, obj, ref

EVENT_TYPES = list(notify.EVENT_TYPES)
TIME = {"type": "string", "format": "date-time"}
TIME_NULL = {"type": ["string", "null"], "format": "date-time"}
STATUS = {"enum": ["pending", "delivered", "dead", "cancelled"]}
COUNTS = obj({k: {"type": "integer"} for k in STATUS["enum"]}, STATUS["enum"])
LAMPS = obj({c: {"type": "integer"} for c in ("red", "yellow", "green")}, ["red", "yellow", "green"])

SCHEMAS = {
    "WebhookRequest": obj({
        "url": {"type": "string", "maxLength": 2000, "description": "http(s) URL; its host must be in "
                "WEBHOOK_ALLOWED_HOSTS"},
        "events": arr({"enum": EVENT_TYPES}) | {"minItems": 1, "uniqueItems": True},
        "street": {"type": "string", "description": "only this street's branches and members"},
        "branches": arr({"type": "string"}) | {"minItems": 1, "maxItems": 1000,
                                               "description": "only these branches (and their members)"},
        "description": {"type": "string", "maxLength": 200}}, ["url", "events"], extra=False),
    "Webhook": obj({"id": {"type": "integer"}, "url": {"type": "string"}, "events": arr({"enum": EVENT_TYPES}),
                    "street": STR_NULL, "branches": {"type": ["array", "null"], "items": {"type": "string"}},
                    "description": {"type": "string"}, "created_by": {"type": "string"}, "created_at": TIME,
                    "retry_at": TIME_NULL | {"description": "the queue's first delivery failed: nothing is sent "
                                                            "before then"},
                    "deliveries": COUNTS,
                    "secret": {"type": "string", "description": "the signing secret: only in the answer that "
                                                                "creates it"}},
                   ["id", "url", "events", "street", "branches", "description", "created_by", "created_at"]),
    "Webhooks": obj({"count": {"type": "integer"}, "webhooks": arr(ref("Webhook"))}, ["count", "webhooks"]),
    "WebhookDeleted": obj({"id": {"type": "integer"}, "deleted": {"const": True},
                           "cancelled": {"type": "integer", "description": "pending deliveries cancelled"}},
                          ["id", "deleted", "cancelled"]),
    "WebhookSecret": obj({"id": {"type": "integer"}, "secret": {"type": "string"}}, ["id", "secret"]),
    "Delivery": obj({"id": {"type": "integer"}, "event_id": {"type": "string"}, "type": {"enum": EVENT_TYPES},
                     "status": STATUS, "attempts": {"type": "integer"},
                     "next_attempt_at": TIME_NULL, "last_attempt_at": TIME_NULL,
                     "last_status": {"type": ["integer", "null"]}, "last_error": STR_NULL,
                     "delivered_at": TIME_NULL, "redelivery_of": {"type": ["integer", "null"]}, "created_at": TIME},
                    ["id", "event_id", "type", "status", "attempts", "next_attempt_at", "last_error"]),
    "Deliveries": obj({"subscription_id": {"type": "integer"}, "total": {"type": "integer"},
                       "limit": {"type": "integer"}, "offset": {"type": "integer"},
                       "deliveries": arr(ref("Delivery"))}, ["subscription_id", "total", "deliveries"]),
}


def _event(kind: str, data: dict) -> dict:
    return obj({"id": {"type": "string", "description": "the event's id: the same in every delivery of it "
                                                        "(X-Event-Id); de-duplicate by it"},
                "type": {"const": kind}, "created_at": TIME, "data": data}, ["id", "type", "created_at", "data"])


EVENT_SCHEMAS = {
    "lamp.changed": _event("lamp.changed", obj({
        "subject": {"enum": ["branch", "member"]}, "id": {"type": "string"}, "branch_id": STR_NULL,
        "street": STR_NULL, "period": PERIOD, "from": {"enum": ["red", "yellow", "green", None]}, "to": LAMP,
        "push": {"type": "boolean", "description": "it turned red: tell the organisation's leader now"},
        "source": {"enum": ["event", "diagnosis"]}},
        ["subject", "id", "branch_id", "street", "period", "from", "to", "push", "source"])),
    "reminder.due": _event("reminder.due", obj({
        "branch_id": {"type": "string"}, "street": STR_NULL, "period": PERIOD, "rule": {"type": "string"},
        "topic": {"type": "string"}, "message_zh": {"type": "string"}, "message_en": {"type": "string"}},
        ["branch_id", "period", "rule", "topic", "message_zh", "message_en"])),
    "diagnosis.completed": _event("diagnosis.completed", obj({
        "period": PERIOD, "run_id": {"type": "integer"}, "rules_version": {"type": ["integer", "null"]},
        "branches": {"type": "integer"}, "members": {"type": "integer"},
        "lamps": obj({"branch": LAMPS, "member": LAMPS}, ["branch", "member"]),
        "model": obj({"state": {"enum": ["promoted", "on trial", "kept", "nothing to learn", "skipped", "failed",
                                         "off"]},
                      "candidate": {"type": "string"}, "promoted": {"type": "string", "description": "the model "
                                                                               "that ranks the month's lists now"}},
                     ["state"])},
        ["period", "run_id", "branches", "members", "lamps"])),
    "rules.published": _event("rules.published", obj({
        "action": {"enum": ["published", "activated"]}, "version": {"type": "integer"}, "digest": {"type": "string"},
        "based_on": {"type": ["integer", "null"]}, "author": {"type": "string"}, "comment": STR_NULL},
        ["action", "version", "digest", "author"])),
}

HEADERS = {
    "X-Event-Id": "the event's id (idempotency key)", "X-Event-Type": "the event type",
    "X-Timestamp": "Unix seconds when this attempt was signed",
    "X-Signature": "sha256=HEX: HMAC-SHA256 of X-Timestamp + '.' + body under the subscription's secret",
    "X-Subscription-Id": "the subscription", "X-Delivery-Id": "the delivery (one subscription, one event)", "X-Delivery-Attempt": "1 for the first attempt",
}


def webhooks() -> dict:
    """OpenAPI 3.1 ``webhooks``: one POST per event type, as a receiver gets it."""
    out = {}
    for kind, schema in EVENT_SCHEMAS.items():
        out[kind] = {"post": {
            "summary": f"{kind} (signed; at least once; in order per subscription: docs/webhooks.md)",
            "parameters": [{"name": h, "in": "header", "required": True, "schema": {"type": "string"},
                            "description": d} for h, d in HEADERS.items()],
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {"2XX": {"description": "Delivered (anything else is retried with backoff)"}}}}
    return out


def paths(op: Callable[..., dict], p: Callable[..., dict], q: Callable[..., dict]) -> dict:
    admin = ("admin",)
    sid = p("subscription_id", {"type": "integer", "minimum": 1})
    return {
        "/v1/webhooks": {
            "post": op("Subscribe a receiver to events (the answer shows the signing secret once)", admin, "201",
                       ref("Webhook"), body=ref("WebhookRequest"), codes=("400", "422")),
            "get": op("Webhook subscriptions, with their deliveries by status", admin, "200", ref("Webhooks"))},
        "/v1/webhooks/{subscription_id}": {
            "get": op("One subscription", admin, "200", ref("Webhook"), params=[sid], codes=("404",)),
            "delete": op("Delete a subscription (its pending deliveries are cancelled, its log kept)", admin, "200",
                         ref("WebhookDeleted"), params=[sid], codes=("404",))},
        "/v1/webhooks/{subscription_id}/secret": {
            "post": op("A new signing secret, shown once", admin, "200", ref("WebhookSecret"), params=[sid],
                       codes=("404",))},
        "/v1/webhooks/{subscription_id}/deliveries": {
            "get": op("The delivery log, newest first", admin, "200", ref("Deliveries"), codes=("404", "422"),
                      params=[sid, q("status", STATUS), q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                              q("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000})])},
        "/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver": {
            "post": op("Send a delivered or dead event again (a new delivery, at the end of the queue)", admin,
                       "202", ref("Delivery"), params=[sid, p("delivery_id", {"type": "integer", "minimum": 1})],
                       codes=("404", "409"))},
    }


__all__ = ["EVENT_SCHEMAS", "SCHEMAS", "paths", "webhooks"]
