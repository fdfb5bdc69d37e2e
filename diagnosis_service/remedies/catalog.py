"""The remedy catalog (锋领汇): lecturers, lessons, videos, bases and activities, as validated data.

One YAML file per kind in the catalog directory (schema: docs/catalog.md), plus ``district.yaml``
naming the streets and towns a resource may be limited to. Files are read with the same safe loader
as rule files (size bound, no aliases, no duplicate keys) and every problem is reported with
``file:line:column``. A catalog that loads is complete: every topic has an active resource for
every branch type, so every weakness can get a prescription.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CatalogError, DiagnosisError, Problem, did_you_mean
from ..rules.model import Registry
from ..rules.parse_common import is_number
from ..rules.yamlsafe import Located, load_file

FILES = {"lecturer": "lecturers.yaml", "lesson": "lessons.yaml", "video": "videos.yaml", "base": "bases.yaml",
         "activity": "activities.yaml"}
DISTRICT_FILE = "district.yaml"
FORMATS = ("on_site", "online", "self_run")
ALL = "all"
ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
MAX_RESOURCES = 5000

REQUIRED = ("id", "title_zh", "title_en", "topics", "format", "duration_minutes", "branch_types", "streets",
            "active")
OPTIONAL_TEXT = ("booking_zh", "booking_en", "provider_zh", "provider_en", "series_zh", "series_en",
                 "location_zh", "location_en", "notes_zh", "notes_en")
OPTIONAL = ("capacity",) + OPTIONAL_TEXT
KIND_NAMES = {
    "lecturer": ("红色讲师", "red lecturer"), "lesson": ("特色党课", "featured party lesson"),
    "video": ("红色视频党课", "red video lesson"), "base": ("组织生活基地", "org-life base"),
    "activity": ("自主活动", "branch activity"),
}
FORMAT_NAMES = {"on_site": ("现场", "on site"), "online": ("线上", "online"), "self_run": ("支部自办", "self-run")}


@dataclass(frozen=True)
class Resource:
    id: str
    kind: str
    title_zh: str
    title_en: str
    topics: tuple[str, ...]  # the first is the resource's main topic
    format: str
    duration_minutes: int
    branch_types: tuple[str, ...]  # empty: every type
    streets: tuple[str, ...]  # empty: the whole district
    active: bool
    capacity: int | None = None
    text: dict[str, str] = field(default_factory=dict, compare=False)  # booking, provider, series, ...
    file: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    def suits(self, branch_type: str | None, street: str | None) -> bool:
        """Right for a branch of this type in this street (or town)."""
        return ((not self.branch_types or branch_type in self.branch_types)
                and (not self.streets or street in self.streets))

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "title_zh": self.title_zh, "title_en": self.title_en,
            "topics": list(self.topics), "active": self.active, "format": self.format,
            "duration_minutes": self.duration_minutes, "branch_types": list(self.branch_types) or [ALL],
            "streets": list(self.streets) or [ALL], "capacity": self.capacity,
        }
        for key in OPTIONAL_TEXT:
            out[key] = self.text.get(key)
        return out


@dataclass(frozen=True)
class Catalog:
    resources: tuple[Resource, ...]  # sorted by id
    streets: tuple[str, ...]
    version: str
    directory: str
    street_names_en: dict[str, str] = field(default_factory=dict, compare=False)

    def street_en(self, street: str | None) -> str | None:
        """A street's English name (the data spells streets in Chinese)."""
        return self.street_names_en.get(street or "", street)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {r.id: r for r in self.resources})
        by_topic: dict[str, list[Resource]] = {}
        for r in self.resources:
            for t in r.topics:
                by_topic.setdefault(t, []).append(r)
        object.__setattr__(self, "_by_topic", {t: tuple(rs) for t, rs in by_topic.items()})

    def get(self, resource_id: str) -> Resource | None:
        return self._by_id.get(resource_id)  # type: ignore[attr-defined]

    def for_topic(self, topic: str) -> tuple[Resource, ...]:
        """Every resource (active or not) tagged with the topic, by id."""
        return self._by_topic.get(topic, ())  # type: ignore[attr-defined]

    def select(self, kind: str | None = None, topic: str | None = None) -> list[Resource]:
        pool = self.for_topic(topic) if topic else self.resources
        return [r for r in pool if kind is None or r.kind == kind]


# ------------------------------------------------------------------------------------------- loading

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


def _load(path: Path, problems: list[Problem]) -> Located | None:
    try:
        return load_file(path)
    except DiagnosisError as exc:  # YAML syntax, size, aliases: reported as catalog problems
        problems.extend(exc.problems)
        return None


def _collect(directory: Path, registry: Registry, problems: list[Problem]) -> Catalog | None:
    if not directory.is_dir():
        problems.append(Problem("catalog directory not found", file=str(directory),
                                suggestion="pass --catalog DIR or set DIAGNOSIS_CATALOG"))
        return None
    digest = hashlib.sha256()
    streets = _streets(directory / DISTRICT_FILE, problems, digest)
    names_en = dict(streets)
    known = {p.name for p in directory.glob("*.yaml")}
    for name in sorted(known - set(FILES.values()) - {DISTRICT_FILE}):
        problems.append(Problem(f"unexpected file '{name}' in the catalog", file=str(directory / name),
                                suggestion="expected: " + ", ".join(sorted(FILES.values()) + [DISTRICT_FILE])))
    resources: dict[str, Resource] = {}
    for kind, name in FILES.items():
        path = directory / name
        if not path.exists():
            problems.append(Problem(f"missing catalog file for kind '{kind}'", file=str(path)))
            continue
        digest.update(path.read_bytes())
        doc = _load(path, problems)
        if doc is not None:
            for res in _parse_file(doc, kind, registry, streets, problems):
                if res.id in resources:
                    other = resources[res.id]
                    problems.append(Problem(f"duplicate resource id '{res.id}' (first at {other.file}:{other.line})",
                                            file=res.file, line=res.line, column=1))
                    continue
                resources[res.id] = res
    if problems:
        return None
    ordered = tuple(sorted(resources.values(), key=lambda r: r.id))
    problems.extend(_coverage(ordered, registry, directory))
    return Catalog(ordered, tuple(names_en), digest.hexdigest()[:12], str(directory), names_en)


def _streets(path: Path, problems: list[Problem], digest) -> list[tuple[str, str]]:
    """(zh, en) names of the district's streets and towns."""
    if not path.exists():
        problems.append(Problem("missing district file (the streets and towns resources may be limited to)",
                                file=str(path)))
        return []
    digest.update(path.read_bytes())
    doc = _load(path, problems)
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
                problems: list[Problem]) -> Iterable[Resource]:
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
        res = _parse_resource(doc, ("resources", i), item, kind, registry, streets, problems)
        if res is not None:
            yield res


def _parse_resource(doc: Located, path: tuple, item: Any, kind: str, registry: Registry,
                    streets: list[tuple[str, str]],
                    problems: list[Problem]) -> Resource | None:
    if not isinstance(item, dict):
        problems.append(doc.problem(path, "a resource must be a mapping (id, title_zh, title_en, topics, ...)"))
        return None
    before = len(problems)
    rid = item.get("id")
    if not isinstance(rid, str) or not ID_RE.match(rid):
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
            problems.append(doc.problem(path, f"{what}: missing field '{key}'"))
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


def _coverage(resources: tuple[Resource, ...], registry: Registry, directory: Path) -> list[Problem]:
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


__all__ = ["Catalog", "Resource", "check_catalog", "is_valid", "load_catalog"]
