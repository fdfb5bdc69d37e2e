"""The words of human-readable output, Chinese first (the secretaries' language) and English, and how
numbers are written in it."""

from __future__ import annotations

from ..engine.findings import clean_number

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

def fmt(x) -> str:
    """A number as reports write it: at most two decimals, no trailing zeros; a dash when missing."""
    x = clean_number(x)
    if x is None:
        return "—"
    return str(x) if isinstance(x, int) else f"{x:.2f}".rstrip("0").rstrip(".")


__all__ = ["LABELS", "fmt"]
