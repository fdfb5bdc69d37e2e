"""Small helpers shared by the parsers of rule, registry and points files."""

from __future__ import annotations

import re
from typing import Any

from ..errors import Problem, did_you_mean
from .yamlsafe import Located

ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def unknown_keys(doc: Located, path: tuple, mapping: dict, allowed: tuple, problems: list[Problem],
                  what: str, rule_id: str | None = None) -> None:
    for key in mapping:
        if key not in allowed:
            problems.append(doc.problem(path + (key,), f"unknown key '{key}' in {what}", key=True,
                                        rule_id=rule_id,
                                        suggestion=did_you_mean(key, allowed) or "allowed: " + ", ".join(allowed)))


