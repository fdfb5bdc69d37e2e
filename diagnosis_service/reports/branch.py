"""The branch diagnosis report (支部党建诊疗报告) as a secretary reads it.

``BranchReport`` is its data; ``document`` resolves it into one language as a document (title, facts,
sections of paragraphs, lists and tables) that ``render`` turns into text, Markdown or HTML, so the
three formats always say the same thing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..engine.findings import SubjectResult
from ..remedies.catalog import KIND_NAMES, Resource
from ..rules.model import Registry
from .labels import LABELS, fmt

CATEGORIES = {
    "org_life": ("组织生活", "org life", ["member_assemblies_attended", "committee_meetings_attended",
                                           "group_meetings_attended", "party_lectures_attended",
                                           "theme_party_days_attended"]),
    "dues": ("党费", "dues", ["dues_paid"]),
    "vanguard_role": ("示范岗", "model posts", ["model_posts_created"]),
    "volunteer_service": ("志愿服务", "volunteering", ["volunteer_hours"]),
}


@dataclass
class BranchReport:
    """Everything a secretary's report shows, as data (no language yet): built by
    ``pipeline.report_data`` from a diagnosed month or from the store, the same way for both."""

    result: SubjectResult
    info: dict  # name, type, street
    members: list[SubjectResult]
    findings: list[dict]  # {finding, indicator, district_mean}, in the order of the weaknesses
    categories: dict[str, float | None]  # points per member by category
    avg_points: float | None
    avg_ytd: float | None
    district_points: float | None
    top: list[SubjectResult]
    red_members: list[SubjectResult]
    prescriptions: list[tuple[str, list[dict]]]  # (topic, prescription views) per weakness


def prescription_view(item: dict, resource: Resource | None, advice_zh: str, advice_en: str) -> dict:
    """What the report shows of one prescription (the service builds the same from its log)."""
    text = resource.text if resource is not None else {}
    return {"kind": item["kind"], "advice_zh": advice_zh, "advice_en": advice_en,
            "booking_zh": text.get("booking_zh"), "booking_en": text.get("booking_en")}


# ------------------------------------------------------------------------------------------- document

@dataclass
class Section:
    heading: str
    blocks: list[tuple] = field(default_factory=list)  # ("p", text) | ("h", text) | ("list", [(text, [sub])])
    #                                                    | ("table", headers, rows)


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

    btype = reg.branch_types.get(r.branch_type)
    facts = [(t["period"], r.period),
             (t["type"], (btype.name_zh if zh else btype.name_en) if btype else str(r.branch_type)),
             (t["street"], str(info["street"])), (t["lamp"], t[r.lamp])]
    sections = []

    weak = Section(f"{t['weak']}{t['colon']}" + (t["sep"].join(topic_name(w) for w in r.weaknesses)
                                                  if r.weaknesses else t["none"]))
    if data.findings:
        headers = [t["findings"], t["value_col"], t["mean_col"], t["severity_col"]]
        rows = []
        for item in data.findings:
            f = item["finding"]
            rows.append([f.message_zh if zh else f.message_en, fmt(f.value), fmt(item["district_mean"]),
                         t[f.severity]])
        weak.blocks.append(("table", headers, rows))
    else:
        weak.blocks.append(("p", t["no_findings"]))
    sections.append(weak)

    people = Section(t["members"])
    counts = Counter(m.lamp for m in data.members)
    lines = [t["member_lamps_line"].format(n=len(data.members), red=counts.get("red", 0),
                                           yellow=counts.get("yellow", 0), green=counts.get("green", 0)),
             t["points"].format(avg=fmt(data.avg_points), district=fmt(data.district_points),
                                ytd=fmt(data.avg_ytd)),
             f"{t['categories']}{t['colon']}" + t["sep"].join(
                 f"{(CATEGORIES[c][0] if zh else CATEGORIES[c][1])} {fmt(v)}" for c, v in data.categories.items())]
    if data.top:
        lines.append(f"{t['top_members']}{t['colon']}" + t["sep"].join(
            f"{m.id} {fmt(m.vanguard_points)}" for m in data.top))
    if data.red_members:
        reds = data.red_members
        more = f" {t['more'].format(n=len(reds) - 10)}" if len(reds) > 10 else ""
        lines.append(f"{t['red_members']}{t['colon']}" + t["sep"].join(
            f"{m.id} ({(m.findings[0].message_zh if zh else m.findings[0].message_en)})" for m in reds[:10]) + more)
    people.blocks.append(("list", [(line, []) for line in lines]))
    sections.append(people)

    rx = Section(t["prescriptions"])
    if not data.prescriptions:
        rx.blocks.append(("p", t["no_weakness"]))
    for topic, views in data.prescriptions:
        rx.blocks.append(("h", topic_name(topic)))
        items = []
        for v in views:
            kind = KIND_NAMES[v["kind"]][0 if zh else 1]
            booking = v["booking_zh" if zh else "booking_en"]
            items.append((f"[{kind}] {v['advice_zh' if zh else 'advice_en']}", [booking] if booking else []))
        rx.blocks.append(("list", items) if items else ("p", t["none"]))
    sections.append(rx)
    return Document(lang, f"{t['report_title']} · {info['name']} ({r.id})", facts, r.lamp, t[r.lamp], sections)


__all__ = ["CATEGORIES", "BranchReport", "Document", "Section", "document", "prescription_view"]
