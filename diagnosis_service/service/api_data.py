"""Metrics in: a whole period (PUT) and single events (POST)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, g, jsonify

from ..errors import did_you_mean
from ..periods import months_ahead, this_month
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
    warnings = []
    if months_ahead(period) > 0:  # stored all the same (a clock ahead of ours), but a typo's year is likelier
        warnings.append({"field": ["period"], "detail": f"period {period} is after this month ({this_month()}, "
                                                        f"UTC); stored", "suggestion": "the month the metrics are of"})
    if snap.catalog is not None and snap.catalog.streets:
        # Stored all the same (the data may be ahead of the catalog), but said: a misspelt street matched no
        # street's resources, silently.
        warnings += unknown_streets(body, snap.catalog.streets)
    if warnings:
        out["warnings"] = warnings
    return jsonify(out)


def unknown_streets(body: dict, streets: Sequence[str], limit: int = 20) -> list[dict]:
    """Warnings for the branch rows of a stored ``body`` whose street is not one of the district's
    (``district.yaml``): a resource limited to streets never matches such a branch (at most ``limit``;
    a blank street is no street, as stored)."""
    known, out = set(streets), []
    for n, row in enumerate(body.get("branches") or []):
        street = row.get("street") if isinstance(row, dict) else None
        if isinstance(street, str) and street.strip() and street not in known:
            close = did_you_mean(street[:100], streets)
            out.append({"field": ["branches", n, "street"], "branch_id": row.get("branch_id"),
                        "detail": f"street '{street[:60]}' is not one of the district's streets; stored, but "
                                  f"no resource limited to streets will match the branch",
                        "suggestion": f"{close + ' ' if close else ''}The district's streets are in the catalog's "
                                      f"district.yaml (GET /v1/catalog, its files); a new street is added there"})
            if len(out) == limit:
                break
    return out


@bp.post("/events")
@roles("platform")
def post_event():
    """One subject's new values for a period, re-evaluated at once (durable_rules single-subject path)."""
    body = json_body()
    return jsonify(events.apply_event(snapshot(), runtime().engine, body, actor(), g.request_id))
