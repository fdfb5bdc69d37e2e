"""The branch diagnosis report (支部党建诊疗报告) as a secretary reads it: text, Markdown or HTML.

The report is built once as a language-resolved document (title, facts, sections of paragraphs,
lists and tables) and then rendered, so the three formats always say the same thing.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..data.model import parse_period
from ..engine.evaluator import aggregate
from ..pipeline.month import Diagnosis
from ..remedies.catalog import KIND_NAMES, Resource
from ..rules.model import Ref, Registry
from .summary import LABELS, _fmt

CATEGORIES = {
    "org_life": ("组织生活", "org life", ["member_assemblies_attended", "committee_meetings_attended",
                                           "group_meetings_attended", "party_lectures_attended",
                                           "theme_party_days_attended"]),
    "dues": ("党费", "dues", ["dues_paid"]),
    "vanguard_role": ("示范岗", "model posts", ["model_posts_created"]),
    "volunteer_service": ("志愿服务", "volunteering", ["volunteer_hours"]),
}
FORMATS = ("text", "markdown", "html")


def branch_report(diag: Diagnosis, branch_id: str) -> dict:
    """Everything a secretary's report shows, as data (no language yet)."""
    result = next((r for r in diag.branches if r.id == branch_id), None)
    if result is None:
        raise KeyError(branch_id)
    ev = diag.evaluator
    pidx = parse_period(diag.period)
    info = ev.dataset.branches.loc[branch_id]
    members = [m for m in diag.members if m.branch_id == branch_id]
    frame = ev.frame("member", pidx)
    ids = [m.id for m in members]
    rows = frame.reindex(ids)
    district_pts = frame["vanguard_points"].mean() if "vanguard_points" in frame else np.nan
    categories = {}
    for cat, (_zh, _en, cols) in CATEGORIES.items():
        weights = [diag.ruleset.points.get(c, 0.0) for c in cols]
        pts = sum(np.nan_to_num(rows[c].to_numpy(), nan=0.0) * w for c, w in zip(cols, weights, strict=True))
        categories[cat] = float(np.mean(pts)) if len(ids) else None
    weak_values = []
    order = {topic: k for k, topic in enumerate(result.weaknesses)}
    for f in sorted(result.findings, key=lambda f: order.get(f.topic, len(order))):  # stable: severity kept
        ind = diag.ruleset.registry.get("branch", f.indicator)
        column = ev.column("branch", f.indicator, pidx)
        mean = aggregate(column.dropna().to_numpy(), Ref("mean")) if column is not None else None
        weak_values.append({"finding": f, "indicator": ind, "district_mean": mean})
    ranked = sorted(members, key=lambda m: (-(m.vanguard_points or 0), m.id))
    return {
        "result": result, "info": info, "members": members, "findings": weak_values, "categories": categories,
        "avg_points": float(np.nanmean([m.vanguard_points for m in members if m.vanguard_points is not None]))
        if members else None,
        "avg_ytd": float(np.nanmean([m.vanguard_points_ytd for m in members if m.vanguard_points_ytd is not None]))
        if members else None,
        "district_points": float(district_pts), "top": ranked[:5],
        "red_members": [m for m in members if m.lamp == "red"],
        "prescriptions": [(c.need.topic, [prescription_view(p.as_dict(), p.resource, p.advice_zh, p.advice_en)
                                          for p in c.prescriptions])
                          for c in diag.choices.get(branch_id, [])],
    }


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


def report_document(diag: Diagnosis, branch_id: str, lang: str = "zh") -> Document:
    return document_from(branch_report(diag, branch_id), diag.ruleset.registry, lang)


def document_from(data: dict, reg: Registry, lang: str = "zh") -> Document:
    """The report document from report data (``branch_report``, or the service's equivalent)."""
    t = LABELS[lang]
    zh = lang == "zh"
    r, info = data["result"], data["info"]

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
    if data["findings"]:
        headers = [t["findings"], t["value_col"], t["mean_col"], t["severity_col"]]
        rows = []
        for item in data["findings"]:
            f = item["finding"]
            rows.append([f.message_zh if zh else f.message_en, _fmt(f.value), _fmt(item["district_mean"]),
                         t[f.severity]])
        weak.blocks.append(("table", headers, rows))
    else:
        weak.blocks.append(("p", t["no_findings"]))
    sections.append(weak)

    people = Section(t["members"])
    counts = Counter(m.lamp for m in data["members"])
    lines = [t["member_lamps_line"].format(n=len(data["members"]), red=counts.get("red", 0),
                                           yellow=counts.get("yellow", 0), green=counts.get("green", 0)),
             t["points"].format(avg=_fmt(data["avg_points"]), district=_fmt(data["district_points"]),
                                ytd=_fmt(data["avg_ytd"])),
             f"{t['categories']}{t['colon']}" + t["sep"].join(
                 f"{(CATEGORIES[c][0] if zh else CATEGORIES[c][1])} {_fmt(v)}" for c, v in data["categories"].items())]
    if data["top"]:
        lines.append(f"{t['top_members']}{t['colon']}" + t["sep"].join(
            f"{m.id} {_fmt(m.vanguard_points)}" for m in data["top"]))
    if data["red_members"]:
        reds = data["red_members"]
        more = f" {t['more'].format(n=len(reds) - 10)}" if len(reds) > 10 else ""
        lines.append(f"{t['red_members']}{t['colon']}" + t["sep"].join(
            f"{m.id} ({(m.findings[0].message_zh if zh else m.findings[0].message_en)})" for m in reds[:10]) + more)
    people.blocks.append(("list", [(line, []) for line in lines]))
    sections.append(people)

    rx = Section(t["prescriptions"])
    if not data["prescriptions"]:
        rx.blocks.append(("p", t["no_weakness"]))
    for topic, views in data["prescriptions"]:
        rx.blocks.append(("h", topic_name(topic)))
        items = []
        for v in views:
            kind = KIND_NAMES[v["kind"]][0 if zh else 1]
            booking = v["booking_zh" if zh else "booking_en"]
            items.append((f"[{kind}] {v['advice_zh' if zh else 'advice_en']}", [booking] if booking else []))
        rx.blocks.append(("list", items) if items else ("p", t["none"]))
    sections.append(rx)
    return Document(lang, f"{t['report_title']} · {info['name']} ({r.id})", facts, r.lamp, t[r.lamp], sections)


# ------------------------------------------------------------------------------------------- renderers

def render_branch(diag: Diagnosis, branch_id: str, lang: str = "zh", fmt: str = "text") -> str:
    return render(report_document(diag, branch_id, lang), fmt)


def render(doc: Document, fmt: str = "text") -> str:
    return {"text": render_text, "markdown": render_markdown, "html": render_html}[fmt](doc)


def render_text(doc: Document) -> str:
    colon = LABELS[doc.lang]["colon"]
    lines = [doc.title, "    ".join(f"{k}{colon}{v}" for k, v in doc.facts), ""]
    for section in doc.sections:
        lines.append(section.heading)
        for block in section.blocks:
            if block[0] == "p":
                lines.append(f"  {block[1]}")
            elif block[0] == "h":
                lines.append(f"  【{block[1]}】")
            elif block[0] == "list":
                for text, subs in block[1]:
                    lines.append(f"  · {text}")
                    lines.extend(f"      {sub}" for sub in subs)
            else:
                _, headers, rows = block
                for row in rows:
                    lines.append(f"  · [{row[3]}] {row[0]}")
                    lines.append(f"      {headers[1]} {row[1]}{LABELS[doc.lang]['sep']}{headers[2]} {row[2]}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    """Escape what Markdown would otherwise read as markup."""
    out = text
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def render_markdown(doc: Document) -> str:
    colon = LABELS[doc.lang]["colon"]
    lines = [f"# {_md(doc.title)}", ""]
    lines += [f"- **{_md(k)}**{colon}{_md(v)}" for k, v in doc.facts] + [""]
    for section in doc.sections:
        lines += [f"## {_md(section.heading)}", ""]
        for block in section.blocks:
            if block[0] == "p":
                lines += [_md(block[1]), ""]
            elif block[0] == "h":
                lines += [f"### {_md(block[1])}", ""]
            elif block[0] == "list":
                for text, subs in block[1]:
                    lines.append(f"- {_md(text)}")
                    lines.extend(f"  - {_md(sub)}" for sub in subs)
                lines.append("")
            else:
                _, headers, rows = block
                lines.append("| " + " | ".join(_md(h) for h in headers) + " |")
                lines.append("|" + "---|" * len(headers))
                lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


CSS = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",system-ui,sans-serif;max-width:56rem;
margin:2rem auto;padding:0 1rem;color:#222;line-height:1.6}
h1{font-size:1.5rem;border-bottom:3px solid #c00;padding-bottom:.4rem}
h2{font-size:1.2rem;margin-top:1.8rem;color:#900}h3{font-size:1.05rem;margin-bottom:.3rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dl.facts dt{font-weight:600}
.lamp{display:inline-block;padding:0 .6rem;border-radius:1rem;color:#fff;font-weight:600}
.lamp-red{background:#c62828}.lamp-yellow{background:#f9a825;color:#222}.lamp-green{background:#2e7d32}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:.35rem .5rem;text-align:left;
vertical-align:top}th{background:#f6f1f1}td.num{text-align:right;white-space:nowrap}
li{margin:.25rem 0}li .note{color:#666;font-size:.9em}
"""


def render_html(doc: Document) -> str:
    e = html.escape
    lang = "zh-CN" if doc.lang == "zh" else "en"
    out = ["<!doctype html>", f'<html lang="{lang}">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{e(doc.title)}</title>",
           f"<style>{CSS}</style>", "</head>", "<body>", f"<h1>{e(doc.title)}</h1>", '<dl class="facts">']
    for k, v in doc.facts[:-1]:
        out.append(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>")
    k, _ = doc.facts[-1]
    out.append(f'<dt>{e(k)}</dt><dd><span class="lamp lamp-{e(doc.lamp)}">{e(doc.lamp_label)}</span></dd>')
    out.append("</dl>")
    for section in doc.sections:
        out.append(f"<section><h2>{e(section.heading)}</h2>")
        for block in section.blocks:
            if block[0] == "p":
                out.append(f"<p>{e(block[1])}</p>")
            elif block[0] == "h":
                out.append(f"<h3>{e(block[1])}</h3>")
            elif block[0] == "list":
                out.append("<ul>")
                for text, subs in block[1]:
                    notes = "".join(f'<br><span class="note">{e(s)}</span>' for s in subs)
                    out.append(f"<li>{e(text)}{notes}</li>")
                out.append("</ul>")
            else:
                _, headers, rows = block
                out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr></thead><tbody>")
                for row in rows:
                    out.append(f"<tr><td>{e(row[0])}</td><td class=\"num\">{e(row[1])}</td>"
                               f"<td class=\"num\">{e(row[2])}</td><td>{e(row[3])}</td></tr>")
                out.append("</tbody></table>")
        out.append("</section>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


__all__ = ["FORMATS", "branch_report", "document_from", "prescription_view", "render", "render_branch",
           "report_document"]
