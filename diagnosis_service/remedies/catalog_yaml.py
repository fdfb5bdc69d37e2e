"""Catalog files written from resource data: the YAML a spreadsheet import or a single-resource edit
becomes, in the layout people write (block style, a resource's lists inline), and which files a change
actually touches."""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from .catalog import DISTRICT_FILE, OPTIONAL, Catalog

YAML_ORDER = ("id", "title_zh", "title_en", "topics", "format", "duration_minutes", "branch_types", "streets",
              "capacity") + tuple(f for f in OPTIONAL if f != "capacity") + ("active",)


class YamlDumper(yaml.SafeDumper):
    """Block style, with the lists of a resource inline (``topics: [theory_study]``) as people write them."""


YamlDumper.add_representer(tuple, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def yaml_text(name: str, data: Mapping, head: str | None = None) -> str:
    """The YAML file of one kind (or the district) as a spreadsheet import writes it; ``head``: the comment
    lines to open it with (those of the file it replaces), else a generated one."""
    if name == DISTRICT_FILE:
        body = {"streets": [{"zh": s["zh"], "en": s["en"]} for s in data["streets"]]}
        generated = "# The streets and towns of the district (from a spreadsheet: catalog import).\n"
    else:
        body = {"kind": data["kind"], "resources": [_item(r) for r in data["resources"]]}
        generated = (f"# {data['kind']} resources of the catalog (from a spreadsheet: catalog import). Schema: "
                     "docs/catalog.md.\n")
    return (head or generated) + _dump(body)


def leading_comments(text: str) -> str:
    """The comment lines (and blank lines among them) a file opens with: what its author wrote about it,
    kept when an import rewrites the resources below."""
    lines = text.splitlines(keepends=True)
    end = 0
    while end < len(lines) and (lines[end].lstrip().startswith("#") or not lines[end].strip()):
        end += 1
    head = "".join(lines[:end])
    return head if "#" in head else ""


def resource_block(resource: Mapping) -> str:
    """One resource as a block of a file's list (``- id: ...`` and its fields, two spaces in)."""
    return _dump([_item(resource)])


def _item(resource: Mapping) -> dict:
    """A resource's fields in the files' order, without the empty ones; its lists to be written inline."""
    return {key: tuple(value) if isinstance(value, list) else value
            for key in YAML_ORDER if (value := resource.get(key)) is not None}


def _dump(body: object) -> str:
    return yaml.dump(body, Dumper=YamlDumper, allow_unicode=True, sort_keys=False, width=1_000_000)


def changed_files(data: Mapping[str, Mapping], active: Catalog, active_files: Mapping[str, str]) -> dict[str, str]:
    """The files a workbook changes: a kind whose resources read the same as the active catalog's keeps
    its file as it is (comments and layout), so exporting and importing again changes nothing."""
    out = {}
    for name, content in data.items():
        if name == DISTRICT_FILE:
            same = [(s["zh"], s["en"]) for s in content["streets"]] == list(active.street_names_en.items())
        else:
            kind = content["kind"]
            mine = sorted((r for r in active.resources if r.kind == kind), key=lambda r: r.id)
            same = (name in active_files and sorted(content["resources"], key=lambda r: r["id"])
                    == [r.as_dict() for r in mine])
        if not same:
            out[name] = yaml_text(name, content, leading_comments(active_files.get(name, "")) or None)
    return out


__all__ = ["YAML_ORDER", "YamlDumper", "changed_files", "leading_comments", "resource_block", "yaml_text"]
