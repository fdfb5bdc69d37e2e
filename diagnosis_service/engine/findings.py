"""Findings, lamps and the output objects: one shape, whichever engine produced them.

Engines only decide which rules fired for a subject and with which value and reference; everything
after that (supersession, lamp, ordering, messages, weaknesses, JSON) happens here, once.
"""

from __future__ import annotations

import calendar
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from ..rules.model import SEVERITY_RANK, Rule, RuleSet, render


@dataclass(frozen=True, slots=True)
class Hit:
    """What an engine reports for one fired rule of one subject."""

    rule: Rule
    value: float | None
    reference: float | None
    periods: int


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    indicator: str
    severity: str
    topic: str
    value: float | None
    reference: float | None
    message_zh: str
    message_en: str
    lamp: bool = field(default=False, compare=False)

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "indicator": self.indicator,
            "severity": self.severity,
            "topic": self.topic,
            "value": clean_number(self.value),
            "reference": clean_number(self.reference),
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


@dataclass(slots=True)
class SubjectResult:
    subject: str
    id: str
    period: str
    lamp: str
    findings: list[Finding]
    branch_type: str | None = None
    branch_id: str | None = None
    vanguard_points: float | None = None
    vanguard_points_ytd: float | None = None
    weaknesses: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        if self.subject == "branch":
            out = {"subject": "branch", "id": self.id, "period": self.period, "type": self.branch_type,
                   "lamp": self.lamp, "findings": [f.as_dict() for f in self.findings],
                   "weaknesses": list(self.weaknesses)}
        else:
            out = {"subject": "member", "id": self.id, "branch_id": self.branch_id, "period": self.period,
                   "lamp": self.lamp, "vanguard_points": clean_number(self.vanguard_points),
                   "vanguard_points_ytd": clean_number(self.vanguard_points_ytd),
                   "findings": [f.as_dict() for f in self.findings]}
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, obj: Mapping) -> SubjectResult:
        """The result back from its JSON object (as ``diagnose --out`` writes it and the store keeps it)."""
        findings = [Finding(f["rule"], f["indicator"], f["severity"], f["topic"], f["value"], f["reference"],
                            f["message_zh"], f["message_en"]) for f in obj.get("findings", [])]
        if obj["subject"] == "branch":
            return cls("branch", obj["id"], obj["period"], obj["lamp"], findings, branch_type=obj.get("type"),
                       weaknesses=list(obj.get("weaknesses", [])))
        return cls("member", obj["id"], obj["period"], obj["lamp"], findings, branch_id=obj.get("branch_id"),
                   vanguard_points=obj.get("vanguard_points"), vanguard_points_ytd=obj.get("vanguard_points_ytd"))

    def to_json(self) -> str:
        if self.subject == "member" and not self.findings and not self.extra:
            return self._member_json_fast()
        out = self.as_dict()
        if not any(isinstance(v, EncodedList) for v in self.extra.values()) or not all(
                isinstance(k, str) for k in self.extra):
            return json_value(out)
        # A branch's prescriptions are most of its line (a district's 50,000 weigh 40 MB) and come with
        # their JSON: written, not encoded again. Key by key, as json.dumps writes an object.
        return "{" + ",".join(f"{_dumps(k)}:{v.json if isinstance(v, EncodedList) else json_value(v)}"
                              for k, v in out.items()) + "}"

    def _member_json_fast(self) -> str:
        """Most members have no findings; writing their line by hand halves the time of a district's
        output. Byte-identical to the json.dumps path (a test checks this)."""
        return "".join((
            '{"subject":"member","id":', _string(self.id), ',"branch_id":', _string(self.branch_id),
            ',"period":', _string(self.period), ',"lamp":', _string(self.lamp),
            ',"vanguard_points":', _number_json(self.vanguard_points),
            ',"vanguard_points_ytd":', _number_json(self.vanguard_points_ytd), ',"findings":[]}'))


_dumps = json.JSONEncoder(ensure_ascii=False).encode
_encode_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) does with a str, in C


def _string(text: str | None) -> str:
    """A string (or None) as json.dumps writes it, without the encoder's Python-level dispatch (members'
    lines call this 200,000 times a district month)."""
    return "null" if text is None else _encode_str(text) if isinstance(text, str) else _dumps(text)


json_value = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # as the lines write any value


class EncodedList(list):
    """A JSON array that carries its own text, ``json``: exactly ``json.dumps(self, ensure_ascii=False,
    separators=(",", ":"))``, which whoever builds one vouches for (``SubjectResult.to_json`` writes it
    instead of encoding the items again). Built whole and not changed after; everything else sees a list."""

    __slots__ = ("json",)

    def __init__(self, items: Iterable = (), text: str = "[]") -> None:
        super().__init__(items)
        self.json = text


def json_string_body(text: str) -> str:
    """``text`` as a JSON string without its quotes: strings escape character by character, so the body of
    a concatenation is the concatenation of the bodies."""
    return _encode_str(text)[1:-1]


_NUMBER_TEXTS: dict[object, str] = {}  # a district's points take a few hundred values among 100,000 lines
NUMBER_TEXTS_KEPT = 65_536


def _number_json(x: float | None) -> str:
    """``clean_number(x)`` as JSON writes it. Kept by value: equal numbers clean to the same text. NaN and
    infinities are not kept (a NaN object is a key of its own: they would fill the table)."""
    text = _NUMBER_TEXTS.get(x)
    if text is None:
        value = clean_number(x)
        text = "null" if value is None else repr(value)
        if len(_NUMBER_TEXTS) < NUMBER_TEXTS_KEPT and (x is None or text != "null"):
            _NUMBER_TEXTS[x] = text
    return text


def clean_number(x: float | None) -> float | int | None:
    """JSON-ready number: None for missing, int when whole, else rounded to 4 places (stable bytes)."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return None
    x = round(x, 4)
    return int(x) if x.is_integer() else x


def finalize(ruleset: RuleSet, subject: str, subject_id: str, period: str, hits: list[Hit]) -> tuple[str, list[Finding], list[str]]:
    """Apply supersession, pick the lamp, order the findings, render messages, rank weaknesses."""
    if not hits:
        return "green", [], []
    fired = {h.rule.id for h in hits}
    kept = [h for h in hits if not any(other in fired for other in h.rule.superseded_by)]
    kept.sort(key=lambda h: (-SEVERITY_RANK[h.rule.severity], h.rule.id))
    lamp = "green"
    for h in kept:
        if h.rule.lamp and SEVERITY_RANK[h.rule.severity] > SEVERITY_RANK[lamp]:
            lamp = h.rule.severity
    findings = [_finding(ruleset, h, subject_id, period) for h in kept]
    weaknesses: list[str] = []
    if subject == "branch":
        score: dict[str, tuple[int, float]] = {}
        for h in kept:
            if h.rule.severity == "reminder":
                continue  # what is still to be done is not (yet) a weakness
            gap = _shortfall(h.value, h.reference)
            sev = SEVERITY_RANK[h.rule.severity]
            old = score.get(h.rule.topic, (0, 0.0))
            score[h.rule.topic] = (max(old[0], sev), max(old[1], gap))
        weaknesses = sorted(score, key=lambda t: (-score[t][0], -score[t][1], t))
    return lamp, findings, weaknesses


def _shortfall(value: float | None, reference: float | None) -> float:
    if value is None or reference is None:
        return 0.0
    return round(abs(value - reference) / max(abs(reference), 1.0), 6)


def _finding(ruleset: RuleSet, hit: Hit, subject_id: str, period: str) -> Finding:
    rule = hit.rule
    ind = ruleset.registry.get(rule.subject, rule.indicator)
    names = (ind.name_zh, ind.name_en) if ind else (rule.indicator, rule.indicator)
    value, reference = clean_number(hit.value), clean_number(hit.reference)
    # Most findings of a rule share value and reference (e.g. dues missed: 0 vs 0), so rendered
    # messages are cached unless the template shows the subject id.
    if "{id" in rule.message_zh or "{id" in rule.message_en:
        return _render_finding(rule, value, reference, hit.periods, names, subject_id, period)
    return _cached_finding(rule, value, reference, hit.periods, names, period)


@lru_cache(maxsize=65536)
def _cached_finding(rule: Rule, value, reference, periods: int, names: tuple[str, str], period: str) -> Finding:
    return _render_finding(rule, value, reference, periods, names, "", period)


MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")  # not the locale's: the same bytes on every machine


def window_end(period: str, months: int) -> date:
    """The last day of the quarter (``months`` 3) or year (12) that ``period`` (YYYY-MM) is in."""
    year, month = int(period[:4]), int(period[5:7])
    last = ((month - 1) // months + 1) * months
    return date(year, last, calendar.monthrange(year, last)[1])


def _render_finding(rule: Rule, value, reference, periods: int, names: tuple[str, str], subject_id: str,
                    period: str) -> Finding:
    # size: the value without its sign, for phrases that carry the direction in words (下降 2.6 个百分点).
    quarter, year = window_end(period, 3), window_end(period, 12)
    common = {"value": value, "reference": reference, "indicator": rule.indicator, "periods": periods,
              "id": subject_id, "size": None if value is None else clean_number(abs(value))}
    # Deadlines as each language writes a day: 3月31日, 31 March.
    zh_days = {"quarter_end": f"{quarter.month}月{quarter.day}日", "year_end": f"{year.month}月{year.day}日"}
    en_days = {"quarter_end": f"{quarter.day} {MONTHS_EN[quarter.month - 1]}",
               "year_end": f"{year.day} {MONTHS_EN[year.month - 1]}"}
    return Finding(
        rule=rule.id, indicator=rule.indicator, severity=rule.severity, topic=rule.topic,
        value=value, reference=reference,
        message_zh=render(rule.message_zh, name=names[0], **common, **zh_days),
        message_en=render(rule.message_en, name=names[1], **common, **en_days),
        lamp=rule.lamp,
    )
