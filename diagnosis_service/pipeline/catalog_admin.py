"""Catalog administration: the active catalog as files, and checking a changed catalog before it is
used (the same checks as `catalog check`, every problem with ``file:line:column`` or a field path).

A catalog is a set of YAML files (one per kind, and ``district.yaml``), as text by file name; a change
names the files it replaces (``null`` removes one) and is checked merged over the active files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from ..errors import Problem
from ..remedies.catalog import Catalog
from ..remedies.catalog_files import collect_texts
from ..rules.model import Registry
from ..rules.yamlsafe import MAX_FILE_BYTES
from .publish import merged_files

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


def check(files: Mapping[str, object], registry: Registry) -> tuple[Catalog | None, list[Problem]]:
    """The catalog of ``files`` and no problems, or None and every problem."""
    problems = file_problems(files)
    if problems:
        return None, problems
    catalog = collect_texts(files, registry, problems)  # type: ignore[arg-type]
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


def active_json(files: Mapping[str, str], catalog: Catalog) -> dict:
    """GET /v1/catalog: the active catalog's files and what they hold."""
    return {"digest": catalog.version, "resources": len(catalog.resources),
            "by_kind": dict(sorted(Counter(r.kind for r in catalog.resources).items())),
            "files": dict(sorted(files.items()))}


__all__ = ["MAX_CATALOG_BYTES", "active_json", "check", "file_problems", "validate"]
