"""Human-readable output: the district summary, a branch report, and the --explain trace.

Chinese first (the secretaries' language), English with lang="en". Reports are built as plain data
first (``branch_report``) so that every format renders the same content.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from ..data.model import parse_period, period_str
from ..engine.findings import clean_number
from ..engine.vectorized import explain
from ..pipeline.month import Diagnosis
from ..remedies.catalog import FORMAT_NAMES, KIND_NAMES, Resource
from ..rules.model import OPS, Registry

LABELS = {
    "zh": {
        "prescriptions": "药方（推荐资源）", "kind_col": "类别", "title_col": "名称", "topics_col": "主题",
        "format_col": "形式", "active_col": "启用", "yes": "是", "no": "否", "id_col": "编号",
        "rx_explain_title": "{id} 在 {period} 的药方依据（排序：{ranker}）",
        "rx_pool": "候选 {n} 个：停用 {inactive}，不适合本支部 {unsuitable}，近 {months} 个月已推荐 {recent}",
        "rx_repeats": "（无其他合适资源，沿用近期推荐）", "weakness_of": "短板「{topic}」（规则 {rule}）",
        "no_weakness": "本月没有短板，无需药方。", "no_findings": "本月未发现问题。",
        "value_col": "本支部", "mean_col": "全区平均", "severity_col": "程度",
        "summary": "{period} 诊断结果（规则版本 {version}）：支部 {branches} 个，党员 {members} 名",
        "branch_lamps": "支部亮灯", "member_lamps": "党员亮灯",
        "red": "红灯", "yellow": "黄灯", "green": "绿灯",
        "top_weak": "主要短板（支部数）", "top_rules": "最常见的问题（次数）", "red_branches": "红灯支部",
        "report_title": "支部党建诊疗报告", "period": "月份", "type": "类型", "street": "所在街道（镇）",
        "lamp": "亮灯", "findings": "发现的问题", "none": "无", "weak": "短板",
        "value_vs": "本支部 {value}，全区平均 {mean}", "members": "党员情况",
        "member_lamps_line": "党员 {n} 名：红灯 {red}，黄灯 {yellow}，绿灯 {green}",
        "points": "锋领指数：本月人均 {avg}（全区人均 {district}），年度累计人均 {ytd}",
        "categories": "分类积分（本月人均）", "top_members": "本月锋领指数前列",
        "red_members": "红灯党员", "more": "（另有 {n} 个）",
        "fired": "触发", "not_fired": "未触发", "unknown": "无法判断（数据缺失）", "skipped": "本月不适用",
        "explain_title": "{id} 在 {period} 的规则判断", "colon": "：", "sep": "、",
    },
    "en": {
        "prescriptions": "Prescriptions (suggested resources)", "kind_col": "kind", "title_col": "title",
        "topics_col": "topics", "format_col": "format", "active_col": "active", "yes": "yes", "no": "no",
        "id_col": "id",
        "rx_explain_title": "Why these prescriptions for {id} in {period} (ranking: {ranker})",
        "rx_pool": "{n} candidates: {inactive} inactive, {unsuitable} unsuitable for this branch, {recent} "
                   "prescribed in the last {months} months",
        "rx_repeats": "(nothing else fits: recent prescriptions repeated)", "weakness_of": "weakness '{topic}' (rule {rule})",
        "no_weakness": "No weaknesses this month: nothing to prescribe.", "no_findings": "No findings this month.",
        "value_col": "this branch", "mean_col": "district average", "severity_col": "severity",
        "summary": "Diagnosis of {period} (rules {version}): {branches} branches, {members} members",
        "branch_lamps": "Branch lamps", "member_lamps": "Member lamps",
        "red": "red", "yellow": "yellow", "green": "green",
        "top_weak": "Top weaknesses (branches)", "top_rules": "Most frequent findings", "red_branches": "Red branches",
        "report_title": "Branch diagnosis report", "period": "Period", "type": "Type", "street": "Street/town",
        "lamp": "Lamp", "findings": "Findings", "none": "none", "weak": "Weaknesses",
        "value_vs": "this branch {value}, district average {mean}", "members": "Members",
        "member_lamps_line": "{n} members: {red} red, {yellow} yellow, {green} green",
        "points": "Vanguard points: {avg} per member this month (district {district}); {ytd} this year",
        "categories": "Points by category (per member, this month)", "top_members": "Top members this month",
        "red_members": "Members with a red lamp", "more": "(and {n} more)",
        "fired": "fired", "not_fired": "not fired", "unknown": "unknown (missing data)", "skipped": "not applied this month",
        "explain_title": "Rules for {id} in {period}", "colon": ": ", "sep": ", ",
    },
}

def _fmt(x) -> str:
    x = clean_number(x)
    if x is None:
        return "—"
    return str(x) if isinstance(x, int) else f"{x:.2f}".rstrip("0").rstrip(".")


def summary(diag: Diagnosis, lang: str = "zh", limit: int = 10) -> str:
    t = LABELS[lang]
    lines = [t["summary"].format(period=diag.period, version=diag.ruleset.version, branches=len(diag.branches),
                                 members=len(diag.members))]
    for label, results in ((t["branch_lamps"], diag.branches), (t["member_lamps"], diag.members)):
        counts = Counter(r.lamp for r in results)
        lines.append(f"{label}{t['colon']}" + "  ".join(f"{t[c]} {counts.get(c, 0)}" for c in ("red", "yellow", "green")))
    topics = diag.ruleset.registry.topics
    weak = Counter(w for r in diag.branches for w in r.weaknesses)
    lines.append(t["top_weak"] + t["colon"])
    for topic, n in sorted(weak.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        name = topics[topic].name_zh if lang == "zh" else topics[topic].name_en
        lines.append(f"  {name} ({topic}): {n}")
    rules = Counter(f.rule for r in diag.branches + diag.members for f in r.findings)
    lines.append(t["top_rules"] + t["colon"])
    for rule, n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        lines.append(f"  {rule}: {n}")
    red = [r.id for r in diag.branches if r.lamp == "red"]
    if red:
        more = f" {t['more'].format(n=len(red) - limit)}" if len(red) > limit else ""
        lines.append(f"{t['red_branches']}{t['colon']}" + t["sep"].join(red[:limit]) + more)
    return "\n".join(lines)


def render_explain(diag: Diagnosis, subject: str, subject_id: str, lang: str = "zh") -> str:
    t = LABELS[lang]
    lines = [t["explain_title"].format(id=subject_id, period=diag.period)]
    for rule, state, traces, pos in explain(diag.evaluator, subject, subject_id, diag.period):
        if rule.months and not traces:
            verdict = t["skipped"]
        else:
            verdict = t["fired"] if state else (t["unknown"] if state is None else t["not_fired"])
        mark = "✔" if state else ("?" if state is None else "✘")
        lines.append(f"{mark} {rule.id} [{rule.severity}{', lamp' if rule.lamp else ''}]: {verdict}")
        for tr in traces:
            period = period_str(parse_period(diag.period) - tr.lag)
            what = tr.node.indicator if tr.node.change is None else f"{tr.node.change}({tr.node.indicator})"
            ref = tr.node.ref.describe()
            res = "true" if tr.result.true[pos] else ("false" if tr.result.known[pos] else "unknown")
            lines.append(f"    {period}: {what} = {_fmt(tr.value[pos])} {OPS[tr.node.op]} {ref}"
                         f"{'' if tr.node.ref.kind == 'const' else ' = ' + _fmt(tr.reference[pos])} -> {res}")
    return "\n".join(lines)


def render_prescriptions_explain(diag: Diagnosis, branch_id: str, lang: str = "zh") -> str:
    """Why each prescription of a branch was chosen: filters, score factors, diversity discount."""
    t = LABELS[lang]
    choices = diag.choices.get(branch_id, [])
    ranker = choices[0].ranker if choices else "-"
    lines = [t["rx_explain_title"].format(id=branch_id, period=diag.period, ranker=ranker)]
    if not choices:
        lines.append(t["no_weakness"])
    topics = diag.ruleset.registry.topics
    for choice in choices:
        need = choice.need
        name = topics[need.topic].name_zh if lang == "zh" else topics[need.topic].name_en
        lines.append(t["weakness_of"].format(topic=name, rule=need.rule))
        lines.append("  " + t["rx_pool"].format(n=choice.candidates, inactive=choice.inactive,
                                                unsuitable=choice.unsuitable, recent=len(choice.recent),
                                                months=choice.repeat_months) + (" " + t["rx_repeats"] if choice.used_repeats else ""))
        for k, p in enumerate(choice.prescriptions, start=1):
            factors = " x ".join(f"{name} {clean_number(v)}" for name, v in p.parts)
            discount = (f" x diversity {clean_number(choice.diversity ** p.same_kind_before)}"
                        if p.same_kind_before else "")
            lines.append(f"  {k}. {p.resource.id} [{p.resource.kind}] {p.resource.title(lang)}")
            lines.append(f"     score {clean_number(p.score)} = {factors}{discount}")
    return "\n".join(lines)


def catalog_table(resources: list[Resource], registry: Registry, lang: str = "zh") -> str:
    """A plain table of resources for a terminal."""
    t = LABELS[lang]
    rows = [(t["id_col"], t["kind_col"], t["format_col"], t["active_col"], t["topics_col"], t["title_col"])]
    for r in resources:
        kind = KIND_NAMES[r.kind][0 if lang == "zh" else 1]
        fmt = FORMAT_NAMES[r.format][0 if lang == "zh" else 1]
        topics = t["sep"].join((registry.topics[x].name_zh if lang == "zh" else registry.topics[x].name_en)
                               for x in r.topics)
        rows.append((r.id, kind, fmt, t["yes"] if r.active else t["no"], topics, r.title(lang)))
    widths = [max(_width(row[c]) for row in rows) for c in range(5)]
    out = []
    for row in rows:
        cells = [row[c] + " " * (widths[c] - _width(row[c])) for c in range(5)]
        out.append("  ".join(cells + [row[5]]))
    out.append(f"({len(resources)})")
    return "\n".join(out)


def _width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
