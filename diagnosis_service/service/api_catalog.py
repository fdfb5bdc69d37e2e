"""Catalog administration: the active catalog's files, and checking a change of them."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..errors import Conflict, InputError, Problem
from ..pipeline import catalog_admin
from .auth import roles
from .db import runtime, snapshot
from .problems import problem_item
from .request_args import json_body

bp = Blueprint("catalog", __name__, url_prefix="/v1/catalog")


def _loaded():
    snap = snapshot()
    if snap.catalog is None:
        raise Conflict(Problem("the remedy catalog is not loaded", suggestion="see /readyz"))
    return snap


@bp.get("")
@roles("platform", "admin")
def active_catalog():
    """The active catalog: its YAML files, digest and resources by kind."""
    snap = _loaded()
    return jsonify(catalog_admin.active_json(runtime().catalog_files, snap.catalog))


@bp.post("/validate")
@roles("platform", "admin")
def validate():
    """Check changed catalog files (merged over the active ones) without using them: every problem with
    file, line and column. JSON {"files": {NAME.yaml: text | null}}, or a YAML body with ?file=NAME.yaml."""
    snap = _loaded()
    if request.mimetype in ("application/yaml", "application/x-yaml", "text/yaml", "text/plain"):
        name = request.args.get("file")
        if not name:
            raise InputError(Problem("with a YAML body, say which file it is: ?file=NAME.yaml",
                                     field=("query", "file")))
        changes: object = {name: request.get_data(as_text=True)}
    else:
        body = json_body()
        if not isinstance(body, dict) or set(body) - {"files"}:
            raise InputError(Problem("the body must be {\"files\": {NAME.yaml: text, ...}}", field=()))
        changes = body.get("files")
    out = catalog_admin.validate(runtime().catalog_files, snap.ruleset.registry, changes)
    out["errors"] = [problem_item(p) for p in out["errors"]]
    return jsonify(out)
