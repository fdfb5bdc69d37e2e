"""Catalog administration: the active catalog as files, and checking a changed catalog before it is
used (the same checks as `catalog check`, every problem with ``file:line:column`` or a field path).

A catalog is a set of YAML files (one per kind, and ``district.yaml``), as text by file name; a change
names the files it replaces (``null`` removes one) and is checked merged over the active files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from sqlalchemy.engine import Connection, Engine

from ..errors import Conflict, InputError, NotFound, Problem
from ..remedies.catalog import Catalog
from ..remedies.catalog_files import collect_texts
from ..rules.model import Registry
from ..rules.yamlsafe import MAX_FILE_BYTES
from ..store.catalogs import CATALOGS
from .common import in_transaction
from .publish import check_publish, merged_files, rule_version_json, unified_diff

MAX_CATALOG_BYTES = 8 * MAX_FILE_BYTES  # six files of at most 1 MB each, with room


def file_problems(files: Mapping[str, object]) -> list[Problem]:
    """Names and sizes: ``NAME.yaml`` texts, at most ``MAX_FILE_BYTES`` each and ``MAX_CATALOG_BYTES`` in all."""
    problems, total = [], 0
    for name, text in files.items():
        if not isinstance(text, str):
            problems.append(Problem("file content must be text", field=("files", str(name)[:100])))
            continue
        size = len(text.encode("utf-8", "surrogatepass"))
        total += size
        if not isinstance(name, str) or not name.endswith(".yaml") or "/" in name or "\\" in name or \
                name.startswith(".") or len(name) > 100:
            problems.append(Problem(f"bad catalog file name {str(name)[:100]!r}", field=("files", str(name)[:100]),
                                    suggestion="NAME.yaml, one per kind: lecturers.yaml, lessons.yaml, videos.yaml, "
                                               "bases.yaml, activities.yaml, and district.yaml"))
        elif size > MAX_FILE_BYTES:
            problems.append(Problem(f"file is {size} bytes, over the limit of {MAX_FILE_BYTES}", file=name, line=1,
                                    column=1, suggestion="split it into several files"))
    if total > MAX_CATALOG_BYTES:
        problems.append(Problem(f"catalog files total {total} bytes, over the limit of {MAX_CATALOG_BYTES}",
                                field=("files",)))
    return problems


def check(files: Mapping[str, object], registry: Registry, label: str = "") -> tuple[Catalog | None, list[Problem]]:
    """The catalog of ``files`` and no problems, or None and every problem (``label``: the directory the
    files are named under in locations; none for a stored version's bare names)."""
    problems = file_problems(files)
    if problems:
        return None, problems
    catalog = collect_texts(files, registry, problems, label)  # type: ignore[arg-type]
    return (None if problems else catalog), problems


def validate(active_files: Mapping[str, str], registry: Registry, changes: object) -> dict:
    """POST /v1/catalog/validate: the active catalog with ``changes`` applied, checked (nothing stored)."""
    files = merged_files(active_files, changes)
    catalog, problems = check(files, registry)
    out: dict = {"valid": catalog is not None, "errors": problems}
    if catalog is not None:
        out["resources"] = dict(sorted(Counter(r.kind for r in catalog.resources).items()))
        out["active"] = sum(r.active for r in catalog.resources)
        out["digest"] = catalog.version
    return out


def active_json(version: int, files: Mapping[str, str], catalog: Catalog) -> dict:
    """GET /v1/catalog: the active catalog's files and what they hold."""
    return {"version": version, "digest": catalog.version, "resources": len(catalog.resources),
            "by_kind": dict(sorted(Counter(r.kind for r in catalog.resources).items())),
            "files": dict(sorted(files.items()))}


def publish(active_version: int, active_files: Mapping[str, str], registry: Registry, engine: Engine,
            changes: object, comment: object, author: str, base_version: object = None) -> tuple[int, dict, dict]:
    """PUT /v1/catalog: a new version, checked whole and made active; or nothing (the active catalog
    keeps serving). Returns (version, files, answer)."""
    check_publish(comment, base_version, active_version, "the catalog", "GET /v1/catalog")
    files = merged_files(active_files, changes)
    catalog, problems = check(files, registry)
    if catalog is None:
        raise InputError(problems)
    if files == dict(active_files):
        raise Conflict(Problem("no change: the files equal the active version's", field=("files",)))
    diff = unified_diff(active_files, files)
    version = in_transaction(engine, lambda conn: CATALOGS.publish(
        conn, files, catalog.version, comment=str(comment).strip(), author=author, based_on=active_version, diff=diff))
    return version, files, {"version": version, "digest": catalog.version, "resources": len(catalog.resources),
                            "based_on": active_version}


def activate(engine: Engine, registry: Registry, version: int) -> tuple[dict, dict]:
    """Roll back (or forward) to a stored version, checked against today's registry first (a topic
    removed since would leave its resources unknown). Returns (files, answer)."""
    with engine.connect() as conn:
        row = CATALOGS.get(conn, version)
    if row is None:
        raise NotFound(Problem(f"no catalog version {version}", field=("version",),
                               suggestion="GET /v1/catalog/versions lists them"))
    catalog, problems = check(row["files"], registry)
    if catalog is None:
        raise InputError(problems)
    in_transaction(engine, lambda conn: CATALOGS.activate(conn, version))
    return row["files"], {"version": version, "digest": catalog.version, "resources": len(catalog.resources)}


def versions(conn: Connection) -> dict:
    return {"versions": [rule_version_json(v) for v in CATALOGS.listing(conn)]}


def version_json(conn: Connection, version: int) -> dict:
    row = CATALOGS.get(conn, version)
    if row is None:
        raise NotFound(Problem(f"no catalog version {version}", field=("version",)))
    return rule_version_json(row)


__all__ = ["MAX_CATALOG_BYTES", "activate", "active_json", "check", "file_problems", "publish", "validate",
           "version_json", "versions"]
