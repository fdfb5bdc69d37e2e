"""One exception tree for the whole service.

Every problem carries where it is (file, line, column or field path, rule id) and, where we can
guess one, a suggestion. Faces (CLI, HTTP) turn these into exit codes or problem+json; the
library never prints.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input, and where it is."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | str | None = None
    rule_id: str | None = None
    suggestion: str | None = None

    def location(self) -> str:
        parts = [p for p in (self.file, self.line, self.column) if p is not None]
        return ":".join(str(p) for p in parts)

    def __str__(self) -> str:
        text = self.message
        if self.rule_id:
            text = f"rule {self.rule_id}: {text}"
        if self.suggestion:
            text = f"{text} ({self.suggestion})"
        loc = self.location()
        return f"{loc}: {text}" if loc else text

    def as_dict(self) -> dict:
        out = {"message": self.message}
        for key in ("file", "line", "column", "rule_id", "suggestion"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class DiagnosisError(Exception):
    """Base of every error the service raises on purpose. Holds one or more problems."""

    exit_code = 1

    def __init__(self, problems: Problem | str | Sequence[Problem]):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InputError(DiagnosisError):
    """Bad metric data: a CSV file, a JSON body, a test fixture."""

    exit_code = 2


class RuleError(DiagnosisError):
    """A rule, points or indicator file that does not validate."""

    exit_code = 1


class CatalogError(DiagnosisError):
    """A remedy catalog file that does not validate."""

    exit_code = 1


class NotFound(DiagnosisError):
    """Something a request names does not exist (HTTP 404)."""

    exit_code = 2


class Conflict(DiagnosisError):
    """A valid request the current state does not allow yet, e.g. prescriptions before a diagnosis (HTTP 409)."""

    exit_code = 2


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelled id, or None when nothing is close."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
