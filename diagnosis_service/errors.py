"""One exception tree for the whole service.

Every problem says what is wrong and where: either a span of a file (``FileSpan``: a CSV line and
column, a YAML line and column) or a path into a request (``FieldPath``: ``branches[3].dues_paid``,
``query.period``), plus the rule id and a suggestion where there is one. Faces turn these into exit
codes (the command line) or problem+json (HTTP) without decoding strings; the library never prints
and never names a command-line option.

    DiagnosisError
      InputError      bad data: a CSV file, a JSON body, a query parameter, a rule test fixture
      RuleError       a rule, points or indicator file that does not validate
      CatalogError    a remedy catalog file that does not validate
      ModelError      a model file that is missing, unreadable or made by an incompatible version
      NotFound        something a request names does not exist
      Conflict        a valid request the current state does not allow (yet)
      SetupError      the installation or its settings are wrong (a malformed setting, a port in use)
      Unavailable     the service cannot answer now (HTTP 503)
        StoreError    the database cannot do what was asked (no schema, unreachable, too slow)
          DatabaseDown  it does not answer at all
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FileSpan:
    """A place in a file: ``file:line:column`` (line and column 1-based; a CSV column may be a name)."""

    file: str
    line: int | None = None
    column: int | str | None = None

    def __str__(self) -> str:
        return ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)


@dataclass(frozen=True)
class FieldPath:
    """A place in a request: names and list indexes from the body's top (``branches[3].dues_paid``);
    query parameters start with ``query`` (``query.period``). The empty path is the whole body."""

    parts: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        out = ""
        for part in self.parts:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += ("." if out else "") + str(part)
        return out or "body"


Location = FileSpan | FieldPath


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input, and where it is.

    A file span is given as ``file``/``line``/``column``, a request path as ``field`` (a tuple of
    names and indexes); never both.
    """

    message: str
    file: str | None = None
    line: int | None = None
    column: int | str | None = None
    rule_id: str | None = None
    suggestion: str | None = None
    field: tuple[str | int, ...] | None = None

    def __post_init__(self) -> None:
        if self.field is not None and (self.file is not None or self.line is not None or self.column is not None):
            raise TypeError("a problem is located in a file or in a request, not both")

    @property
    def where(self) -> Location | None:
        if self.field is not None:
            return FieldPath(tuple(self.field))
        if self.file is not None:
            return FileSpan(self.file, self.line, self.column)
        if self.column is not None:  # a setting or an argument with no file, e.g. 'role'
            return FieldPath((str(self.column),))
        return None

    def location(self) -> str:
        where = self.where
        return "" if where is None else str(where)

    def __str__(self) -> str:
        text = self.message
        if self.rule_id:
            text = f"rule {self.rule_id}: {text}"
        if self.suggestion:
            text = f"{text} ({self.suggestion})"
        loc = self.location()
        return f"{loc}: {text}" if loc else text

    def as_dict(self) -> dict:
        out: dict = {"message": self.message}
        for key in ("file", "line", "column", "rule_id", "suggestion"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.field is not None:
            out["field"] = str(FieldPath(tuple(self.field)))
        return out

    def under(self, *prefix: str | int) -> Problem:
        """The same problem with its request path prefixed (rows checked alone, reported in a body)."""
        if self.field is not None:
            return Problem(self.message, rule_id=self.rule_id, suggestion=self.suggestion,
                           field=(*prefix, *self.field))
        extra = [p for p in (self.line, self.column) if p is not None]
        return Problem(self.message, rule_id=self.rule_id, suggestion=self.suggestion, field=(*prefix, *extra))


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
    """Bad metric data: a CSV file, a JSON body, a query parameter, a test fixture."""

    exit_code = 2


class RuleError(DiagnosisError):
    """A rule, points or indicator file that does not validate."""

    exit_code = 1


class CatalogError(DiagnosisError):
    """A remedy catalog file that does not validate."""

    exit_code = 1


class ModelError(DiagnosisError):
    """A model file that is missing, unreadable or made by an incompatible version."""

    exit_code = 1


class NotFound(DiagnosisError):
    """Something a request names does not exist (HTTP 404)."""

    exit_code = 2


class Conflict(DiagnosisError):
    """A valid request the current state does not allow yet, e.g. prescriptions before a diagnosis (HTTP 409)."""

    exit_code = 2


class SetupError(DiagnosisError):
    """The installation or its settings are wrong: a malformed setting, a port in use (exit code 2)."""

    exit_code = 2


class Unavailable(DiagnosisError):
    """The service cannot answer now: not ready (no schema, no active rules) or its database is down or
    slow (HTTP 503 with Retry-After)."""

    exit_code = 2


class StoreError(Unavailable):
    """The database cannot do what was asked: no schema yet, unreachable, or too slow."""


class DatabaseDown(StoreError):
    """The database does not answer at all (refused, or silent past the timeout): an outage, not a busy moment."""


_MORE = re.compile(r"\.\.\. and (\d+) more problems not listed")


def more_problems(count: int) -> Problem:
    """The last problem of a capped list: how many more were found and not listed (``left_out`` reads it)."""
    return Problem(f"... and {count} more problems not listed")


def left_out(problems: Sequence[Problem]) -> int:
    """How many problems a capped list says it left out (its last one, ``more_problems``); 0 if none."""
    more = _MORE.fullmatch(problems[-1].message) if problems else None
    return int(more[1]) if more else 0


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelled id, or None when nothing is close."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def unknown_fields(body: Mapping, allowed: Sequence[str]) -> list[Problem]:
    """A problem for each field of a request body that is not among ``allowed`` (at most 100, names cut
    to 100 characters: the body is untrusted), with what it may have meant, else the fields allowed."""
    return [Problem(f"unknown field {str(k)[:100]!r}", field=(str(k)[:100],),
                    suggestion=did_you_mean(str(k)[:100], allowed) or "fields: " + ", ".join(allowed))
            for k in [k for k in body if k not in allowed][:100]]


__all__ = ["Conflict", "DatabaseDown", "DiagnosisError", "FieldPath", "FileSpan", "InputError", "Location", "ModelError", "NotFound",
           "Problem", "RuleError", "SetupError", "StoreError", "Unavailable",
           "did_you_mean", "left_out", "more_problems", "unknown_fields"]
