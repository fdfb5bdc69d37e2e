"""The promotion verdicts as a reader sees them: ``promotions.jsonl`` in the models directory, newest first.

``model promote`` (an administrator's, or the service's monthly routine) appends one record a verdict:
promoted, put on trial, or refused, with the comparison it rests on (``rollout.Comparison``). ``model
history`` and ``GET /v1/model`` read it here, one way: each record summed up (``summary``) without the
server's file paths, a line that is not a record skipped and named, the file read from its end when it has
grown past ``MAX_BYTES``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

VERDICTS_FILE = "promotions.jsonl"
MAX_BYTES = 8 * 1024 * 1024  # years of monthly verdicts are a few hundred kB; past this, only the latest are read
VERDICTS = ("promoted", "on trial", "refused")
VERDICT_NAMES = {"promoted": ("已启用", "promoted"), "on trial": ("试用", "on trial"), "refused": ("未启用", "refused")}


MAX_PROBLEMS = 20  # lines named; past them, how many more (a file of junk must not make an answer of megabytes)


@dataclass(frozen=True)
class Verdicts:
    """The verdicts read: ``items`` the latest ``limit``, newest first; ``total`` every verdict read (all of
    them, unless ``partial``: only the file's last ``MAX_BYTES`` were read); ``problems`` the lines skipped
    (which line, why), the first ``MAX_PROBLEMS`` of them and how many more."""

    items: list[dict]
    total: int
    problems: list[str] = field(default_factory=list)
    partial: bool = False
    skipped: int = 0  # lines that are not verdicts (the problems name the first MAX_PROBLEMS)

    def as_dict(self) -> dict:
        return {"total": self.total, "items": self.items, "problems": self.problems, "partial": self.partial,
                "skipped": self.skipped}


def read_verdicts(models_dir: Path, limit: int = 20) -> Verdicts:
    """The latest ``limit`` verdicts recorded in ``models_dir`` (none before the first ``model promote``).
    Never raises for the file's content or for a file it cannot read: that is said in ``problems``."""
    path = Path(models_dir) / VERDICTS_FILE
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            partial = size > MAX_BYTES
            # One byte before the window: a line that starts right at it is whole and kept.
            f.seek(size - MAX_BYTES - 1 if partial else 0)
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return Verdicts([], 0)
    except OSError as exc:  # a directory in its place, no permission: the record is not readable
        return Verdicts([], 0, [f"{VERDICTS_FILE} cannot be read ({exc.__class__.__name__})"])
    if partial:
        data = data[data.find(b"\n") + 1:]  # what precedes the first newline is cut where the read began
    records, problems, more = [], [], 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{VERDICTS_FILE} line {number}{' of its last 8 MiB' if partial else ''}"
        try:
            record = json.loads(line.decode("utf-8"), parse_constant=lambda _name: None)  # NaN is not JSON
        except (UnicodeDecodeError, ValueError) as exc:
            said = f"{where}: not a JSON record ({exc.__class__.__name__}); skipped"
        else:
            if isinstance(record, dict) and verdict_of(record) is not None:
                records.append(record)
                continue
            said = f"{where}: not a verdict (none of promoted, trial, refused); skipped"
        if len(problems) < MAX_PROBLEMS:
            problems.append(said)
        else:
            more += 1
    if more:
        problems.append(f"{more} more lines of {VERDICTS_FILE} skipped")
    latest = records[::-1][:max(limit, 0)]
    return Verdicts([summary(r) for r in latest], len(records), problems, partial, min(len(problems), MAX_PROBLEMS) + more)


# Who asked, as `model promote` records it (cli/promote.py, service/model_routine.py), said in Chinese.
_ASKERS_ZH = ((re.compile(r"^the service's monthly routine, for (\d{4}-\d{2})$"), r"服务的月度例程（\1）"),
              (re.compile(r"^(.+) \(command line\)$"), r"\1（命令行）"))


def asker_said(by: str | None, lang: str) -> str:
    """Who asked for a verdict in ``lang``: the routine and a command line's user in Chinese too; any other
    name (``model promote --by``) as written."""
    if not by:
        return "?"
    if lang == "zh":
        for pattern, said in _ASKERS_ZH:
            if pattern.match(by):
                return pattern.sub(said, by)
    return by


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
    the previous model was put, which is the server's business). Each field of the type it is documented
    with, null where the record has no such value (a line edited by hand reads as far as it can)."""
    comparison = record.get("comparison") if isinstance(record.get("comparison"), dict) else {}
    verdict = verdict_of(record)
    bounds = comparison.get("bounds")
    sample = comparison.get("effective_sample")
    cross = comparison.get("cross_fitted")
    out = {
        "at": _text(record.get("at")), "by": _text(record.get("by")), "verdict": verdict,
        "candidate": _text(comparison.get("candidate")) or _text(record.get("trial")) or _text(record.get("refused")),
        "active": _text(comparison.get("active")),
        "months": [m for m in comparison.get("months") or [] if isinstance(m, str)]
        if isinstance(comparison.get("months"), list) else [],
        "decisions": _whole(comparison.get("decisions")), "difference": _number(comparison.get("difference")),
        "bounds": [_number(b) for b in bounds] if isinstance(bounds, list) and len(bounds) == 2 else None,
        "confidence": _number(comparison.get("confidence")),
        "effective_sample": {k: v for k, v in sample.items() if isinstance(k, str) and _number(v) is not None}
        if isinstance(sample, dict) else {},
        "refresh": comparison.get("refresh") is True, "cross_fitted": len(cross) if isinstance(cross, list) else 0,
        "reason": _text(comparison.get("reason")),
        "reason_zh": _text(comparison.get("reason_zh")) or _text(comparison.get("reason")),
    }
    if verdict == "promoted":
        out["promoted"] = _text(record["promoted"]) or "?"  # the candidate, or its recipe refitted on every month
        out["forced"] = record.get("forced") is True
    if _text(record.get("trial_ended")):
        out["trial_ended"] = record["trial_ended"]
    return out


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _whole(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["MAX_BYTES", "MAX_PROBLEMS", "asker_said", "VERDICTS", "VERDICTS_FILE", "VERDICT_NAMES", "Verdicts", "read_verdicts", "summary", "verdict_of"]
