"""What the model routine's answers and verdicts say to those who read them (a platform, an administrator
on the model page): the routine's own reasons without the command lines it would advise a person."""

from __future__ import annotations

ROUTINE_ASKER = "the service's monthly routine, for "  # + the month: who asked, in the verdicts' record


def verdict_for_readers(item: dict) -> dict:
    """A recorded verdict (``verdict_log.summary``) as ``GET /v1/model`` and the model page say it: the
    routine's own verdicts with the reason ``for_a_platform`` gives (the routine, not a person, trains
    again next month); an administrator's ``model promote`` keeps its advice."""
    if not str(item.get("by") or "").startswith(ROUTINE_ASKER):
        return item
    reason, reason_zh = for_a_platform(item.get("reason"), item.get("reason_zh"))
    return {**item, "reason": reason, "reason_zh": reason_zh}


def for_a_platform(reason: str | None, reason_zh: str | None) -> tuple[str | None, str | None]:
    """The comparison's reason (in English and Chinese), but where it advises an administrator's command
    line, what the service does about it instead (the platform reading the answer runs no commands)."""
    if reason and reason.startswith("no held-out decisions with outcomes"):
        return ("no held-out decisions with outcomes yet: the candidate's held-out months have no measured "
                "outcomes so far; the routine judges again next month",
                "还没有带结果的留出决策：候选模型的留出月份尚无实测结果；例行任务下月再评判")
    return reason, reason_zh


__all__ = ["ROUTINE_ASKER", "for_a_platform", "verdict_for_readers"]
