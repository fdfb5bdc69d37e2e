"""The ranking model as a page for district administrators (/model): what ranks the prescriptions now,
the challenger on trial, the monthly routine, and the latest promotion verdicts, newest first (``SHOWN``;
GET /v1/model and `model history` answer the same to a program; docs/effectiveness.md says how verdicts
are reached)."""

from __future__ import annotations

import math

from flask import abort, g, render_template

from ..learning.verdict_log import VERDICT_NAMES, asker_said, read_verdicts
from ..learning.verdicts import sample_said
from .db import runtime
from .health import no_paths
from .page_errors import page_lang
from .page_text import PAGE_TEXT
from .pages import bp, login_redirect
from .routine_said import verdict_for_readers
from .session import csrf_token

MODEL_ROLES = ("admin", "platform")
SHOWN = 50  # verdicts on the page: four years of monthly routines
# What the routine's last run did (model_routine: the states of a diagnosis's ``model`` answer), as said.
ROUTINE_STATES = {"promoted": VERDICT_NAMES["promoted"], "on trial": VERDICT_NAMES["on trial"],
                  "kept": VERDICT_NAMES["refused"], "failed": ("失败", "failed"),
                  "nothing to learn": ("尚无可学习的结果", "nothing to learn"), "skipped": ("跳过", "skipped")}


@bp.get("/model")
def model_page():
    """The page: the administrators' and the platform's (a secretary or a street gets the 403 page)."""
    identity = g.get("identity")
    if identity is None:
        return login_redirect()
    if identity.role not in MODEL_ROLES:  # the error page says what this role may see
        abort(403, description="the model page is for district administrators")
    lang = page_lang()
    t = PAGE_TEXT[lang]
    rt = runtime()
    rt.rankers.ranker()  # follows the model and challenger files, as requests do
    status = rt.rankers.status
    routine = rt.model_routine.status()
    verdicts = read_verdicts(rt.settings.models_dir, SHOWN)
    return render_template(
        "model.html", t=t, lang=lang, csrf=csrf_token(), user=identity.display_name,
        serving=_serving(status, t), challenger=_challenger(status, t), routine=_routine(routine, t, lang),
        rows=[_row(verdict_for_readers(v), lang, t) for v in verdicts.items], problems=verdicts.problems,
        skipped=(t["model_skipped"].format(n=verdicts.skipped) if verdicts.skipped else t["model_unreadable"])
        if verdicts.problems else None,
        counts=((t["model_count_one"] if verdicts.total == 1 else
                 t["model_counts"].format(total=verdicts.total, shown=len(verdicts.items)))
                + (t["model_partial"] if verdicts.partial else "")) if verdicts.total else None)


def _serving(status: dict, t: dict) -> dict:
    """What ranks now, in the page's words; the reason the prior ranks as the service's log says it."""
    if status.get("ranker", "").startswith("learned:"):
        window = status.get("data_window") or {}
        return {"text": t["model_serving"].format(name=status["ranker"], start=window.get("from") or "?",
                                                  end=window.get("to") or "?",
                                                  at=(status.get("trained_at") or "?").replace("T", " ").rstrip("Z")),
                "detail": None}
    said = t["model_prior_unusable"] if status.get("fallback_kind") == "unusable" else t["model_prior"]
    return {"text": said, "detail": no_paths(status.get("fallback") or "")}


def _challenger(status: dict, t: dict) -> str | None:
    if status.get("challenger"):
        share = status.get("challenger_share") or 0
        return t["model_challenger"].format(name=status["challenger"], share=f"{share * 100:g}%")
    return None


def _routine(routine: dict, t: dict, lang: str) -> str:
    if routine.get("routine") != "monthly":
        return t["model_routine_off"]
    last = routine.get("routine_last")
    if not last:
        return t["model_routine_none"]
    state = ROUTINE_STATES.get(last.get("state"))
    said = state[lang != "zh"] if state else last.get("state") or "?"
    return t["model_routine_last"].format(period=last.get("period"), state=said,
                                          at=(last.get("at") or "?").replace("T", " ").rstrip("Z"))


def _figure(value) -> str:
    return f"{value:+.4f}" if isinstance(value, int | float) and math.isfinite(value) else "—"


def _row(v: dict, lang: str, t: dict) -> dict:
    """One verdict as a table row: when, what, against what, the estimate, the evidence, why, who."""
    bounds = v.get("bounds") or []
    months = v.get("months") or []
    sample = (v.get("effective_sample") or {}).get("candidate")
    promoted = v.get("promoted")
    return {
        "at": (v.get("at") or "?").replace("T", " ").rstrip("Z"), "verdict": v["verdict"],
        "said": VERDICT_NAMES[v["verdict"]][lang != "zh"] + (t["model_forced"] if v.get("forced") else ""),
        "candidate": v.get("candidate") or "?",
        "refit": t["model_refit"].format(name=promoted) if promoted and promoted != v.get("candidate") else None,
        "active": v.get("active") or "?",
        "difference": _figure(v.get("difference")),
        "bounds": f"[{_figure(bounds[0])}, {_figure(bounds[1])}]" if len(bounds) == 2 else "",
        "evidence": t["model_evidence"].format(
            months=(months[0] if len(months) == 1 else f"{months[0]}{' 至 ' if lang == 'zh' else ' to '}{months[-1]}")
            if months else "—",
            n=v.get("decisions") or 0, sample=sample_said(sample) if isinstance(sample, int | float) else "—")
        + (t["model_cross_fitted"].format(n=v["cross_fitted"]) if v.get("cross_fitted") else ""),
        "trial_ended": t["model_trial_ended"].format(name=v["trial_ended"]) if v.get("trial_ended") else None,
        "trial_note": t["model_trial_note"] if v["verdict"] == "on trial" else None,
        "reason": no_paths((v.get("reason_zh") if lang == "zh" else v.get("reason")) or v.get("reason") or ""),
        "by": asker_said(v.get("by"), lang),
    }
