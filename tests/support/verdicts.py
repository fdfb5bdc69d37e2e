"""Promotion verdicts written as `model promote` writes them (``learning.persist``'s writer, a real
``rollout.Comparison``), for the readers' tests (`model history`, GET /v1/model)."""

from __future__ import annotations

from pathlib import Path

from diagnosis_service.learning.persist import record_refusal
from diagnosis_service.learning.rollout import Comparison


def comparison(candidate: str, active: str = "prior", difference: float = 0.02, decisions: int = 240,
               reason: str = "better with confidence", reason_zh: str = "有把握地更好") -> Comparison:
    return Comparison(candidate=candidate, active=active, months=["2025-11", "2025-12"], decisions=decisions,
                      candidate_value=0.1 + difference, active_value=0.1, difference=difference,
                      ci95=(difference - 0.03, difference + 0.03), effective_sample={"candidate": 9.6, "active": 240.0},
                      promote=difference > 0, reason=reason, bounds=(difference - 0.02, difference + 0.02),
                      cross_fitted=["2025-01", "2025-02"], reason_zh=reason_zh)


def record(models: Path, verdict: str, candidate: str, at: str, **extra) -> dict:
    """Append one verdict (``promoted``, ``trial`` or ``refused``) to ``models``/promotions.jsonl."""
    models.mkdir(parents=True, exist_ok=True)
    key = {"promoted": "promoted", "on trial": "trial", "refused": "refused"}[verdict]
    said = {k: extra.pop(k) for k in ("difference", "reason", "reason_zh", "active") if k in extra}
    return record_refusal(models, {"at": at, "by": "admin (command line)",
                                   "comparison": comparison(candidate, **said).as_dict(),
                                   key: extra.pop("name", candidate), **extra})
