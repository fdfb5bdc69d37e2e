"""The overview (``pipeline.overview``) for people: a document for text and Markdown (``reports.render``)
and sheets for .xlsx; ``reports.overview_page`` lays the same document out as a page with a trend chart
and a heat map. Chinese first, English with ``lang="en"``.
"""

from __future__ import annotations

from datetime import datetime

from .branch import Document, Section
from .labels import fmt
from .xlsx import Sheet, workbook_bytes

WORDS = {
    "zh": {
        "title": "党建诊断概览：{scope}（{start} 至 {end}）", "district": "全区", "scope": "范围",
        "range": "月份", "to": " 至 ", "diagnosed": "已诊断月份", "n_months": "{n} 个", "last": "最近诊断月份",
        "none": "无", "change": "红黄灯率变化", "months": "每月亮灯情况", "weaknesses": "主要短板",
        "findings": "最常见的问题", "streets": "各街道（镇）对比", "persistent": "连续两个月以上红灯的支部",
        "trend": "红黄灯率走势", "heat": "各街道（镇）支部红灯率（%）",
        "heat_note": "颜色越深，红灯率越高；最深的颜色代表 {top}%（本表的最高值，至少 1%）。", "branches": "支部一览（{period}）",
        "branch_lamp_rate": "支部红黄灯率", "member_lamp_rate": "党员红黄灯率", "branch_red_rate": "支部红灯率",
        "member_red_rate": "党员红灯率",
        "rate_line": "{what}：{first} 为 {a}，{last} 为 {b}，{change}。",
        "yoy_line": "{what}：较上年同月（{before}）{change}。", "no_yoy": "上年同月没有诊断数据，无法同比。",
        "no_change": "只有一个月的诊断数据，无法比较。", "no_data": "所选月份没有诊断数据。",
        "down": "下降 {p} 个百分点（相对下降 {r}%）", "up": "上升 {p} 个百分点（相对上升 {r}%）",
        "down_abs": "下降 {p} 个百分点", "up_abs": "上升 {p} 个百分点", "flat": "持平",
        "h_month": "月份", "h_branches": "支部", "h_members": "党员", "h_red_branches": "红灯支部",
        "h_yellow_branches": "黄灯支部", "h_red_members": "红灯党员", "h_yellow_members": "黄灯党员", "h_member_red_rate": "党员红灯率",
        "h_lamp_rate": "红黄灯率", "h_branch_lamp_rate": "支部红黄灯率", "h_member_lamp_rate": "党员红黄灯率",
        "h_vs_first": "较首月（支部 / 党员）", "h_branches_vs_first": "支部较首月", "h_members_vs_first": "党员较首月",
        "h_topic": "短板", "h_last_n": "{period} 支部数", "h_total": "区间累计",
        "h_rule": "问题", "h_subject": "对象", "h_last_count": "{period} 次数", "branch": "支部", "member": "党员",
        "h_street": "街道（镇）", "h_branch_red_rate": "支部红灯率", "h_branch_id": "支部编号", "h_name": "名称",
        "h_longest": "最长连续红灯（月）", "h_span": "起止", "h_now": "至今连续红灯（月）", "h_type": "类型",
        "h_lamp": "亮灯", "h_mean_ytd": "年度锋领指数（人均）", "h_members_red": "红灯党员",
        "red": "红灯", "yellow": "黄灯", "green": "绿灯", "pct": "{v}%", "chart_label": "{start} 至 {end} 每月红黄灯率",
        "no_persistent": "没有连续两个月以上红灯的支部。", "signed": False, "scope_sep": "，",
    },
    "en": {
        "title": "Diagnosis overview: {scope} ({start} to {end})", "district": "the district", "scope": "Scope",
        "range": "Months", "to": " to ", "diagnosed": "Months diagnosed", "n_months": "{n}", "last": "Last diagnosed",
        "none": "none", "change": "Change of the lamp rates", "months": "Lamps by month", "weaknesses": "Top weaknesses",
        "findings": "Most frequent findings", "streets": "Streets side by side",
        "persistent": "Branches red two months or more in a row", "trend": "Lamp rates by month",
        "heat": "Red-lamp rate of branches by street (%)",
        "heat_note": "The darker a cell, the higher the rate; the full colour stands for {top}% (this table's highest, "
                     "at least 1%).", "branches": "Branches ({period})",
        "branch_lamp_rate": "branch lamp rate", "member_lamp_rate": "member lamp rate",
        "branch_red_rate": "branch red rate", "member_red_rate": "member red rate",
        "rate_line": "{what}: {a} in {first}, {b} in {last}, {change}.",
        "yoy_line": "{what}: against the same month a year before ({before}), {change}.",
        "no_yoy": "No diagnosis a year before: no year-on-year change.",
        "no_change": "Only one month diagnosed: nothing to compare.", "no_data": "No month of the range is diagnosed.",
        "down": "down {p} points ({r}%)", "up": "up {p} points (+{r}%)", "down_abs": "down {p} points",
        "up_abs": "up {p} points", "flat": "unchanged",
        "h_month": "Month", "h_branches": "Branches", "h_members": "Members", "h_red_branches": "Red branches",
        "h_yellow_branches": "Yellow branches", "h_red_members": "Red members", "h_yellow_members": "Yellow members",
        "h_member_red_rate": "Member red rate",
        "h_lamp_rate": "Lamp rate", "h_branch_lamp_rate": "Branch lamp rate", "h_member_lamp_rate": "Member lamp rate",
        "h_vs_first": "vs first month (branches / members)", "h_branches_vs_first": "Branches vs first month",
        "h_members_vs_first": "Members vs first month", "h_topic": "Weakness", "h_last_n": "Branches in {period}",
        "h_total": "Branch-months in the range", "h_rule": "Finding", "h_subject": "Of", "h_last_count": "In {period}",
        "branch": "branch", "member": "member", "h_street": "Street", "h_branch_red_rate": "Branch red rate",
        "h_branch_id": "Branch id", "h_name": "Name", "h_longest": "Longest red run (months)", "h_span": "From–to",
        "h_now": "Red months up to now", "h_type": "Type", "h_lamp": "Lamp", "h_mean_ytd": "Mean points, year to date",
        "h_members_red": "Red members",
        "red": "red", "yellow": "yellow", "green": "green", "pct": "{v}%", "chart_label": "Lamp rates, {start} to {end}",
        "no_persistent": "No branch was red two months or more in a row.", "signed": True, "scope_sep": ", ",
    },
}
SERIES = (("branches", "lamp_rate", "branch_lamp_rate", "#b71c1c", ""),
          ("members", "lamp_rate", "member_lamp_rate", "#ef6c00", ""),
          ("branches", "red_rate", "branch_red_rate", "#b71c1c", "5 4"),
          ("members", "red_rate", "member_red_rate", "#ef6c00", "5 4"))


def pct(v: float | None, w: dict) -> str:
    return "—" if v is None else w["pct"].format(v=fmt(v))


def _change_text(change: dict | None, w: dict) -> str:
    if change is None:
        return "—"
    p, r = change["points"], change["relative"]
    if p == 0:
        return w["flat"]
    key = "down" if p < 0 else "up"
    if r is None:
        return w[f"{key}_abs"].format(p=fmt(abs(p)))
    # Chinese says the direction in words (下降 17%); English gives the sign (−17%).
    return w[key].format(p=fmt(abs(p)), r=fmt(r if w["signed"] else abs(r)))


def scope_name(scope: dict, w: dict, type_name=lambda t: t) -> str:
    parts = [scope["street"]] if scope.get("street") else []
    if scope.get("type"):
        parts.append(type_name(scope["type"]))
    return w["scope_sep"].join(parts) if parts else w["district"]


def document(data: dict, lang: str = "zh", type_name=lambda t: t) -> Document:
    """The overview as a language-resolved document (sections of paragraphs and tables)."""
    w = WORDS[lang]
    scope = scope_name(data["scope"], w, type_name)
    facts = [(w["scope"], scope), (w["range"], f"{data['from']}{w['to']}{data['to']}"),
             (w["diagnosed"], w["n_months"].format(n=len(data["diagnosed"]))), (w["last"], data["last"] or w["none"])]
    doc = Document(lang, w["title"].format(scope=scope, start=data["from"], end=data["to"]), facts, "", "", [])
    if not data["diagnosed"]:
        doc.sections.append(Section(w["months"], "months", [("p", w["no_data"])]))
        return doc
    doc.sections.append(Section(w["change"], "change", _change_blocks(data, w)))
    doc.sections.append(Section(w["months"], "months", [("table", _month_headers(w), _month_rows(data, w))]))
    last = data["last"]
    doc.sections.append(Section(w["weaknesses"], "top-weaknesses", [("table", [
        w["h_topic"], w["h_last_n"].format(period=last), w["h_total"]], [
        [t["name_zh" if lang == "zh" else "name_en"], str(t["branches_last"]), str(t["branch_months"])]
        for t in data["weaknesses"]])]))
    doc.sections.append(Section(w["findings"], "top-findings", [("table", [
        w["h_rule"], w["h_subject"], w["h_last_count"].format(period=last), w["h_total"]], [
        [f["title_zh" if lang == "zh" else "title_en"], w.get(f["subject"] or "", "—"), str(f["count_last"]),
         str(f["count"])] for f in data["findings"]])]))
    doc.sections.append(Section(w["streets"], "streets", [("table", _street_headers(w), _street_rows(data, w))]))
    persistent = data["persistent_red"]
    doc.sections.append(Section(w["persistent"], "persistent", [("table", [
        w["h_branch_id"], w["h_name"], w["h_street"], w["h_longest"], w["h_span"], w["h_now"]], [
        [b["branch_id"], b["name"], b["street"], str(b["months"]), f"{b['from']}{w['to']}{b['to']}",
         str(b["red_months_now"])] for b in persistent])] if persistent else [("p", w["no_persistent"])]))
    return doc


def _change_blocks(data: dict, w: dict) -> list[tuple]:
    months = {m["period"]: m for m in data["months"]}
    first, last = data["diagnosed"][0], data["last"]
    end = months[last]
    blocks = []
    if first == last:
        blocks.append(("p", w["no_change"]))
    else:
        for subject, rate, key, *_ in SERIES:
            blocks.append(("p", w["rate_line"].format(
                what=w[key], first=first, last=last, a=pct(months[first][subject][rate], w),
                b=pct(end[subject][rate], w), change=_change_text(end["change_vs_first"][subject][rate], w))))
    yoy = end["change_vs_year_before"]
    if yoy is None:
        blocks.append(("p", w["no_yoy"]))
    else:
        for subject, rate, key, *_ in SERIES[:2]:
            blocks.append(("p", w["yoy_line"].format(what=w[key], before=_year_before(last),
                                                     change=_change_text(yoy[subject][rate], w))))
    return blocks


def _year_before(period: str) -> str:
    return f"{int(period[:4]) - 1}{period[4:]}"


def _month_headers(w: dict) -> list[str]:
    return [w["h_month"], w["h_branches"], w["h_red_branches"], w["h_yellow_branches"], w["h_branch_lamp_rate"],
            w["h_members"], w["h_red_members"], w["h_yellow_members"], w["h_member_lamp_rate"], w["h_vs_first"]]


def _month_rows(data: dict, w: dict) -> list[list[str]]:
    rows = []
    for m in data["months"]:
        if not m["diagnosed"]:
            continue
        b, s = m["branches"], m["members"]
        change = m["change_vs_first"]
        rows.append([m["period"], str(b["total"]), str(b["red"]), str(b["yellow"]), pct(b["lamp_rate"], w),
                     str(s["total"]), str(s["red"]), str(s["yellow"]), pct(s["lamp_rate"], w),
                     "—" if change is None else " / ".join(_change_text(change[k]["lamp_rate"], w)
                                                          for k in ("branches", "members"))])
    return rows


def _street_headers(w: dict) -> list[str]:
    return [w["h_street"], w["h_branches"], w["h_members"], w["h_branch_lamp_rate"], w["h_branches_vs_first"],
            w["h_member_lamp_rate"], w["h_members_vs_first"], w["h_branch_red_rate"]]


def _street_rows(data: dict, w: dict) -> list[list[str]]:
    rows = []
    for s in data["streets"]:
        last, change = s["last"], s["change_vs_first"]
        rows.append([s["street"], str(s["branches"]), str(s["members"]), pct(last["branches"]["lamp_rate"], w),
                     _change_text(change["branches"]["lamp_rate"], w) if change else "—",
                     pct(last["members"]["lamp_rate"], w),
                     _change_text(change["members"]["lamp_rate"], w) if change else "—",
                     pct(last["branches"]["red_rate"], w)])
    return rows


# -- xlsx ----------------------------------------------------------------------------------------------

def sheets(data: dict, lang: str = "zh", type_name=lambda t: t) -> list[Sheet]:
    """The overview's tables as workbook sheets (numbers as numbers: rates in percent)."""
    w = WORDS[lang]
    out = [Sheet(w["months"], [w["h_month"], w["h_branches"], w["h_red_branches"], w["h_yellow_branches"],
                               w["h_branch_lamp_rate"], w["h_branch_red_rate"], w["h_members"], w["h_red_members"],
                               w["h_yellow_members"], w["h_member_lamp_rate"], w["h_member_red_rate"]],
                 [[m["period"], m["branches"]["total"], m["branches"]["red"], m["branches"]["yellow"],
                   m["branches"]["lamp_rate"], m["branches"]["red_rate"], m["members"]["total"], m["members"]["red"],
                   m["members"]["yellow"], m["members"]["lamp_rate"], m["members"]["red_rate"]]
                  for m in data["months"] if m["diagnosed"]])]
    last = data["last"] or data["to"]
    out.append(Sheet(w["weaknesses"], [w["h_topic"], w["h_last_n"].format(period=last), w["h_total"]],
                     [[t["name_zh" if lang == "zh" else "name_en"], t["branches_last"], t["branch_months"]]
                      for t in data["weaknesses"]]))
    out.append(Sheet(w["findings"], [w["h_rule"], w["h_subject"], w["h_last_count"].format(period=last), w["h_total"]],
                     [[f["title_zh" if lang == "zh" else "title_en"], w.get(f["subject"] or "", ""), f["count_last"],
                       f["count"]] for f in data["findings"]]))
    out.append(Sheet(w["streets"], [w["h_street"], w["h_month"], w["h_branches"], w["h_branch_lamp_rate"],
                                    w["h_branch_red_rate"], w["h_members"], w["h_member_lamp_rate"],
                                    w["h_member_red_rate"]],
                     [[s["street"], m["period"], m["branches"], m["branch_lamp_rate"], m["branch_red_rate"],
                       m["members"], m["member_lamp_rate"], m["member_red_rate"]]
                      for s in data["streets"] for m in s["months"]]))
    out.append(Sheet(w["persistent"][:31], [w["h_branch_id"], w["h_name"], w["h_street"], w["h_type"], w["h_longest"],
                                            w["h_span"], w["h_now"]],
                     [[b["branch_id"], b["name"], b["street"], type_name(b["type"]), b["months"],
                       f"{b['from']}{w['to']}{b['to']}", b["red_months_now"]] for b in data["persistent_red"]]))
    return out


def workbook(data: dict, lang: str = "zh", type_name=lambda t: t) -> bytes:
    """The overview as .xlsx bytes, dated the first day of its last month (the same bytes every time)."""
    stamp = datetime(int(data["to"][:4]), int(data["to"][5:7]), 1)
    return workbook_bytes(sheets(data, lang, type_name), stamp, title=document(data, lang, type_name).title)


__all__ = ["SERIES", "WORDS", "document", "pct", "scope_name", "sheets", "workbook"]
