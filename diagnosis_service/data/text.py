"""What text the service accepts in ids, names and notes: bounded, and free of what databases, logs
and HTTP headers choke on (NUL and other control characters, lone surrogates)."""

from __future__ import annotations

import re
import unicodedata

ID_LENGTH, NAME_LENGTH, STREET_LENGTH = 64, 200, 100  # the store's columns


def text_problem(value: object, max_length: int, lines: bool = False) -> str | None:
    """Why ``value`` is not acceptable text of at most ``max_length`` characters (None when it is);
    ``lines``: line breaks and tabs are allowed (a note, a comment)."""
    if value is None:  # a field left out, or null: said as missing, not as Python's NoneType
        return "is required (missing or null)"
    if not isinstance(value, str):
        return f"must be text, got {type(value).__name__}"
    if len(value) > max_length:
        return f"must be at most {max_length} characters, got {len(value)}"
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cs":
            return "must be valid Unicode (a lone surrogate was sent)"
        if category == "Cc" and not (lines and ch in "\t\n\r"):
            return f"must not contain control characters (U+{ord(ch):04X})"
        if category in ("Zl", "Zp") and not lines:
            return "must be one line"
    return None


# An id is a segment of the service's addresses (/v1/branches/{id}/...): what would end or escape one is
# not part of it. Spaces inside are refused too (surrounding ones are stripped from files).
ID_FORBIDDEN = re.compile(r"[/\\?#%\s\x00-\x1f\x7f]")
ID_RULE = "letters, digits and marks such as - _ . (no '/', '\\', '?', '#', '%', spaces or control characters)"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def visible(text: str) -> str:
    """``text`` with its control characters written as escapes (``\\x00``): a message quoting a value shows
    what is there (a NUL printed as itself looks like a space, or like nothing)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def label_problem(value: object, what: str = "non-empty text") -> str | None:
    """Why ``value`` is not a usable short label (a user's name, say): non-empty text without surrounding
    spaces, at most 64 characters; any character text may hold."""
    if isinstance(value, str) and (not value.strip() or value != value.strip()):
        return f"must be {what} without surrounding spaces"
    return text_problem(value, ID_LENGTH)


def id_problem(value: object) -> str | None:
    """Why ``value`` is not a usable id: a label (``label_problem``) with nothing that would end or escape a
    segment of an address, and not made of dots alone."""
    problem = label_problem(value, "a non-empty id")
    if problem is None and isinstance(value, str) and (ID_FORBIDDEN.search(value) or not value.strip(".")):
        return f"must be {ID_RULE}, got {value[:40]!r}"
    return problem


def is_json_number(value: object) -> bool:
    """A JSON number (not text that reads as one, not true or false) or null."""
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def json_type(value: object) -> str:
    """What a JSON value is, as a message names it."""
    if isinstance(value, str):
        return f"text {value[:20]!r}"
    return {bool: "true/false", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


__all__ = ["ID_FORBIDDEN", "ID_LENGTH", "ID_RULE", "NAME_LENGTH", "STREET_LENGTH", "id_problem", "is_json_number", "label_problem", "json_type", "text_problem"]
