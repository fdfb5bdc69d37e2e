"""Vanguard-point weights (锋领指数): read, validate, preview and publish ``points.yaml`` as a rule-set
version (rolled back with the rules: /v1/rules/versions/{v}/activate)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..errors import InputError, Problem
from ..pipeline import points_admin
from .api_rules import base_version
from .auth import actor, roles
from .db import runtime, snapshot
from .problems import problem_items
from .request_args import json_body

bp = Blueprint("points", __name__, url_prefix="/v1/points")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain")


def _body(fields: tuple[str, ...]) -> tuple[object, dict]:
    """The weights file: a YAML body, or JSON {"file": "...", ...}; other fields from the JSON or the query
    (rule tests sent with the weights only in JSON)."""
    if request.mimetype in YAML_TYPES:
        return request.get_data(as_text=True), {k: request.args.get(k) for k in fields
                                                if k in request.args and k != "tests"}
    body = json_body()
    if not isinstance(body, dict) or set(body) - {"file", *fields}:
        raise InputError(Problem("the body must be an object with file" + "".join(f", {f}" for f in fields), field=(),
                                 suggestion='{"file": "version: 1\\npoints: ..."} or the YAML itself as '
                                            "Content-Type: application/yaml"))
    return body.get("file"), body


@bp.get("")
@roles("platform", "admin")
def active_points():
    """The active weights: a table (indicator, weight, names, unit) and the file (ETag: the rule-set version)."""
    snap = snapshot()
    resp = jsonify(points_admin.active_json(snap, runtime().settings.rules_dir))
    resp.headers["ETag"] = f'"{snap.version}"'
    return resp


@bp.post("/validate")
@roles("platform", "admin")
def validate():
    """Check weights with the active rules (rule tests included): every problem with line and column."""
    text, body = _body(("tests",))
    problems = points_admin.validate(snapshot(), runtime().settings.rules_dir, text, body.get("tests"))
    return jsonify(valid=not problems, errors=problem_items(problems))


@bp.post("/preview")
@roles("platform", "admin")
def preview():
    """How a month's rankings would move under these weights (nothing stored)."""
    text, body = _body(("period",))
    rt = runtime()
    return jsonify(points_admin.preview(snapshot(), rt.settings.rules_dir, rt.engine, text,
                                        body.get("period") or request.args.get("period")))


@bp.put("")
@roles("admin")
def publish():
    """Publish weights as a new rule-set version: refused whole on any problem; diagnoses from then on
    compute points with them, in every process, without a restart."""
    text, body = _body(("comment", "base_version", "tests"))
    comment = body.get("comment") or request.args.get("comment")
    base = body.get("base_version")
    if isinstance(base, str):
        base = int(base) if base.isascii() and base.isdigit() else base
    rt = runtime()
    version, files, out = points_admin.publish(snapshot(force=True), rt.settings.rules_dir, rt.engine, text, comment,
                                               actor(), base_version({"base_version": base}), body.get("tests"))
    rt.switch_to(version, files)
    resp = jsonify(out)
    resp.headers["ETag"] = f'"{version}"'
    return resp, 201
