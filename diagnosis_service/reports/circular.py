"""The sheets of the monthly circular (通报), Chinese first: what ``pipeline.exports.records`` gathered,
as named sheets with headers, ready for ``reports.xlsx``."""

from __future__ import annotations

from collections import Counter

from ..rules.model import Registry
from .labels import name_of
from .xlsx import Sheet

WORDS = {
    "zh": {
        "summary": "概况", "branch_lamps": "支部亮灯", "member_lamps": "党员亮灯", "member_ranking": "党员排名",
        "branch_ranking": "支部排名", "weaknesses": "各街道短板", "dues": "党费提醒",
        "red": "红灯", "yellow": "黄灯", "green": "绿灯", "no_data": "本月无数据", "sep": "；", "list_sep": "、",
        "item": "项目", "value": "数值", "period": "月份", "scope": "范围", "district": "全区",
        "street_scope": "街道（镇）：{street}", "type_scope": "类型：{type}", "ruleset": "规则版本",
        "branches_n": "支部数", "members_n": "党员数", "branch_lamp": "支部{lamp}", "member_lamp": "党员{lamp}",
        "h_branch_id": "支部编号", "h_branch_name": "支部名称", "h_street": "街道（镇）", "h_type": "类型",
        "h_lamp": "亮灯", "h_weak": "短板", "h_reasons": "原因", "h_members": "党员数", "h_members_red": "红灯党员",
        "h_members_yellow": "黄灯党员", "h_mean_ytd": "年度锋领指数（人均）", "h_mean_month": "本月锋领指数（人均）",
        "h_member_id": "党员编号", "h_name": "姓名", "h_points": "本月锋领指数", "h_ytd": "年度累计锋领指数",
        "h_rank": "名次", "h_reminder": "提醒事项",
    },
    "en": {
        "summary": "Summary", "branch_lamps": "Branch lamps", "member_lamps": "Member lamps",
        "member_ranking": "Member ranking", "branch_ranking": "Branch ranking", "weaknesses": "Weaknesses by street",
        "dues": "Dues reminders",
        "red": "red", "yellow": "yellow", "green": "green", "no_data": "no data this month", "sep": "; ",
        "list_sep": ", ", "item": "Item", "value": "Value", "period": "Month", "scope": "Scope", "district": "district",
        "street_scope": "street: {street}", "type_scope": "type: {type}", "ruleset": "Rule-set version",
        "branches_n": "Branches", "members_n": "Members", "branch_lamp": "Branches {lamp}",
        "member_lamp": "Members {lamp}",
        "h_branch_id": "Branch id", "h_branch_name": "Branch", "h_street": "Street", "h_type": "Type",
        "h_lamp": "Lamp", "h_weak": "Weaknesses", "h_reasons": "Reasons", "h_members": "Members",
        "h_members_red": "Red members", "h_members_yellow": "Yellow members",
        "h_mean_ytd": "Mean points, year to date", "h_mean_month": "Mean points, month",
        "h_member_id": "Member id", "h_name": "Name", "h_points": "Points, month", "h_ytd": "Points, year to date",
        "h_rank": "Rank", "h_reminder": "Reminder",
    },
}


def _names(registry: Registry, lang: str):
    return (lambda t: name_of(registry.topics, t, lang)), (lambda t: name_of(registry.branch_types, t, lang))


def _reasons(findings: list[dict], lang: str, w: dict) -> str:
    return w["sep"].join(f.get("message_zh" if lang == "zh" else "message_en", f.get("rule", "")) for f in findings)


def sheets(data: dict, registry: Registry, lang: str = "zh") -> list[Sheet]:
    """The sheets of ``data`` (one export's records), in the circular's order."""
    w = WORDS[lang]
    topic, branch_type = _names(registry, lang)

    def lamp(value: str | None) -> str:
        return w.get(value, value) if value else w["no_data"]

    out = []
    if data["kind"] == "circular":
        out.append(_summary(data, w, branch_type))
    if "branches" in data and data["kind"] in ("circular", "branch-lamps"):
        out.append(Sheet(w["branch_lamps"], [w["h_branch_id"], w["h_branch_name"], w["h_street"], w["h_type"],
                                             w["h_lamp"], w["h_weak"], w["h_reasons"], w["h_members"],
                                             w["h_members_red"], w["h_members_yellow"], w["h_mean_ytd"]],
                         ([b["branch_id"], b["name"], b["street"], branch_type(b["type"]), lamp(b["lamp"]),
                           w["list_sep"].join(topic(t) for t in b["weaknesses"]), _reasons(b["findings"], lang, w),
                           b["members"], b["members_red"], b["members_yellow"], b["mean_points_ytd"]]
                          for b in data["branches"])))
    if "members" in data:
        out.append(Sheet(w["member_lamps"], [w["h_member_id"], w["h_name"], w["h_branch_id"], w["h_branch_name"],
                                             w["h_street"], w["h_lamp"], w["h_points"], w["h_ytd"], w["h_reasons"]],
                         ([m["member_id"], m["name"], m["branch_id"], m["branch_name"], m["street"], lamp(m["lamp"]),
                           m["vanguard_points"], m["vanguard_points_ytd"], _reasons(m["findings"], lang, w)]
                          for m in data["members"])))
    if "member_ranking" in data:
        out.append(Sheet(w["member_ranking"], [w["h_rank"], w["h_member_id"], w["h_name"], w["h_branch_id"],
                                               w["h_street"], w["h_ytd"], w["h_points"]],
                         ([r["rank"], r["member_id"], r["name"], r["branch_id"], r["street"], r["vanguard_points_ytd"],
                           r["vanguard_points"]] for r in data["member_ranking"])))
        out.append(Sheet(w["branch_ranking"], [w["h_rank"], w["h_branch_id"], w["h_branch_name"], w["h_street"],
                                               w["h_type"], w["h_lamp"], w["h_members"], w["h_mean_ytd"],
                                               w["h_mean_month"]],
                         ([r["rank"], r["branch_id"], r["name"], r["street"], branch_type(r["type"]), lamp(r["lamp"]),
                           r["members"], r["mean_points_ytd"], r["mean_points"]] for r in data["branch_ranking"])))
    if "weaknesses" in data:
        weak = data["weaknesses"]
        out.append(Sheet(w["weaknesses"], [w["h_street"], w["branches_n"],
                                           *[t["name_zh" if lang == "zh" else "name_en"] for t in weak["topics"]]],
                         ([r["street"], r["branches"], *r["counts"]] for r in weak["rows"])))
    if "dues" in data:
        out.append(Sheet(w["dues"], [w["h_member_id"], w["h_name"], w["h_branch_id"], w["h_branch_name"],
                                     w["h_street"], w["h_lamp"], w["h_reminder"]],
                         ([m["member_id"], m["name"], m["branch_id"], m["branch_name"], m["street"], lamp(m["lamp"]),
                           _reasons(m["findings"], lang, w)] for m in data["dues"])))
    return out


def _summary(data: dict, w: dict, branch_type) -> Sheet:
    scope = data["scope"]
    parts = [w["street_scope"].format(street=scope["street"])] if scope.get("street") else []
    if scope.get("type"):
        parts.append(w["type_scope"].format(type=branch_type(scope["type"])))
    branch_lamps = Counter(b["lamp"] for b in data.get("branches", []))
    rows = [[w["period"], data["period"]], [w["scope"], w["list_sep"].join(parts) or w["district"]],
            [w["ruleset"], data["ruleset_version"]], [w["branches_n"], len(data.get("branches", []))]]
    rows += [[w["branch_lamp"].format(lamp=w[c]), branch_lamps[c]] for c in ("red", "yellow", "green")]
    members = [m for m in data.get("members", []) if m["lamp"]]
    member_lamps = Counter(m["lamp"] for m in members)
    rows.append([w["members_n"], len(members)])
    rows += [[w["member_lamp"].format(lamp=w[c]), member_lamps[c]] for c in ("red", "yellow", "green")]
    rows.append([w["dues"], len(data.get("dues", []))])
    return Sheet(w["summary"], [w["item"], w["value"]], rows)


__all__ = ["WORDS", "sheets"]
