"""The month's plan of a branch: at most three remedies for the whole branch, chosen to cover its
weaknesses, out of the prescriptions served for each weakness.

A secretary acts on a few things a month, not on five suggestions per weakness. The plan picks, one
at a time, the remedy that answers the most weaknesses not answered yet (the more serious weaknesses,
earlier in the branch's list, weigh more; ties go to the remedy ranked higher). A remedy prescribed
for two weaknesses answers both. No title is taken twice (the same lecture can come as a lecturer's
talk, a lesson and a video: ``title_key``). What is not in the plan comes after it, once per title ("更多").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

PLAN_SIZE = 3
PREFIXED_KINDS = ("lecturer", "lesson", "video")  # titles "who or which series：what is taught"


def title_key(kind: str, title_zh: str) -> str:
    """What a remedy teaches, whoever gives it: a lecturer's, a lesson's and a video's titles name the
    lecturer or the series before the first '：', then the subject (the same subject comes in all three)."""
    if kind in PREFIXED_KINDS and "：" in title_zh:
        return title_zh.split("：", 1)[1].strip()
    return title_zh.strip()


@dataclass
class PlanItem:
    resource_id: str
    kind: str
    title_zh: str
    title_en: str
    covers: list[str]  # weakness topics it was prescribed for, in the branch's order
    advice_zh: str
    advice_en: str
    prescription_ids: list[int] = field(default_factory=list)  # its served prescriptions (one per weakness)
    rank: int = 0  # where it first appears in the served list


def make_plan(weaknesses: Sequence[str], served: Sequence[dict], size: int = PLAN_SIZE) -> tuple[list[PlanItem],
                                                                                                  list[PlanItem]]:
    """(the plan, the rest) from the served prescriptions (dicts with topic, resource_id, kind, title_zh,
    title_en, advice_zh, advice_en and, when logged, prescription_id), in the order they were shown."""
    order = {topic: k for k, topic in enumerate(weaknesses)}
    weight = {topic: len(weaknesses) - k for topic, k in order.items()}
    items: dict[str, PlanItem] = {}
    for rank, s in enumerate(served):
        item = items.get(s["resource_id"])
        if item is None:
            item = items[s["resource_id"]] = PlanItem(
                s["resource_id"], s["kind"], s.get("title_zh", ""), s.get("title_en", ""), [],
                s.get("advice_zh") or s.get("reason_zh", ""), s.get("advice_en") or s.get("reason_en", ""), rank=rank)
        if s["topic"] not in item.covers:
            item.covers.append(s["topic"])
        if s.get("prescription_id") is not None:
            item.prescription_ids.append(s["prescription_id"])
    for item in items.values():
        item.covers.sort(key=lambda t: order.get(t, len(order)))
    plan: list[PlanItem] = []
    titles: set[str] = set()
    uncovered = set(weaknesses)
    while len(plan) < size and uncovered:
        best = None
        for item in items.values():
            if item in plan or title_key(item.kind, item.title_zh) in titles:
                continue
            gain = sum(weight.get(t, 0) for t in item.covers if t in uncovered)
            if gain and (best is None or (gain, -item.rank) > (best[0], -best[1].rank)):
                best = (gain, item)
        if best is None:
            break
        plan.append(best[1])
        titles.add(title_key(best[1].kind, best[1].title_zh))
        uncovered -= set(best[1].covers)
    rest = []
    for item in sorted(items.values(), key=lambda i: i.rank):
        if item not in plan and title_key(item.kind, item.title_zh) not in titles:
            rest.append(item)
            titles.add(title_key(item.kind, item.title_zh))
    return plan, rest


__all__ = ["PLAN_SIZE", "PlanItem", "make_plan", "title_key"]
