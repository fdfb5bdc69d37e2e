"""Liveness and readiness: both answer without a token, and neither waits on a slow database long.

``/healthz`` says the process answers and never touches the database. ``/readyz`` runs every check
(database reachable, schema current, rules, catalog, ranker) and answers 200 ``ready`` or 503 ``not
ready`` with the first failing check's name in one word; a platform or admin token also gets each
check's details (never a file path: a load balancer's log is not the place for them).
"""

from __future__ import annotations

import re

from flask import Blueprint, g, jsonify

from ..store import missing_columns, ping
from ..store import outbox as outbox_store
from ..store.migrate import current as current_revision
from ..store.migrate import head
from .auth import identify
from .db import runtime

bp = Blueprint("health", __name__)
DETAIL_ROLES = ("platform", "admin")
# An absolute path -> its file name. Not inside a word: a relative path (var/loop/x.json) stays whole, where
# its tail alone was cut out of it ("varx.json"); the API's own paths (/v1/...) stay too.
_PATH = re.compile(r"(?<![\w.~-])(?!/v1/)(?:[A-Za-z]:)?(?:/[^/\s:]+)+/([^/\s:]+)")


def no_paths(text: str) -> str:
    """``text`` with each absolute path said by its last part (a file name, not where the server keeps it)."""
    return _PATH.sub(r"\1", text)


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Readiness: 200 when every check passes, else 503 and which one failed."""
    rt = runtime()
    checks: dict[str, dict] = {}
    try:
        ping(rt.engine)
        checks["database"] = {"ok": True}
        rt.database_up()
    except Exception as exc:  # any driver error means not ready
        checks["database"] = {"ok": False, "detail": exc.__class__.__name__}
        rt.database_down()
    if checks["database"]["ok"]:
        revision, latest = current_revision(rt.engine), head()
        wanted = ({s: [i.id for i in rt.registry.reported(s)] for s in ("branch", "member")}
                  if rt.registry is not None else {})
        missing = missing_columns(rt.engine, wanted) if revision else []
        checks["schema"] = {"ok": revision == latest and not missing, "revision": revision, "head": latest,
                            **({"detail": "run: diagnosis-service db upgrade"} if revision != latest else {}),
                            **({"missing": missing} if missing else {})}
        rt.ensure_started()  # the database may have come back since the start
        start_error = rt.problems.get("rules") or rt.problems.get("start")
        try:
            active = rt.versions.active()
            checks["rules"] = {"ok": True, "version": active.version, "digest": active.ruleset.version,
                               "rules": len(active.ruleset.rules)}
        except Exception as exc:  # broken or missing rule set
            checks["rules"] = {"ok": False, "detail": start_error or f"{exc.__class__.__name__}: {exc}"}
    else:  # no second wait on a database that did not answer: what this process holds
        cached = rt.versions.cached()
        checks["rules"] = ({"ok": True, "version": cached.version, "digest": cached.ruleset.version,
                            "rules": len(cached.ruleset.rules)} if cached else
                           {"ok": False, "detail": rt.problems.get("rules") or "not loaded yet"})
    start_error = rt.problems.get("rules") or rt.problems.get("start")
    schema_ok = checks.get("schema", {}).get("ok")
    catalog = rt.catalog() if schema_ok else (rt.catalogs.cached() if rt.catalogs else None)
    checks["catalog"] = ({"ok": True, "resources": len(catalog.catalog.resources), "version": catalog.catalog.version,
                          "stored_version": catalog.version}
                         if catalog is not None else
                         {"ok": False, "detail": "; ".join(str(p) for p in rt.catalog_error[:5]) or start_error})
    # A missing or incompatible model is not an outage: the prior ranks, and this says so.
    rt.rankers.ranker()  # follows the model and challenger files (a look every few seconds), as requests do
    checks["ranking"] = {"ok": True, **rt.rankers.status, **rt.model_routine.status()}
    if schema_ok:  # informational: a failing receiver is not an outage of this service
        with rt.engine.connect() as conn:
            checks["webhooks"] = {"ok": True, **outbox_store.backlog(conn)}
    failed = next((name for name, c in checks.items() if not c["ok"]), None)
    body: dict = {"status": "ready" if failed is None else "not ready"}
    if failed is not None:
        body["reason"] = failed
    if checks["database"]["ok"] and _may_see_details():  # a token is looked up in the database: not while down
        body["checks"] = {name: {k: no_paths(v) if isinstance(v, str) else v for k, v in c.items()}
                          for name, c in checks.items()}
    return jsonify(body), 200 if failed is None else 503


def _may_see_details() -> bool:
    """A platform or admin token (looked up only when one is given, and never an error here)."""
    try:
        identity = identify()
    except Exception:  # the database is down: the details stay out, the answer does not wait
        return False
    g.identity = identity
    return identity is not None and identity.role in DETAIL_ROLES
