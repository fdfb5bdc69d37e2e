"""One resource changed (or added) in the catalog's files: ``PUT /v1/catalog/resources/{id}``.

The resource comes as JSON, every field of the schema, and is checked by the same code as a file's
resources, its problems located by field path (``resource.topics[0]``). The file of its kind changes
only where the resource is: its block (from ``- id: ID`` to the next resource) is replaced in place, so
the file keeps its comments and layout and the version's diff shows that resource alone; a new one is
appended to the file of its kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InputError, Problem
from ..rules.model import Registry
from .catalog import FILES, Catalog
from .catalog_files import parse_resource
from .catalog_yaml import resource_block, yaml_text


@dataclass
class JsonDoc:
    """A request's resource as the checks see a file: problems are located by field path."""

    data: dict
    prefix: tuple = ("resource",)
    file: str | None = None

    def where(self, path: tuple, key: bool = False) -> tuple[int | None, int | None]:
        return None, None

    def problem(self, path: tuple, message: str, *, key: bool = False, rule_id: str | None = None,
                suggestion: str | None = None) -> Problem:
        return Problem(message, rule_id=rule_id, suggestion=suggestion, field=(*self.prefix, *path[2:]))


def resource_change(catalog: Catalog, files: Mapping[str, str], registry: Registry, resource_id: str,
                    body: object) -> dict[str, str]:
    """The one file that changes: ``{file name: text}``; InputError naming each field's problem."""
    if not isinstance(body, dict):
        raise InputError(Problem("the resource must be an object with every field of the schema", field=("resource",),
                                 suggestion="GET /v1/catalog/resources?kind=... shows resources as they are"))
    # A field null is a field not given: a resource read from GET /v1/catalog/resources (which shows every
    # kind's fields, null where they do not apply) can be sent back as it was read.
    item = {k: v for k, v in body.items() if v is not None}
    kind = item.pop("kind", None)
    old = catalog.get(resource_id)
    if kind not in FILES:
        raise InputError(Problem(f"kind must be one of {', '.join(FILES)}, got {kind!r}"[:200],
                                 field=("resource", "kind")))
    if old is not None and old.kind != kind:
        raise InputError(Problem(f"resource {resource_id} is a {old.kind}; a kind cannot change", field=("resource", "kind"),
                                 suggestion="retire it (active: false) and add the new kind under a new id"))
    if item.get("id", resource_id) != resource_id:
        raise InputError(Problem(f"the body's id {item.get('id')!r} differs from the path's {resource_id!r}"[:200],
                                 field=("resource", "id")))
    item["id"] = resource_id
    problems: list[Problem] = []
    streets = list(catalog.street_names_en.items())
    res = parse_resource(JsonDoc(item), ("resources", 0), item, kind, registry, streets, problems)
    if res is None:
        raise InputError(problems)
    name = FILES[kind]
    text = files.get(name, f"kind: {kind}\nresources:\n")
    new = _replace_block(text, resource_id, resource_block(res.as_dict()), known=old is not None)
    if new is None:  # a file laid out otherwise: written again whole, in the usual layout
        mine = [res.as_dict() if r.id == resource_id else r.as_dict()
                for r in catalog.resources if r.kind == kind]
        new = yaml_text(name, {"kind": kind, "resources": mine})
    return {name: new}


def _replace_block(text: str, resource_id: str, block: str, known: bool = False) -> str | None:
    """The file with the resource's block replaced, or the block appended for a new resource; None for
    a resource the file holds in another layout (not found as ``- id: ID`` at the line's start)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == f"- id: {resource_id}"), None)
    if start is None:
        if known:
            return None
        return text + ("" if text.endswith("\n") else "\n") + block
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("- ")
                or (lines[i].strip() and not lines[i].startswith((" ", "#")))), len(lines))
    # Comment lines right before the next resource belong to it: keep them where they are.
    while end - 1 > start and lines[end - 1].lstrip().startswith("#"):
        end -= 1
    return "".join(lines[:start]) + block + "".join(lines[end:])


__all__ = ["JsonDoc", "resource_change"]
