"""Liveness (no token) and readiness (database reachable, schema current, rules and catalog loaded)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from ..store import missing_columns
from ..store.migrate import current as current_revision
from ..store.migrate import head
from .auth import READERS, roles
from .db import runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
@roles(*READERS)
def readyz():
    """Readiness: every check, and 503 when one fails."""
    rt = runtime()
    checks: dict[str, dict] = {}
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:  # any driver error means not ready
        checks["database"] = {"ok": False, "detail": exc.__class__.__name__}
    if checks["database"]["ok"]:
        revision, latest = current_revision(rt.engine), head()
        wanted = ({s: [i.id for i in rt.registry.reported(s)] for s in ("branch", "member")}
                  if rt.registry is not None else {})
        missing = missing_columns(rt.engine, wanted) if revision else []
        checks["schema"] = {"ok": revision == latest and not missing, "revision": revision, "head": latest,
                            **({"detail": "run: diagnosis-service db upgrade"} if revision != latest else {}),
                            **({"missing": missing} if missing else {})}
    start_error = rt.problems.get("rules") or rt.problems.get("start")
    try:
        active = rt.versions.active()
        checks["rules"] = {"ok": True, "version": active.version, "digest": active.ruleset.version,
                           "rules": len(active.ruleset.rules)}
    except Exception as exc:  # broken or missing rule set
        checks["rules"] = {"ok": False, "detail": start_error or f"{exc.__class__.__name__}: {exc}"}
    checks["catalog"] = ({"ok": True, "resources": len(rt.catalog.resources), "version": rt.catalog.version}
                         if rt.catalog is not None else
                         {"ok": False, "detail": "; ".join(str(p) for p in rt.catalog_error[:5]) or start_error})
    # A missing or incompatible model is not an outage: the prior ranks, and this says so.
    checks["ranking"] = {"ok": True, **rt.rankers.status}
    ready = all(c["ok"] for c in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503
