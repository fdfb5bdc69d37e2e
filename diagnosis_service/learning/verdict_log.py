"""The promotion verdicts as a reader sees them: ``promotions.jsonl`` in the models directory, newest first.

``model promote`` (an administrator's, or the service's monthly routine) appends one record a verdict:
promoted, put on trial, or refused, with the comparison it rests on (``rollout.Comparison``). ``model
history`` and ``GET /v1/model`` read it here, one way: each record summed up (``summary``) without the
server's file paths, a line that is not a record skipped and named, the file read from its end when it has
grown past ``MAX_BYTES``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

VERDICTS_FILE = "promotions.jsonl"
MAX_BYTES = 8 * 1024 * 1024  # years of monthly verdicts are a few hundred kB; past this, only the latest are read
VERDICTS = ("promoted", "on trial", "refused")
VERDICT_NAMES = {"promoted": ("已启用", "promoted"), "on trial": ("试用", "on trial"), "refused": ("未启用", "refused")}


@dataclass(frozen=True)
class Verdicts:
    """The verdicts read: ``items`` the latest ``limit``, newest first; ``total`` every record read;
    ``problems`` the lines skipped (which line, why); ``partial`` when only the file's end was read."""

    items: list[dict]
    total: int
    problems: list[str] = field(default_factory=list)
    partial: bool = False

    def as_dict(self) -> dict:
        return {"total": self.total, "items": self.items, "problems": self.problems, "partial": self.partial}


def read_verdicts(models_dir: Path, limit: int = 20) -> Verdicts:
    """The latest ``limit`` verdicts recorded in ``models_dir`` (none before the first ``model promote``).
    Never raises for the file's content: a broken line is skipped and said in ``problems``."""
    path = Path(models_dir) / VERDICTS_FILE
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            partial = size > MAX_BYTES
            f.seek(size - MAX_BYTES if partial else 0)
            data = f.read(MAX_BYTES)
    except FileNotFoundError:
        return Verdicts([], 0)
    lines = data.split(b"\n")
    if partial:
        lines = lines[1:]  # the first is cut where the read began
    records, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{VERDICTS_FILE} line {number}{' of its last 8 MiB' if partial else ''}"
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            problems.append(f"{where}: not a JSON record ({exc.__class__.__name__}); skipped")
            continue
        if not isinstance(record, dict) or verdict_of(record) is None:
            problems.append(f"{where}: not a verdict (none of promoted, trial, refused); skipped")
            continue
        records.append(record)
    latest = records[::-1][:max(limit, 0)]
    return Verdicts([summary(r) for r in latest], len(records), problems, partial)


def verdict_of(record: dict) -> str | None:
    """``promoted``, ``on trial`` or ``refused`` (None for a record that is none of them)."""
    if record.get("promoted"):
        return "promoted"
    if record.get("trial"):
        return "on trial"
    if record.get("refused"):
        return "refused"
    return None


def summary(record: dict) -> dict:
    """One verdict for a reader: what was judged against what, on which months and how much evidence, the
    estimate with its bounds, and the reason (English and Chinese). No file paths (the record keeps where
    the previous model was put, which is the server's business)."""
    comparison = record.get("comparison") if isinstance(record.get("comparison"), dict) else {}
    verdict = verdict_of(record)
    out = {
        "at": record.get("at"), "by": record.get("by"), "verdict": verdict,
        "candidate": comparison.get("candidate") or record.get("trial") or record.get("refused"),
        "active": comparison.get("active"),
        "months": comparison.get("months") or [], "decisions": comparison.get("decisions"),
        "difference": comparison.get("difference"), "bounds": comparison.get("bounds"),
        "confidence": comparison.get("confidence"), "effective_sample": comparison.get("effective_sample") or {},
        "refresh": bool(comparison.get("refresh")), "cross_fitted": len(comparison.get("cross_fitted") or []),
        "reason": comparison.get("reason"), "reason_zh": comparison.get("reason_zh") or comparison.get("reason"),
    }
    if verdict == "promoted":
        out["promoted"] = record["promoted"]  # the candidate itself, or its recipe refitted on every month
        out["forced"] = bool(record.get("forced"))
    if record.get("trial_ended"):
        out["trial_ended"] = record["trial_ended"]
    return out


__all__ = ["MAX_BYTES", "VERDICTS", "VERDICTS_FILE", "VERDICT_NAMES", "Verdicts", "read_verdicts", "summary", "verdict_of"]
