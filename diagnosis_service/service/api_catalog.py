"""Catalog administration: the active catalog version's files, checking and publishing a change, the
versions and rollback (as the rules: docs/catalog.md)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..data.text import id_problem
from ..errors import Conflict, InputError, Problem
from ..pipeline import catalog_admin, catalog_preview, catalog_xlsx
from ..remedies.catalog_edit import resource_change
from ..remedies.catalog_sheets import XLSX_MIME
from .api_rules import base_version
from .auth import actor, roles
from .db import get_db, runtime, snapshot
from .problems import problem_items
from .request_args import check_id, json_body

bp = Blueprint("catalog", __name__, url_prefix="/v1/catalog")


def _active():
    snapshot()  # the rules first: a service that is not ready says so (503)
    active = runtime().catalog()
    if active is None:
        raise Conflict(Problem("the remedy catalog is not loaded", suggestion="see /readyz"))
    return active


@bp.get("")
@roles("platform", "admin")
def active_catalog():
    """The active catalog version: its YAML files, digest and resources by kind (ETag: the version);
    with ?format=xlsx, the same catalog as a workbook to edit in a spreadsheet program and PUT back."""
    active = _active()
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "xlsx"):
        raise InputError(Problem(f"format must be json or xlsx, got {fmt[:20]!r}", field=("query", "format")))
    if fmt == "xlsx":
        resp = Response(catalog_xlsx.export_xlsx(active.catalog, snapshot().ruleset.registry, active.version),
                        mimetype=XLSX_MIME)
        resp.headers["Content-Disposition"] = f'attachment; filename="catalog-v{active.version}.xlsx"'
        resp.headers["ETag"] = f'"{active.version}"'
        return resp
    resp = jsonify(catalog_admin.active_json(active.version, active.files, active.catalog))
    resp.headers["ETag"] = f'"{active.version}"'
    return resp


@bp.post("/validate")
@roles("platform", "admin")
def validate():
    """Check changed catalog files (merged over the active ones) without using them: every problem with
    file, line and column. JSON {"files": {NAME.yaml: text | null}}, or a YAML body with ?file=NAME.yaml."""
    active = _active()
    try:
        changes, _ = _changes(("files",), active)
    except InputError as exc:
        if request.mimetype != XLSX_MIME:
            raise
        # A workbook's problems are the answer of a validation, as a file's are.
        return jsonify(valid=False, errors=problem_items(exc.problems))
    out = catalog_admin.validate(active.files, snapshot().ruleset.registry, changes)
    out["errors"] = problem_items(out["errors"])
    return jsonify(out)


@bp.post("/preview")
@roles("platform", "admin")
def preview():
    """How a diagnosed month's prescriptions would change under changed catalog files: resources gained
    and lost per topic and per branch type, weaknesses left without a remedy (nothing is served).
    JSON {"files": {...}, "period": "YYYY-MM"}, or a YAML body with ?file=NAME.yaml&period=YYYY-MM."""
    active = _active()
    changes, body = _changes(("files", "period"), active)
    period = body.get("period") or request.args.get("period")
    rt = runtime()
    snap = snapshot()
    return jsonify(catalog_preview.preview(snap.replace(catalog=active.catalog, catalog_version=active.version),
                                           active.files, snap.ruleset.registry, rt.engine, changes, period))


def _changes(fields: tuple[str, ...], active) -> tuple[object, dict]:
    """Changed files from the body: JSON {"files": {...}, ...}, one file as YAML with ?file=NAME.yaml, or
    a whole workbook (.xlsx; problems located sheet!cell)."""
    if request.mimetype == XLSX_MIME:
        changes = catalog_xlsx.workbook_changes(request.get_data(), snapshot().ruleset.registry, active.catalog,
                                                active.files, name=request.args.get("name", "catalog.xlsx")[:100])
        if not changes and "comment" in fields:
            raise Conflict(Problem("no change: the workbook holds the active catalog as it is", field=("body",)))
        return changes or dict(active.files), {}
    if request.mimetype in ("application/yaml", "application/x-yaml", "text/yaml", "text/plain"):
        name = request.args.get("file")
        if not name:
            raise InputError(Problem("with a YAML body, say which file it is: ?file=NAME.yaml",
                                     field=("query", "file")))
        return {name: request.get_data(as_text=True)}, {}
    body = json_body()
    if not isinstance(body, dict) or set(body) - set(fields):
        raise InputError(Problem("the body must be an object with " + ", ".join(fields), field=(),
                                 suggestion='{"files": {"lecturers.yaml": "..."}, ...}'))
    return body.get("files"), body


@bp.put("")
@roles("admin")
def publish():
    """Publish a new catalog version: refused whole on any problem (the active one keeps serving); the
    next prescriptions use it, in every process, without a restart."""
    active = _active()
    changes, body = _changes(("files", "comment", "base_version"), active)
    comment = body.get("comment") if body else request.args.get("comment")
    if request.mimetype == XLSX_MIME and request.headers.get("If-Match") is None:  # If-Match says it instead
        catalog_xlsx.exported_over(request.get_data(), active.version, "GET /v1/catalog?format=xlsx")
    rt = runtime()
    version, files, out = catalog_admin.publish(active.version, active.files, snapshot().ruleset.registry, rt.engine,
                                                changes, comment, actor(), base_version(body))
    rt.switch_catalog(version, files)
    resp = jsonify(out)
    resp.headers["ETag"] = f'"{version}"'
    return resp, 201


@bp.put("/resources/<resource_id>")
@roles("admin")
def put_resource(resource_id: str):
    """Change one resource (or add it), every field given as JSON: a new catalog version whose diff is
    that resource; problems by field path (``resource.topics[0]``). {"resource": {...}, "comment": ...}."""
    active = _active()
    body = json_body()
    if not isinstance(body, dict) or set(body) - {"resource", "comment", "base_version"}:
        raise InputError(Problem("the body must be an object with resource, comment (and base_version)", field=(),
                                 suggestion='{"resource": {"kind": "lecturer", "title_zh": ...}, "comment": "why"}'))
    if id_problem(resource_id):
        raise InputError(Problem(f"resource id {id_problem(resource_id)}", field=("resource_id",)))
    if active.catalog.get(resource_id) is None:
        # A new resource whose id differs from one that exists only in case is a typo far more often than
        # a new resource ('act01' beside 'ACT01' added a second copy).
        same = sorted(r.id for r in active.catalog.resources if r.id.casefold() == resource_id.casefold())
        if same:
            raise InputError(Problem(f"no resource '{resource_id}', and a new one may not differ from "
                                     f"'{same[0]}' only in case", field=("resource_id",),
                                     suggestion=f"did you mean '{same[0]}'? (ids are case-sensitive)"))
    registry = snapshot().ruleset.registry
    changes = resource_change(active.catalog, active.files, registry, resource_id, body.get("resource"))
    rt = runtime()
    existed = active.catalog.get(resource_id) is not None
    version, files, out = catalog_admin.publish(active.version, active.files, registry, rt.engine, changes,
                                                body.get("comment"), actor(), base_version(body))
    rt.switch_catalog(version, files)
    resp = jsonify({**out, "resource_id": resource_id, "created": not existed})
    resp.headers["ETag"] = f'"{version}"'
    return resp, 200 if existed else 201


@bp.get("/versions")
@roles("platform", "admin")
def versions():
    """Every catalog version: who published it, when, why, and whether it is active."""
    return jsonify(catalog_admin.versions(get_db()))


@bp.get("/versions/<int:version>")
@roles("platform", "admin")
def version(version: int):
    """One version with its files and the diff against the version it was based on."""
    return jsonify(catalog_admin.version_json(get_db(), check_id(version, "version")))


@bp.post("/versions/<int:version>/activate")
@roles("admin")
def activate(version: int):
    """Make a stored catalog version the active one (roll back), without a restart."""
    rt = runtime()
    files, out = catalog_admin.activate(rt.engine, snapshot().ruleset.registry, check_id(version, "version"))
    rt.switch_catalog(version, files)
    return jsonify(out)
