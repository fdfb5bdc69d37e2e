"""Human-readable output: the district summary, a branch report, and the --explain trace.

Chinese first (the secretaries' language), English with lang="en". Reports are built as plain data
first (``branch_report``) so that every format renders the same content.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .data.model import parse_period, period_str
from .diagnose import Diagnosis
from .engine.evaluator import aggregate
from .engine.findings import clean_number
from .engine.vectorized import explain
from .rules.model import OPS, Ref

LABELS = {
    "zh": {
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

CATEGORIES = {
    "org_life": ("组织生活", "org life", ["member_assemblies_attended", "committee_meetings_attended",
                                           "group_meetings_attended", "party_lectures_attended",
                                           "theme_party_days_attended"]),
    "dues": ("党费", "dues", ["dues_paid"]),
    "vanguard_role": ("示范岗", "model posts", ["model_posts_created"]),
    "volunteer_service": ("志愿服务", "volunteering", ["volunteer_hours"]),
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
    for f in result.findings:
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
    }


def render_branch_text(diag: Diagnosis, branch_id: str, lang: str = "zh") -> str:
    t = LABELS[lang]
    data = branch_report(diag, branch_id)
    r, info = data["result"], data["info"]
    reg = diag.ruleset.registry
    zh = lang == "zh"
    btype = reg.branch_types.get(r.branch_type)
    lines = [f"{t['report_title']} · {info['name']} ({r.id})",
             f"{t['period']}{t['colon']}{r.period}    {t['type']}{t['colon']}{(btype.name_zh if zh else btype.name_en) if btype else r.branch_type}"
             f"    {t['street']}{t['colon']}{info['street']}",
             f"{t['lamp']}{t['colon']}{t[r.lamp]}", ""]
    lines.append(f"{t['weak']}{t['colon']}" + t["sep"].join(
        (reg.topics[w].name_zh if zh else reg.topics[w].name_en) for w in r.weaknesses) if r.weaknesses
        else f"{t['weak']}{t['colon']}{t['none']}")
    lines.append(f"{t['findings']}{t['colon']}" if data["findings"] else f"{t['findings']}{t['colon']}{t['none']}")
    for item in data["findings"]:
        f = item["finding"]
        msg = f.message_zh if zh else f.message_en
        mark = {"red": "●", "yellow": "○"}[f.severity]
        lines.append(f"  {mark} [{t[f.severity]}] {msg}")
        if item["district_mean"] is not None and f.value is not None:
            lines.append("      " + t["value_vs"].format(value=_fmt(f.value), mean=_fmt(item["district_mean"])))
    lines += ["", f"{t['members']}{t['colon']}"]
    counts = Counter(m.lamp for m in data["members"])
    lines.append("  " + t["member_lamps_line"].format(n=len(data["members"]), red=counts.get("red", 0),
                                                       yellow=counts.get("yellow", 0), green=counts.get("green", 0)))
    lines.append("  " + t["points"].format(avg=_fmt(data["avg_points"]), district=_fmt(data["district_points"]),
                                            ytd=_fmt(data["avg_ytd"])))
    lines.append(f"  {t['categories']}{t['colon']}" + t["sep"].join(
        f"{(CATEGORIES[c][0] if zh else CATEGORIES[c][1])} {_fmt(v)}" for c, v in data["categories"].items()))
    if data["top"]:
        lines.append(f"  {t['top_members']}{t['colon']}" + t["sep"].join(
            f"{m.id} {_fmt(m.vanguard_points)}" for m in data["top"]))
    if data["red_members"]:
        reds = data["red_members"]
        lines.append(f"  {t['red_members']}{t['colon']}" + t["sep"].join(
            f"{m.id} ({(m.findings[0].message_zh if zh else m.findings[0].message_en)})" for m in reds[:10]))
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
