"""The words of human-readable output, Chinese first (the secretaries' language) and English, and how
numbers are written in it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..engine.findings import clean_number

LABELS = {
    "zh": {
        "prescriptions": "药方（推荐资源）", "kind_col": "类别", "title_col": "名称", "topics_col": "主题",
        "format_col": "形式", "active_col": "启用", "yes": "是", "no": "否", "id_col": "编号",
        "rx_explain_title": "{id} 在 {period} 的药方依据（排序：{ranker}）",
        "rx_pool": "候选 {n} 个：停用 {inactive}，不适合本支部 {unsuitable}，近 {months} 个月已推荐 {recent}",
        "rx_repeats": "（无其他合适资源，沿用近期推荐）", "weakness_of": "短板「{topic}」（规则 {rule}）",
        "no_weakness": "本月没有短板，无需药方。", "no_findings": "本月未发现问题。",
        "value_col": "本支部", "ref_col": "对照", "severity_col": "程度", "of_topic": "【{topic}】{text}",
        "ref_mean_district": "全区平均", "ref_mean_type": "同类支部平均", "ref_mean_size": "同规模支部平均",
        "ref_q_district": "全区第{p}百分位", "ref_q_type": "同类支部第{p}百分位", "ref_q_size": "同规模支部第{p}百分位",
        "ref_scaled": "{basis}的{pct}%", "ref_is": "{basis}：{value}", "ref_lt": "标准：不低于 {value}",
        "ref_le": "标准：高于 {value}", "ref_gt": "标准：不超过 {value}", "ref_ge": "标准：低于 {value}",
        "ref_and_mean": "{ref}（全区平均 {mean}）", "ref_none": "—",
        "summary": "{period} 诊断结果（规则版本 {version}）：支部 {branches} 个，党员 {members} 名",
        "branch_lamps": "支部亮灯", "member_lamps": "党员亮灯",
        "red": "红灯", "yellow": "黄灯", "green": "绿灯",
        "top_weak": "主要短板（支部数）", "top_rules": "最常见的问题（次数）", "red_branches": "红灯支部",
        "report_title": "支部党建诊疗报告", "period": "月份", "type": "类型", "street": "所在街道（镇）",
        "lamp": "亮灯", "findings": "发现的问题", "none": "无", "weak": "短板",
        "members": "党员情况",
        "member_lamps_line": "党员 {n} 名：红灯 {red}，黄灯 {yellow}，绿灯 {green}",
        "points": "锋领指数：本月人均 {avg} 分（全区人均 {district} 分），年度累计人均 {ytd} 分",
        "categories": "分类积分（本月人均，分）", "top_members": "本月锋领指数前列（分）",
        "red_members": "红灯党员", "more": "（另有 {n} 个）",
        "fired": "触发", "not_fired": "未触发", "unknown": "无法判断（数据缺失）", "skipped": "本月不适用",
        "explain_title": "{id} 在 {period} 的规则判断", "colon": "：", "sep": "、",
        "sev_red": "突出问题", "sev_yellow": "一般问题", "sev_reminder": "提醒", "reminders": "待办提醒",
        "lamp_section": "亮灯情况", "lamp_green": "本月支部为绿灯，没有亮灯的问题。",
        "lamp_because": "本月支部亮{lamp}，原因：",
        "actions": "行动清单", "dues_list": "催缴名单（本月未按时交纳党费）",
        "dues_line": "{name}（{id}）：连续 {months} 个月未交纳", "dues_none": "本月党员均已按时交纳党费。",
        "talk_list": "谈心谈话名单（连续两个月以上未参加组织生活）",
        "talk_line": "{name}（{id}）：连续 {months} 个月未参加", "talk_none": "没有连续两个月以上未参加组织生活的党员。",
        "flagged_list": "红黄灯党员", "flagged_none": "本月没有红灯、黄灯党员。",
        "plan": "本月计划（最多三项）", "plan_none": "本月没有短板，无需安排。", "covers": "针对：",
        "more_rx": "更多可选资源", "history": "近六个月", "month_col": "月份", "lamp_col": "亮灯",
        "weak_col": "短板", "resolved_col": "已解决", "new": "新出现", "continuing": "持续",
        "no_data": "无诊断", "flagged_line": "{name}（{id}）{lamp}", "with_state": "{topic}（{state}）",
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
        "value_col": "this branch", "ref_col": "compared with", "severity_col": "severity", "of_topic": "[{topic}] {text}",
        "ref_mean_district": "district average", "ref_mean_type": "average of its type",
        "ref_mean_size": "average of its size band", "ref_q_district": "district's {p} percentile",
        "ref_q_type": "{p} percentile of its type", "ref_q_size": "{p} percentile of its size band",
        "ref_scaled": "{pct}% of the {basis}", "ref_is": "{basis}: {value}", "ref_lt": "standard: at least {value}",
        "ref_le": "standard: above {value}", "ref_gt": "standard: at most {value}", "ref_ge": "standard: below {value}",
        "ref_and_mean": "{ref} (district average {mean})", "ref_none": "—",
        "summary": "Diagnosis of {period} (rules {version}): {branches} branches, {members} members",
        "branch_lamps": "Branch lamps", "member_lamps": "Member lamps",
        "red": "red", "yellow": "yellow", "green": "green",
        "top_weak": "Top weaknesses (branches)", "top_rules": "Most frequent findings", "red_branches": "Red branches",
        "report_title": "Branch diagnosis report", "period": "Period", "type": "Type", "street": "Street/town",
        "lamp": "Lamp", "findings": "Findings", "none": "none", "weak": "Weaknesses",
        "members": "Members",
        "member_lamps_line": "{n} members: {red} red, {yellow} yellow, {green} green",
        "points": "Vanguard points: {avg} per member this month (district {district}); {ytd} this year",
        "categories": "Points by category (per member, this month)", "top_members": "Top members this month (points)",
        "red_members": "Members with a red lamp", "more": "(and {n} more)",
        "fired": "fired", "not_fired": "not fired", "unknown": "unknown (missing data)", "skipped": "not applied this month",
        "explain_title": "Rules for {id} in {period}", "colon": ": ", "sep": ", ",
        "sev_red": "serious", "sev_yellow": "to improve", "sev_reminder": "reminder", "reminders": "Still to do",
        "lamp_section": "Lamp status", "lamp_green": "The branch's lamp is green this month: nothing lit it.",
        "lamp_because": "The branch's lamp is {lamp} this month, because:",
        "actions": "To act on", "dues_list": "Dues to remind (not paid on time this month)",
        "dues_line": "{name} ({id}): unpaid for {months} {month_word}", "dues_none": "Every member paid this month's dues on time.",
        "talk_list": "To talk with (absent from organisational life for two months or more)",
        "talk_line": "{name} ({id}): absent for {months} months", "talk_none": "No member has been absent for two months or more.",
        "flagged_list": "Members with a red or yellow lamp", "flagged_none": "No member has a red or yellow lamp this month.",
        "plan": "This month's plan (three at most)", "plan_none": "No weaknesses this month: nothing to plan.",
        "covers": "answers: ", "more_rx": "More to choose from", "history": "The last six months", "month_col": "month",
        "lamp_col": "lamp", "weak_col": "weaknesses", "resolved_col": "resolved", "new": "new",
        "continuing": "continuing", "no_data": "not diagnosed", "flagged_line": "{name} ({id}): {lamp}",
        "with_state": "{topic} ({state})",
    },
}

def fmt(x) -> str:
    """A number as reports write it: at most two decimals, no trailing zeros; a dash when missing."""
    x = clean_number(x)
    if x is None:
        return "—"
    return str(x) if isinstance(x, int) else f"{x:.2f}".rstrip("0").rstrip(".")


def name_of(names: Mapping, key: str, lang: str = "zh") -> str:
    """The name of a topic or branch type (``Registry.topics``, ``Registry.branch_types``) in ``lang``;
    the id itself when the registry does not know it."""
    named = names.get(key)
    return (named.name_zh if lang == "zh" else named.name_en) if named else key


def with_street_names(value, street_name: Callable[[str], str | None] | None):
    """``value`` (an overview's data, a circular's records: dicts and lists) with every ``street`` shown
    by ``street_name`` (the catalog's English names on English output; the data spells streets in
    Chinese, and they stay the ids in JSON). Unchanged without one."""
    if street_name is None:
        return value
    if isinstance(value, dict):
        return {k: (street_name(v) or v if k == "street" and isinstance(v, str) else with_street_names(v, street_name))
                for k, v in value.items()}
    if isinstance(value, list):
        return [with_street_names(v, street_name) for v in value]
    return value


__all__ = ["LABELS", "fmt", "name_of", "with_street_names"]
