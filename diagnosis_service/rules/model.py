"""The rule model: what a validated rule set is, independent of any engine, pandas or Flask.

Both engines compile from these objects; nothing here evaluates data.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Literal

Subject = Literal["branch", "member"]
SUBJECTS: tuple[str, ...] = ("branch", "member")
SEVERITIES: tuple[str, ...] = ("yellow", "red", "reminder")
# A reminder (what must still be done, and by when) ranks below any problem and never lights a lamp.
SEVERITY_RANK = {"reminder": -1, "green": 0, "yellow": 1, "red": 2}
SOURCES: tuple[str, ...] = ("seed", "rule", "default")
REMEDY_KINDS: tuple[str, ...] = ("lecturer", "lesson", "video", "base", "activity")

# Canonical operator names, plus the symbols administrators may write instead.
OPS: dict[str, str] = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
OP_ALIASES: dict[str, str] = {sym: name for name, sym in OPS.items()} | {"=": "eq"} | {n: n for n in OPS}
NEGATED_OP: dict[str, str] = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt", "eq": "ne", "ne": "eq"}

UNIT_RANGES: dict[str, tuple[float, float, bool]] = {
    # unit: (min, max, integer only). Every range is finite: a value the store or durable_rules cannot
    # hold (1e308, infinity) is bad input, not a number to diagnose. Counts and hours are per month.
    "count": (0, 10_000, True),
    "hours": (0, 744, False),  # the hours of a month
    "points": (0, 100_000, False),
    "percent": (0, 100, False),
    "flag": (0, 1, True),
    "rating": (1, 5, True),
    "grade": (0, 4, True),
    "days": (0, 31, True),
    "score": (0, 100, False),
    "ratio": (0, 10_000, False),  # a derived count per so many members
}


@dataclass(frozen=True)
class Indicator:
    id: str
    subject: str
    name_zh: str
    name_en: str
    unit: str
    min: float
    max: float | None
    integer: bool
    derived: dict | None = None
    norm: str | None = None

    @property
    def reported(self) -> bool:
        return self.derived is None


@dataclass(frozen=True)
class Named:
    """A topic or branch type: an id with its names."""

    id: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Registry:
    indicators: dict[str, dict[str, Indicator]]  # subject -> id -> indicator, in file order
    topics: dict[str, Named]
    branch_types: dict[str, Named]
    size_bands: tuple[int, ...] = (10, 30)  # members on the roll where a band ends: <10, 10-29, 30+

    def size_band(self, members: int) -> str:
        """The band a branch of ``members`` members is in, as references name it ('<10', '10-29', '30+')."""
        low = 0
        for bound in self.size_bands:
            if members < bound:
                return f"<{bound}" if low == 0 else f"{low}-{bound - 1}"
            low = bound
        return f"{low}+"

    def get(self, subject: str, indicator_id: str) -> Indicator | None:
        return self.indicators.get(subject, {}).get(indicator_id)

    def reported(self, subject: str) -> list[Indicator]:
        return [i for i in self.indicators[subject].values() if i.reported]

    def derived(self, subject: str) -> list[Indicator]:
        return [i for i in self.indicators[subject].values() if not i.reported]


@dataclass(frozen=True)
class Ref:
    """What a value is compared with: a constant or an aggregate over the period's subjects.

    kind: ``const`` (value), ``mean`` or ``quantile`` (q); peers: ``district`` (all subjects with
    data in the period), ``type`` (branches of the same type; for members, members of branches of
    the same type) or ``size`` (branches of the same size band, by members on the roll: see
    ``Registry.size_bands``). The aggregate is multiplied by ``scale``.
    """

    kind: Literal["const", "mean", "quantile"]
    value: float | None = None
    q: float | None = None
    peers: Literal["district", "type", "size"] = "district"
    scale: float = 1.0

    def describe(self) -> str:
        if self.kind == "const":
            return _num(self.value)
        base = {"district": "district", "type": "peer", "size": "size-band"}[self.peers]
        what = f"{base} mean" if self.kind == "mean" else f"{base} quantile {_num(self.q)}"
        return what if self.scale == 1.0 else f"{_num(self.scale)} x {what}"


@dataclass(frozen=True)
class Compare:
    indicator: str
    op: str
    ref: Ref
    change: Literal["delta", "percent"] | None = None
    for_periods: int = 1
    path: tuple = field(default=(), compare=False)
    node_id: int = field(default=0, compare=False)

    def describe(self) -> str:
        what = self.indicator if self.change is None else f"{self.change} of {self.indicator}"
        text = f"{what} {OPS[self.op]} {self.ref.describe()}"
        return text if self.for_periods == 1 else f"{text} for {self.for_periods} periods"


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]
    for_periods: int = 1
    path: tuple = field(default=(), compare=False)
    node_id: int = field(default=0, compare=False)


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]
    for_periods: int = 1
    path: tuple = field(default=(), compare=False)
    node_id: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    item: Condition
    for_periods: int = 1
    path: tuple = field(default=(), compare=False)
    node_id: int = field(default=0, compare=False)


Condition = Compare | AllOf | AnyOf | Not


def leaves(cond: Condition) -> list[Compare]:
    """The comparisons of a condition, in reading order."""
    if isinstance(cond, Compare):
        return [cond]
    if isinstance(cond, Not):
        return leaves(cond.item)
    return [leaf for item in cond.items for leaf in leaves(item)]


def history_needed(cond: Condition) -> int:
    """How many periods before the current one the condition looks at."""
    own = cond.for_periods - 1
    if isinstance(cond, Compare):
        return own + (1 if cond.change else 0)
    children = [cond.item] if isinstance(cond, Not) else list(cond.items)
    return own + max(history_needed(c) for c in children)


TEMPLATE_FIELDS = ("value", "reference", "indicator", "name", "periods", "id", "size", "quarter_end", "year_end")


@dataclass(frozen=True, eq=False)  # identity: a rule is one object of one rule set, and hashing is cheap
class Rule:
    id: str
    subject: str
    when: Condition
    severity: str
    lamp: bool
    topic: str
    message_zh: str
    message_en: str
    source: str
    indicator: str  # the indicator the finding reports (the first comparison unless the rule names one)
    description: str | None = None
    superseded_by: tuple[str, ...] = ()
    remedy_kinds: tuple[str, ...] = ()
    months: tuple[int, ...] = ()  # calendar months (1-12) the rule applies in; empty: every month
    file: str | None = None
    line: int | None = None
    title_zh: str = ""  # what the rule looks for, in a few words (summaries list rules by it)
    title_en: str = ""

    def title(self, lang: str = "zh") -> str:
        return (self.title_zh if lang == "zh" else self.title_en) or self.id

    @property
    def primary(self) -> Compare:
        for leaf in leaves(self.when):
            if leaf.indicator == self.indicator:
                return leaf
        return leaves(self.when)[0]


@dataclass(frozen=True)
class RuleSet:
    registry: Registry
    points: dict[str, float]
    rules: tuple[Rule, ...]
    version: str
    files: tuple[str, ...] = ()

    def for_subject(self, subject: str) -> list[Rule]:
        return [r for r in self.rules if r.subject == subject]

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


class _Template(string.Formatter):
    """str.format restricted to plain field names: no attribute or index access from rule files."""

    def get_field(self, field_name, args, kwargs):  # type: ignore[override]
        if field_name not in kwargs:
            raise KeyError(field_name)
        return kwargs[field_name], field_name

    def format_field(self, value, format_spec):  # type: ignore[override]
        if value is None:
            return "—"
        if isinstance(value, float) and not format_spec:
            return _num(round(value, 2))
        return super().format_field(value, format_spec)


TEMPLATE = _Template()


def template_problems(text: str) -> list[str]:
    """Why a message template is unusable, as a list of reasons (empty when it is fine)."""
    problems = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [f"bad template: {exc} (write literal braces as {{{{ and }}}})"]
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            problems.append(f"unknown placeholder {{{name}}}; use one of "
                            + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS))
        elif conv:
            problems.append(f"conversion !{conv} is not allowed in {{{name}}}")
        elif spec:
            try:
                sample = {"value": 1.5, "reference": 1.5, "periods": 1, "size": 1.5}.get(name, "x")
                format(sample, spec)
            except ValueError:
                problems.append(f"bad format '{spec}' in {{{name}}}")
    return problems


def render(text: str, **fields: object) -> str:
    return TEMPLATE.vformat(text, (), fields)
