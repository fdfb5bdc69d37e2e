"""The remedy catalog (锋领汇) in memory: lecturers, lessons, videos, bases and activities.

``Resource`` and ``Catalog`` are the model; reading and checking a catalog directory is
``catalog_files`` (``load_catalog``, ``check_catalog``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

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



__all__ = ["ALL", "FILES", "FORMAT_NAMES", "KIND_NAMES", "Catalog", "Resource"]
