"""The effectiveness model's part of the OpenAPI document: GET /v1/model."""

from __future__ import annotations

from collections.abc import Callable

from ..learning.verdict_log import VERDICTS
from .openapi_schemas import NUM, STR_NULL, arr, obj, ref

NAME = {"type": "string", "description": "a ranking: prior, learned:<fingerprint>, prior+learned:<fingerprint> "
                                          "(the prior exploring with a challenger on trial)"}
SCHEMAS = {
    "ModelState": obj({
        "ranking": obj({
            "ranker": NAME, "fallback": {"type": "string", "description": "why the prior ranks (no model yet, or "
                                                                            "one this version cannot use)"},
            "fallback_kind": {"enum": ["none", "unusable"], "description": "none: no model promoted yet; "
                                                                            "unusable: a model file this version "
                                                                            "cannot use (fallback says why)"},
            "fingerprint": {"type": "string"}, "trained_at": STR_NULL,
            "data_window": {"type": ["object", "null"]},
            "challenger": {"type": "string", "description": "the challenger on trial"},
            "challenger_share": {"type": "number", "description": "the share of first choices it makes"},
            "challenger_problem": {"type": "string"}}, ["ranker"]),
        "routine": obj({"routine": {"enum": ["monthly", "off"]},
                        "routine_last": {"type": "object", "description": "the month it last ran for, when, its "
                                                                          "state, and what it promoted"}},
                       ["routine"]),
        "verdicts": obj({
            "total": {"type": "integer", "description": "verdicts read: all those recorded, unless partial"},
            "items": arr(ref("Verdict")),
            "problems": arr({"type": "string"}),
            "partial": {"type": "boolean", "description": "the record is large: only its end was read"},
            "skipped": {"type": "integer", "description": "lines that are not verdicts (problems names the first 20)"}},
            ["total", "items", "problems", "partial", "skipped"])},
        ["ranking", "routine", "verdicts"]),
    "Verdict": obj({
        "at": STR_NULL, "by": STR_NULL, "verdict": {"enum": list(VERDICTS)},
        "candidate": STR_NULL, "active": STR_NULL, "months": arr({"type": "string"}),
        "decisions": {"type": ["integer", "null"]}, "difference": NUM,
        "bounds": {"type": ["array", "null"], "items": NUM},
        "confidence": NUM, "effective_sample": {"type": "object"}, "refresh": {"type": "boolean"},
        "cross_fitted": {"type": "integer", "description": "months judged by the recipe fitted without them"},
        "reason": STR_NULL, "reason_zh": STR_NULL,
        "promoted": {"type": "string", "description": "what was activated: the candidate, or its recipe refitted"},
        "forced": {"type": "boolean"}, "trial_ended": {"type": "string"}},
        ["at", "verdict", "candidate", "active", "months", "decisions", "difference", "reason", "reason_zh"]),
}


def paths(op: Callable[..., dict], q: Callable[..., dict]) -> dict:
    return {"/v1/model": {"get": op(
        "The ranking in service (a model's version or the prior, and why), the challenger on trial, the "
        "monthly routine's last run, and the latest promotion verdicts, newest first", ("platform", "admin"),
        "200", ref("ModelState"), params=[q("limit", {"type": "integer", "minimum": 0, "maximum": 200},
                                            description="verdicts listed (20)")], codes=("422",))}}


__all__ = ["SCHEMAS", "paths"]
