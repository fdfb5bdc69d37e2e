"""The branch diagnosis report (支部党建诊疗报告) as a secretary reads and acts on it.

``BranchReport`` is its data (built by ``pipeline.report_data``); ``document`` resolves it into one
language as a document: the lamp and what lit it, the weaknesses (labelled by how serious they are,
never by a lamp colour), named lists of members to act on, the month's plan of at most three
remedies, the last six months, and the members' points. ``render`` turns the document into text,
Markdown or HTML, so every format says the same thing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine.findings import Finding, SubjectResult
from ..remedies.catalog import KIND_NAMES
from ..remedies.plan import PlanItem
from ..rules.model import Compare, Registry
from .labels import LABELS, fmt

CATEGORIES = {
    "org_life": ("组织生活", "org life", ["member_assemblies_attended", "committee_meetings_attended",
                                           "group_meetings_attended", "party_lectures_attended",
                                           "theme_party_days_attended"]),
    "dues": ("党费", "dues", ["dues_paid"]),
    "vanguard_role": ("示范岗", "model posts", ["model_posts_created"]),
    "volunteer_service": ("志愿服务", "volunteering", ["volunteer_hours"]),
}
ABSENT_MONTHS = 2  # months in a row away from organisational life that call for a talk


@dataclass
class MonthLine:
    """One month of the branch's last six: its lamp, its weaknesses (new or continuing), and those resolved."""

    period: str
    lamp: str | None  # None: not diagnosed
    weaknesses: list[tuple[str, str]]  # (topic, "new" | "continuing" | "": not known, no month before it)
    resolved: list[str]


@dataclass
class BranchReport:
    """Everything a secretary's report shows, as data (no language yet): built by
    ``pipeline.report_data`` from a diagnosed month or from the store, the same way for both."""

    result: SubjectResult
    info: dict  # name, type, street, street_en
    members: list[SubjectResult]
    names: dict[str, str]  # member id -> name
    lamp_reasons: list[Finding]  # the findings of lamp rules at the branch's lamp
    findings: list[dict]  # {finding, indicator, district_mean, compared}, in the order of the weaknesses
    reminders: list[Finding]  # what must still be done, and by when (severity reminder)
    dues_unpaid: list[tuple[str, int]]  # (member id, months unpaid in a row), longest first
    absent: list[tuple[str, int]]  # (member id, months absent in a row), ABSENT_MONTHS or more
    flagged: list[SubjectResult]  # red, then yellow members, each with every reason
    plan: list[PlanItem]
    more: list[PlanItem]
    history: list[MonthLine]  # oldest first, ending with this month
    categories: dict[str, float | None]  # points per member by category
    avg_points: float | None
    avg_ytd: float | None
    district_points: float | None
    top: list[SubjectResult]
    bookings: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # resource -> (zh, en)
    # prescription id -> (status, date, feedback id) of its latest feedback
    feedback: dict[int, tuple[str, str, int]] = field(default_factory=dict)

    def status(self, item: PlanItem) -> tuple[str, str] | None:
        """The latest feedback given on any of the item's prescriptions: (status, date), or None."""
        known = [self.feedback[p] for p in item.prescription_ids if p in self.feedback]
        return max(known, key=lambda s: s[2])[:2] if known else None

    def name(self, member_id: str) -> str:
        return self.names.get(member_id) or member_id


# ------------------------------------------------------------------------------------------- document

@dataclass
class Section:
    heading: str
    key: str = ""  # what the section is (lamp, weaknesses, actions, plan, history, members), for pages
    blocks: list[tuple] = field(default_factory=list)
    # ("p", text) | ("h", text) | ("list", [(text, [sub])]) | ("table", headers, rows)
    # | ("plan", [(text, [sub], PlanItem)]) | ("more", heading, [(text, [sub])])


@dataclass
class Document:
    lang: str
    title: str
    facts: list[tuple[str, str]]
    lamp: str
    lamp_label: str
    sections: list[Section]


def document(data: BranchReport, reg: Registry, lang: str = "zh") -> Document:
    """The report as a language-resolved document, ready for any renderer."""
    t = LABELS[lang]
    zh = lang == "zh"
    r, info = data.result, data.info

    def topic_name(topic: str) -> str:
        named = reg.topics.get(topic)
        return (named.name_zh if zh else named.name_en) if named else topic

    def message(f: Finding) -> str:
        return f.message_zh if zh else f.message_en

    btype = reg.branch_types.get(r.branch_type)
    facts = [(t["period"], r.period),
             (t["type"], (btype.name_zh if zh else btype.name_en) if btype else str(r.branch_type)),
             (t["street"], str(info["street"] if zh else info.get("street_en") or info["street"])),
             (t["lamp"], t[r.lamp])]
    sections = [_lamp(data, t, message), *_reminders(data, t, message), _weaknesses(data, t, topic_name, message),
                _actions(data, t, message),
                _plan(data, t, zh, topic_name), _history(data, t, topic_name), _members(data, t, zh)]
    return Document(lang, f"{t['report_title']} · {info['name']} ({r.id})", facts, r.lamp, t[r.lamp], sections)


def _lamp(data: BranchReport, t: dict, message) -> Section:
    section = Section(t["lamp_section"], "lamp")
    if data.result.lamp == "green":
        section.blocks.append(("p", t["lamp_green"]))
    else:
        section.blocks.append(("p", t["lamp_because"].format(lamp=t[data.result.lamp])))
        section.blocks.append(("list", [(message(f), []) for f in data.lamp_reasons]))
    return section


def _reminders(data: BranchReport, t: dict, message) -> list[Section]:
    """What is still to be done this quarter or year, and by when (only when there is something)."""
    if not data.reminders:
        return []
    return [Section(t["reminders"], "reminders", [("list", [(message(f), []) for f in data.reminders])])]


def _weaknesses(data: BranchReport, t: dict, topic_name, message) -> Section:
    r = data.result
    section = Section(f"{t['weak']}{t['colon']}" + (t["sep"].join(topic_name(w) for w in r.weaknesses)
                                                     if r.weaknesses else t["none"]), "weaknesses")
    if data.findings:
        headers = [t["findings"], t["value_col"], t["ref_col"], t["severity_col"]]
        def shown(value, item) -> str:  # a share in percent says so: 25% beside 1.06%, not 25 beside 1.06
            text = fmt(value)
            unit = getattr(item.get("indicator"), "unit", None)
            return f"{text}%" if unit == "percent" and value is not None else text

        # Each finding names the weakness it belongs to: a weakness may have several (基地活动 under 理论学习).
        rows = [[t["of_topic"].format(topic=topic_name(item["finding"].topic), text=message(item["finding"])),
                 shown(item["finding"].value, item),
                 compared_with(item, t, lambda value, item=item: shown(value, item)),
                 t[f"sev_{item['finding'].severity}"]] for item in data.findings]
        section.blocks.append(("table", headers, rows))
    else:
        section.blocks.append(("p", t["no_findings"]))
    return section


def compared_with(item: dict, t: dict, shown: Callable[[float | None], str]) -> str:
    """What a finding's value was compared with, in words, beside the district's average: the type's
    average, say, when the district's alone would show a value above it as a weakness."""
    compare: Compare | None = item.get("compared")
    mean = item.get("district_mean")
    if compare is None:
        return t["ref_is"].format(basis=t["ref_mean_district"], value=shown(mean)) if mean is not None \
            else t["ref_none"]
    ref = compare.ref
    if ref.kind == "const":
        text = t[f"ref_{compare.op}"].format(value=shown(ref.value))
    else:
        if ref.kind == "mean":
            basis = t[f"ref_mean_{ref.peers}"]
        else:
            basis = t[f"ref_q_{ref.peers}"].format(p=_percentile(ref.q or 0.0, t))
        if ref.scale != 1.0:
            basis = t["ref_scaled"].format(basis=basis, pct=fmt(ref.scale * 100))
        text = t["ref_is"].format(basis=basis, value=shown(item["finding"].reference))
        if ref.kind == "mean" and ref.peers == "district" and ref.scale == 1.0:
            return text  # the district's average itself
    return t["ref_and_mean"].format(ref=text, mean=shown(mean)) if mean is not None else text


def _percentile(q: float, t: dict) -> str:
    """10 in Chinese (第10百分位), 10th in English."""
    p = fmt(q * 100)
    if t is LABELS["zh"] or not p.isdigit():
        return p
    n = int(p)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{p}{suffix}"


def _actions(data: BranchReport, t: dict, message) -> Section:
    section = Section(t["actions"], "actions")
    section.blocks.append(("h", t["dues_list"]))
    section.blocks.append(("list", [(t["dues_line"].format(name=data.name(m), id=m, months=n,
                                                           month_word="month" if n == 1 else "months"), [])
                                    for m, n in data.dues_unpaid]) if data.dues_unpaid else ("p", t["dues_none"]))
    section.blocks.append(("h", t["talk_list"]))
    section.blocks.append(("list", [(t["talk_line"].format(name=data.name(m), id=m, months=n), [])
                                    for m, n in data.absent]) if data.absent else ("p", t["talk_none"]))
    section.blocks.append(("h", t["flagged_list"]))
    section.blocks.append(("list", [(t["flagged_line"].format(name=data.name(m.id), id=m.id, lamp=t[m.lamp]),
                                     [message(f) for f in m.findings]) for m in data.flagged])
                          if data.flagged else ("p", t["flagged_none"]))
    return section


def _plan(data: BranchReport, t: dict, zh: bool, topic_name) -> Section:
    section = Section(t["plan"], "plan")
    if not data.plan:
        section.blocks.append(("p", t["plan_none"]))
        return section

    def lines(item: PlanItem) -> tuple[str, list[str]]:
        kind = KIND_NAMES[item.kind][0 if zh else 1]
        subs = [t["covers"] + t["sep"].join(topic_name(c) for c in item.covers)]
        booking = data.bookings.get(item.resource_id, (None, None))[0 if zh else 1]
        if booking:
            subs.append(booking)
        return f"[{kind}] {item.advice_zh if zh else item.advice_en}", subs

    section.blocks.append(("plan", [(*lines(item), item) for item in data.plan]))
    if data.more:
        section.blocks.append(("more", t["more_rx"], [lines(item) for item in data.more]))
    return section


def _history(data: BranchReport, t: dict, topic_name) -> Section:
    section = Section(t["history"], "history")
    rows = []
    for line in data.history:
        weak = t["sep"].join(t["with_state"].format(topic=topic_name(topic), state=t[state]) if state
                             else topic_name(topic) for topic, state in line.weaknesses)
        if not line.lamp:  # a month not diagnosed says nothing of its weaknesses: not "none"
            rows.append([line.period, t["no_data"], "—", "—"])
            continue
        rows.append([line.period, t[line.lamp], weak or t["none"],
                     t["sep"].join(topic_name(x) for x in line.resolved) or t["none"]])
    section.blocks.append(("table", [t["month_col"], t["lamp_col"], t["weak_col"], t["resolved_col"]], rows))
    return section


def _members(data: BranchReport, t: dict, zh: bool) -> Section:
    section = Section(t["members"], "members")
    counts = Counter(m.lamp for m in data.members)
    lines = [t["member_lamps_line"].format(n=len(data.members), red=counts.get("red", 0),
                                           yellow=counts.get("yellow", 0), green=counts.get("green", 0)),
             t["points"].format(avg=fmt(data.avg_points), district=fmt(data.district_points),
                                ytd=fmt(data.avg_ytd)),
             f"{t['categories']}{t['colon']}" + t["sep"].join(
                 f"{(CATEGORIES[c][0] if zh else CATEGORIES[c][1])} {fmt(v)}" for c, v in data.categories.items())]
    if data.top:
        lines.append(f"{t['top_members']}{t['colon']}" + t["sep"].join(
            f"{data.name(m.id)} {fmt(m.vanguard_points)}" for m in data.top))
    section.blocks.append(("list", [(line, []) for line in lines]))
    return section


__all__ = ["ABSENT_MONTHS", "CATEGORIES", "BranchReport", "Document", "MonthLine", "Section", "document"]
