"""Small helpers shared by the parsers of rule, registry and points files."""

from __future__ import annotations

import re
from typing import Any

from ..errors import Problem, did_you_mean
from .yamlsafe import Located

ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


FORMAT_VERSION = 1  # of the rule files' layout: the one this service reads


def format_version(doc: Located, mapping: dict, problems: list[Problem], what: str) -> None:
    """A file's ``version`` (optional): the layout it is written in, which must be the one this service
    reads; another (a file for a newer service, say) is refused rather than read as if it were this one."""
    if "version" in mapping and (mapping["version"] != FORMAT_VERSION or isinstance(mapping["version"], bool)):
        problems.append(doc.problem(("version",), f"{what} says version {str(mapping['version'])[:20]!r}; this "
                                    f"service reads version {FORMAT_VERSION}",
                                    suggestion=f"version: {FORMAT_VERSION} (or leave the key out)"))


def unknown_keys(doc: Located, path: tuple, mapping: dict, allowed: tuple, problems: list[Problem],
                  what: str, rule_id: str | None = None) -> None:
    for key in mapping:
        if key not in allowed:
            problems.append(doc.problem(path + (key,), f"unknown key '{key}' in {what}", key=True,
                                        rule_id=rule_id,
                                        suggestion=did_you_mean(key, allowed) or "allowed: " + ", ".join(allowed)))


