"""Reading and checking the remedy catalog: one YAML file per kind in the catalog directory (schema:
docs/catalog.md), plus ``district.yaml`` naming the streets and towns a resource may be limited to.

Files are read with the same safe loader as rule files (size bound, no aliases, no duplicate keys) and
every problem is reported with ``file:line:column``. A catalog that loads is complete: every topic
has an active resource for every branch type, so every weakness can get a prescription.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import CatalogError, DiagnosisError, Problem, did_you_mean
from ..rules.model import Registry
from ..rules.parse_common import is_number
from ..rules.yamlsafe import MAX_FILE_BYTES, Located, load_text, misnamed_yaml, not_utf8
from .catalog import (
    ALL,
    DISTRICT_FILE,
    FILES,
    FORMATS,
    ID_RE,
    MAX_RESOURCES,
    OPTIONAL,
    OPTIONAL_TEXT,
    REQUIRED,
    Catalog,
    Resource,
)


def check_catalog(directory: Path, registry: Registry) -> list[Problem]:
    """Every problem of a catalog directory (empty when it is fine); never raises for bad content."""
    problems: list[Problem] = []
    _collect(Path(directory), registry, problems)
    return problems


def is_valid(directory: Path, registry: Registry) -> bool:
    return not check_catalog(directory, registry)


def load_catalog(directory: Path, registry: Registry) -> Catalog:
    """The catalog, or CatalogError listing every problem."""
    problems: list[Problem] = []
    catalog = _collect(Path(directory), registry, problems)
    if problems or catalog is None:
        raise CatalogError(problems or [Problem("catalog could not be read", file=str(directory))])
    return catalog


def read_files(directory: Path) -> tuple[dict[str, str], list[Problem]]:
    """The catalog's YAML files of a directory as texts by file name (what a stored catalog version holds),
    and the problems of reading them (a missing directory, a file too big or not UTF-8)."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}, [Problem("catalog directory not found", file=str(directory),
                            suggestion="name an existing catalog directory (DIAGNOSIS_CATALOG)")]
    files, problems = {}, misnamed_yaml(directory, "catalog files")
    for path in sorted(directory.glob("*.yaml")):
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(Problem(f"file is {size} bytes, over the limit of {MAX_FILE_BYTES}", file=str(path),
                                    line=1, column=1, suggestion="split it into several files"))
            continue
        data = path.read_bytes()
        try:
            files[path.name] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(not_utf8(str(path), data, exc))
    return files, problems


def check_texts(files: Mapping[str, str], registry: Registry) -> list[Problem]:
    """Every problem of a catalog given as texts by file name (locations: ``name:line:column``)."""
    problems: list[Problem] = []
    collect_texts(files, registry, problems)
    return problems


def load_texts(files: Mapping[str, str], registry: Registry, label: str = "") -> Catalog:
    """The catalog of texts by file name, or CatalogError listing every problem."""
    problems: list[Problem] = []
    catalog = collect_texts(files, registry, problems, label)
    if problems or catalog is None:
        raise CatalogError(problems or [Problem("catalog could not be read", file=label or None)])
    return catalog


def _collect(directory: Path, registry: Registry, problems: list[Problem]) -> Catalog | None:
    files, read_problems = read_files(directory)
    if not Path(directory).is_dir():
        problems.extend(read_problems)
        return None
    problems.extend(read_problems)
    unread = {Path(p.file).name for p in read_problems if p.file}
    return collect_texts(files, registry, problems, str(directory), unread)


def collect_texts(files: Mapping[str, str], registry: Registry, problems: list[Problem],
                  label: str = "", unread: set[str] | frozenset = frozenset()) -> Catalog | None:
    """The catalog, adding every problem to ``problems``; ``label``: the directory the files are named
    under in locations (none: the bare file names, as a stored version's); ``unread``: files that could
    not be read (their problem is told already)."""
    def where(name: str) -> str:
        return str(Path(label) / name) if label else name

    digest = hashlib.sha256()
    parsed: dict[tuple[str, str], Located] = {}
    streets = _streets(files, where, problems, digest, unread, parsed)
    names_en = dict(streets)
    for name in sorted(set(files) - set(FILES.values()) - {DISTRICT_FILE}):
        problems.append(Problem(f"unexpected file '{name}' in the catalog", file=where(name),
                                suggestion="expected: " + ", ".join(sorted(FILES.values()) + [DISTRICT_FILE])))
    resources: dict[str, Resource] = {}
    first: dict[str, str] = {}  # id -> where it was first written, across the files
    for kind, name in FILES.items():
        if name not in files:
            if name not in unread:
                problems.append(Problem(f"missing catalog file for kind '{kind}'", file=where(name)))
            continue
        digest.update(files[name].encode("utf-8"))
        doc = _load(files[name], where(name), problems, parsed)
        if doc is not None:
            for res in _parse_file(doc, kind, registry, streets, problems, first):
                resources[res.id] = res
    if problems:
        return None
    _keep(parsed)  # every file checked out: worth keeping parsed
    ordered = tuple(sorted(resources.values(), key=lambda r: r.id))
    problems.extend(_coverage(ordered, registry, label or "catalog"))
    return Catalog(ordered, tuple(names_en), digest.hexdigest()[:12], label, names_en)


# Parsed files, by (name, text), of catalogs whose files all checked out: an edit of one resource checks
# the whole catalog twice (the publish's check, then the build of the serving catalog), and parsing the
# YAML was 90% of each. Only files that passed every check of their own are kept: they have a catalog
# file's shape, so their memory follows their size (1.2 MB for the largest shipped file, ~18 MB at
# MAX_FILE_BYTES); a text rejected by a validate, a preview or a publish is parsed, judged and dropped
# (any YAML, however nested, would otherwise stay). Kept documents are only read, never changed.
_PARSED: OrderedDict[tuple[str, str], Located] = OrderedDict()
_PARSED_LOCK = threading.Lock()
PARSED_KEPT = 8  # a catalog's six files and the latest edits of them


def _load(text: str, name: str, problems: list[Problem], parsed: dict[tuple[str, str], Located]) -> Located | None:
    key = (name, text)
    with _PARSED_LOCK:
        doc = _PARSED.get(key)
        if doc is not None:
            _PARSED.move_to_end(key)
    if doc is None:
        try:
            doc = load_text(text, name)
        except DiagnosisError as exc:  # YAML syntax, size, aliases: reported as catalog problems
            problems.extend(exc.problems)
            return None
    parsed[key] = doc
    return doc


def _keep(parsed: dict[tuple[str, str], Located]) -> None:
    with _PARSED_LOCK:
        for key, doc in parsed.items():
            _PARSED[key] = doc
            _PARSED.move_to_end(key)
        while len(_PARSED) > PARSED_KEPT:
            _PARSED.popitem(last=False)


def forget_parsed() -> None:
    """Drop every kept document (the next load parses every file again)."""
    with _PARSED_LOCK:
        _PARSED.clear()


def _streets(files: Mapping[str, str], where, problems: list[Problem], digest,
             unread: set[str] | frozenset, parsed: dict[tuple[str, str], Located]) -> list[tuple[str, str]]:
    """(zh, en) names of the district's streets and towns."""
    if DISTRICT_FILE not in files:
        if DISTRICT_FILE in unread:
            return []
        problems.append(Problem("missing district file (the streets and towns resources may be limited to)",
                                file=where(DISTRICT_FILE)))
        return []
    digest.update(files[DISTRICT_FILE].encode("utf-8"))
    doc = _load(files[DISTRICT_FILE], where(DISTRICT_FILE), problems, parsed)
    if doc is None:
        return []
    data = doc.data
    items = data.get("streets") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        problems.append(doc.problem(("streets",), "'streets' must be a non-empty list of {zh, en}"))
        return []
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item[k] for k in ("zh", "en")):
            problems.append(doc.problem(("streets", i), "each street needs 'zh' and 'en' names"))
            continue
        out.append((item["zh"], item["en"]))
    return out


def _parse_file(doc: Located, kind: str, registry: Registry, streets: list[tuple[str, str]],
                problems: list[Problem], first: dict[str, str]) -> Iterable[Resource]:
    """The file's resources that parse, each told problem in place; ``first``: where each id was first
    written (a repeated one is told at its resource beside the resource's other problems, and not kept)."""
    data = doc.data
    if not isinstance(data, dict):
        problems.append(doc.problem((), "a catalog file must be a mapping with 'kind' and 'resources'"))
        return
    for key in data:
        if key not in ("kind", "resources"):
            problems.append(doc.problem((key,), f"unknown key '{key}' in a catalog file", key=True,
                                        suggestion="allowed: kind, resources"))
    if data.get("kind") != kind:
        problems.append(doc.problem(("kind",), f"kind must be '{kind}' in this file, got {data.get('kind')!r}",
                                    suggestion=f"one file per kind: {kind} resources go in {FILES[kind]}"))
    items = data.get("resources")
    if not isinstance(items, list):
        problems.append(doc.problem(("resources",), "'resources' must be a list"))
        return
    if len(items) > MAX_RESOURCES:
        problems.append(doc.problem(("resources",), f"{len(items)} resources; at most {MAX_RESOURCES} per file"))
        return
    for i, item in enumerate(items):
        rid, repeated = item.get("id") if isinstance(item, dict) else None, False
        if isinstance(rid, str) and ID_RE.fullmatch(rid):
            line, _ = doc.where(("resources", i))
            repeated = rid in first
            if repeated:
                problems.append(Problem(f"duplicate resource id '{rid}' (first at {first[rid]})", file=doc.file,
                                        line=line, column=1))
            else:
                first[rid] = f"{doc.file}:{line}"
        res = parse_resource(doc, ("resources", i), item, kind, registry, streets, problems)
        if res is not None and not repeated:
            yield res


def parse_resource(doc: Located | Any, path: tuple, item: Any, kind: str, registry: Registry,
                    streets: list[tuple[str, str]],
                    problems: list[Problem]) -> Resource | None:
    if not isinstance(item, dict):
        problems.append(doc.problem(path, "a resource must be a mapping (id, title_zh, title_en, topics, ...)"))
        return None
    before = len(problems)
    rid = item.get("id")
    if not isinstance(rid, str) or not ID_RE.fullmatch(rid):
        problems.append(doc.problem(path + ("id",), f"bad resource id {rid!r}",
                                    suggestion="a letter, then letters, digits, _ or -; e.g. LEC001"))
        rid = None
    what = f"resource {rid}" if rid else "a resource"

    def bad(key: str, message: str, suggestion: str | None = None) -> None:
        problems.append(doc.problem(path + (key,), f"{what}: {message}", suggestion=suggestion))

    for key in item:
        if key not in REQUIRED + OPTIONAL:
            problems.append(doc.problem(path + (key,), f"{what}: unknown field '{key}'", key=True,
                                        suggestion=did_you_mean(key, REQUIRED + OPTIONAL)
                                        or "allowed: " + ", ".join(REQUIRED + OPTIONAL)))
    for key in REQUIRED:
        if key not in item:
            # At the field's own place where the document has one (a spreadsheet's empty cell); a YAML
            # mapping without the key falls back to the resource.
            problems.append(doc.problem(path + (key,), f"{what}: missing field '{key}'"))
    for key in ("title_zh", "title_en") + OPTIONAL_TEXT:
        if key in item and (not isinstance(item[key], str) or not item[key].strip()):
            bad(key, f"'{key}' must be non-empty text")
    topics = item.get("topics")
    if "topics" in item:
        if not isinstance(topics, list) or not topics:
            bad("topics", "'topics' must be a non-empty list of topic ids")
            topics = []
        for j, t in enumerate(topics):
            if t not in registry.topics:
                problems.append(doc.problem(path + ("topics", j), f"{what}: unknown topic {t!r}",
                                            suggestion=did_you_mean(str(t), registry.topics)
                                            or "topics: " + ", ".join(registry.topics)))
        if len(set(map(str, topics))) != len(topics):
            bad("topics", "a topic is listed twice")
    fmt = item.get("format")
    if "format" in item and fmt not in FORMATS:
        bad("format", f"unknown format {fmt!r}", did_you_mean(str(fmt), FORMATS) or "formats: " + ", ".join(FORMATS))
    duration = item.get("duration_minutes")
    if "duration_minutes" in item and not (is_number(duration) and float(duration).is_integer()
                                           and 1 <= duration <= 24 * 60 * 31):
        bad("duration_minutes", f"duration_minutes must be a whole number of minutes (1 to 44640), got {duration!r}")
    capacity = item.get("capacity")
    if capacity is not None and not (is_number(capacity) and float(capacity).is_integer() and capacity >= 1):
        bad("capacity", f"capacity must be a whole number of people (at least 1), got {capacity!r}")
    if "active" in item and not isinstance(item["active"], bool):
        bad("active", f"active must be true or false, got {item['active']!r}")
    types = _all_or_list(doc, path, item, "branch_types", registry.branch_types, what, problems)
    where = _all_or_list(doc, path, item, "streets", [zh for zh, _ in streets], what, problems)
    if len(problems) > before or rid is None:
        return None
    line, _ = doc.where(path)
    return Resource(
        id=rid, kind=kind, title_zh=item["title_zh"].strip(), title_en=item["title_en"].strip(),
        topics=tuple(topics), format=fmt, duration_minutes=int(duration), branch_types=types, streets=where,
        active=item["active"], capacity=int(capacity) if capacity is not None else None,
        text={k: item[k].strip() for k in OPTIONAL_TEXT if k in item}, file=doc.file, line=line)


def _all_or_list(doc: Located, path: tuple, item: dict, key: str, known, what: str,
                 problems: list[Problem]) -> tuple[str, ...]:
    """A list of known names, or [all] (returned as the empty tuple)."""
    if key not in item:
        return ()
    value = item[key]
    if not isinstance(value, list) or not value:
        problems.append(doc.problem(path + (key,), f"{what}: '{key}' must be [all] or a non-empty list"))
        return ()
    if value == [ALL]:
        return ()
    out = []
    for j, name in enumerate(value):
        if name not in known:
            problems.append(doc.problem(path + (key, j), f"{what}: unknown {key[:-1].replace('_', ' ')} {name!r}",
                                        suggestion=did_you_mean(str(name), known)
                                        or "use [all] or names from " + ("the registry" if key == "branch_types"
                                                                          else DISTRICT_FILE)))
        else:
            out.append(name)
    return tuple(out)


def _coverage(resources: tuple[Resource, ...], registry: Registry, directory: str) -> list[Problem]:
    """Every topic needs an active, district-wide resource for every branch type: then every weakness of
    every branch can be prescribed something."""
    problems = []
    for topic in registry.topics:
        pool = [r for r in resources if r.active and topic in r.topics and not r.streets]
        if not any(r for r in resources if r.active and topic in r.topics):
            problems.append(Problem(f"topic '{topic}' has no active resource", file=str(directory),
                                    suggestion="add one, or set active: true on an existing one"))
            continue
        for btype in registry.branch_types:
            if not any(not r.branch_types or btype in r.branch_types for r in pool):
                problems.append(Problem(f"topic '{topic}' has no active district-wide resource for branch type "
                                        f"'{btype}'", file=str(directory),
                                        suggestion="add one with branch_types: [all] or including it"))
    return problems


__all__ = ["check_catalog", "check_texts", "collect_texts", "is_valid", "load_catalog", "load_texts", "parse_resource",
           "read_files"]
