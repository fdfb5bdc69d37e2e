"""Rule administration: read, validate, preview and publish rule-set versions; roll back."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..errors import InputError, NotFound, Problem
from ..pipeline import publish
from ..store import rulesets as versions_store
from .auth import actor, roles
from .db import get_db, runtime, snapshot
from .problems import problem_items
from .request_args import check_id, json_body

bp = Blueprint("rules", __name__, url_prefix="/v1/rules")


def _files_from_request() -> tuple[object, dict]:
    """Rule files from the body: JSON {"files": {...}, ...}, or raw YAML with ?file=NAME.yaml."""
    if request.mimetype in ("application/yaml", "application/x-yaml", "text/yaml", "text/plain"):
        name = request.args.get("file")
        if not name:
            raise InputError(Problem("with a YAML body, say which file it is: ?file=NAME.yaml", field=("query", "file")))
        return {name: request.get_data(as_text=True)}, {}
    body = json_body()
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object with 'files'", field=()))
    return body.get("files"), body


@bp.get("")
@roles("platform", "admin")
def active_rules():
    """The active rule-set version with its files."""
    row = versions_store.get(get_db(), snapshot().version)
    resp = jsonify(publish.rule_version_json({k: v for k, v in row.items() if k != "diff"}))
    resp.headers["ETag"] = f'"{row["version"]}"'  # send it back as If-Match when publishing an edit of it
    return resp


@bp.post("/validate")
@roles("platform", "admin")
def validate():
    """Check rule files (merged over the active version) without publishing: errors with line and column."""
    files, _ = _files_from_request()
    problems = publish.validate_rules(snapshot(), runtime().settings.rules_dir, files)
    return jsonify(valid=not problems, errors=problem_items(problems))


@bp.post("/preview")
@roles("platform", "admin")
def preview():
    """Which branches and members would change lamp or findings in a period under the candidate rules."""
    body = json_body()
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object with 'files' and 'period'", field=()))
    rt = runtime()
    return jsonify(publish.preview_rules(snapshot(), rt.settings.rules_dir, rt.engine, body.get("files"),
                                         body.get("period")))


@bp.put("")
@roles("admin")
def publish_version():
    """Publish a new version atomically: refused whole if any check fails (the active one keeps serving)."""
    files, body = _files_from_request()
    comment = body.get("comment") if body else request.args.get("comment")
    rt = runtime()
    version, new_files, out = publish.publish_rules(snapshot(force=True), rt.settings.rules_dir, rt.engine, files,
                                                    comment, actor(), base_version(body))
    rt.switch_to(version, new_files)
    resp = jsonify(out)
    resp.headers["ETag"] = f'"{version}"'
    return resp, 201


def base_version(body: dict) -> object:
    """The version the client edited: If-Match (the ETag of the GET it read) or base_version in the body."""
    header = request.headers.get("If-Match")
    if header is None:
        return body.get("base_version")
    text = header.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InputError(Problem(f"If-Match must be the ETag of a version, e.g. \"3\", got {header!r}"[:200],
                                 field=("headers", "If-Match")))
    return int(text)


@bp.get("/versions")
@roles("platform", "admin")
def versions():
    """Every version: who published it, when, why, and whether it is active."""
    return jsonify(versions=[publish.rule_version_json(v) for v in versions_store.listing(get_db())])


@bp.get("/versions/<int:version>")
@roles("platform", "admin")
def version(version: int):
    """One version with its files and the diff against the version it was based on."""
    row = versions_store.get(get_db(), check_id(version, "version"))
    if row is None:
        raise NotFound(Problem(f"no rule-set version {version}", field=("version",)))
    return jsonify(publish.rule_version_json(row))


@bp.post("/versions/<int:version>/activate")
@roles("admin")
def activate(version: int):
    """Make a stored version the active one (roll back), without a restart."""
    rt = runtime()
    files, out = publish.activate_version(rt.settings.rules_dir, rt.engine, check_id(version, "version"),
                                         author=actor())
    rt.switch_to(version, files)
    return jsonify(out)
