"""Metrics in: a whole period (PUT) and single events (POST)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from ..pipeline import events, ingest
from .auth import actor, roles
from .db import runtime, snapshot, write
from .request_args import json_body

bp = Blueprint("data", __name__, url_prefix="/v1")


@bp.put("/periods/<period>/metrics")
@roles("platform")
def put_metrics(period: str):
    """Store a period's metrics: validated whole first; all or nothing; idempotent; corrections recorded."""
    body = json_body()
    snap, who = snapshot(), actor()
    out = write(lambda conn: ingest.ingest_period(conn, snap.ruleset.registry, period, body, who, g.request_id))
    if snap.catalog is not None and snap.catalog.streets:
        # Stored all the same (the data may be ahead of the catalog), but said: a misspelt street matched no
        # street's resources, silently.
        unknown = ingest.unknown_streets(body, snap.catalog.streets)
        if unknown:
            out["warnings"] = unknown
    return jsonify(out)


@bp.post("/events")
@roles("platform")
def post_event():
    """One subject's new values for a period, re-evaluated at once (durable_rules single-subject path)."""
    body = json_body()
    return jsonify(events.apply_event(snapshot(), runtime().engine, body, actor(), g.request_id))
