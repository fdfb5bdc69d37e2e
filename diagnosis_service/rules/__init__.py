"""Rule files: parse, validate and compile them into the engine-independent rule model."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from ..errors import Problem, RuleError
from .model import RuleSet
from .parse import cross_check, parse_rules
from .registry import parse_points, parse_registry
from .yamlsafe import load_file, load_text, misnamed_yaml

REGISTRY_FILE = "indicators.yaml"
POINTS_FILE = "points.yaml"
MAX_RULE_FILES = 200


def rule_files(rules_dir: Path) -> list[Path]:
    """The rule files of a directory: every *.yaml beside the registry and points files, sorted."""
    return sorted(p for p in rules_dir.glob("*.yaml") if p.name not in (REGISTRY_FILE, POINTS_FILE))


def _collect(rules_dir: Path, problems: list[Problem], overrides: Mapping[str, str] | None = None,
             only_overrides: bool = False) -> RuleSet | None:
    """Parse a rules directory; ``overrides`` (file name -> YAML text) replace or add rule files, and with
    ``only_overrides`` they are the rule files (the directory gives just the registry and points)."""
    overrides = {k: v for k, v in (overrides or {}).items() if not k.startswith("tests/")}

    def load(path: Path):
        if overrides and path.name in overrides:
            return load_text(overrides[path.name], path.name)  # given as text: named as given
        return load_file(path)

    rules_dir = Path(rules_dir)
    if not rules_dir.is_dir():
        problems.append(Problem("rules directory not found", file=str(rules_dir),
                                suggestion="name an existing rules directory (DIAGNOSIS_RULES)"))
        return None
    digest = hashlib.sha256()
    docs = {}
    if not only_overrides:
        problems.extend(misnamed_yaml(rules_dir, "rule files"))
    own = [] if only_overrides else rule_files(rules_dir)
    paths = [rules_dir / REGISTRY_FILE, rules_dir / POINTS_FILE] + own
    extra = sorted(set(overrides or {}) - {p.name for p in paths})
    paths += [rules_dir / name for name in extra]
    if len(paths) > MAX_RULE_FILES:
        # Files sent to the service are said as its body's ``files``: the server's directory is its own business.
        problems.append(Problem(f"{len(paths)} rule files, over the limit of {MAX_RULE_FILES}",
                                file=str(rules_dir) if overrides is None else "files"))
        return None
    for path in paths:
        if not path.exists() and not (overrides and path.name in overrides):
            problems.append(Problem("required file is missing", file=str(path)))
            continue
        try:
            docs[path.name] = load(path)
        except RuleError as exc:
            problems.extend(exc.problems)
    if REGISTRY_FILE not in docs:
        return None
    registry = parse_registry(docs[REGISTRY_FILE], problems)
    points = parse_points(docs[POINTS_FILE], registry, problems) if POINTS_FILE in docs else {}
    rules = []
    implied: dict[str, dict] = {"branch": {}, "member": {}}
    failed: set[str] = set()
    for name, doc in docs.items():
        if name in (REGISTRY_FILE, POINTS_FILE):
            continue
        rules.extend(parse_rules(doc, registry, problems, implied, failed))
    cross_check(rules, problems, failed)
    if any(implied.values()):
        registry = replace(registry, indicators={s: {**registry.indicators[s], **dict(sorted(implied[s].items()))}
                                                 for s in registry.indicators})
    for name in sorted(docs):
        digest.update(name.encode() + b"\0" + repr(docs[name].data).encode("utf-8") + b"\0")
    return RuleSet(registry=registry, points=points, rules=tuple(rules), version=digest.hexdigest()[:12],
                   files=tuple(str(p) for p in paths))


def check_rules(rules_dir: Path, overrides: Mapping[str, str] | None = None,
                only_overrides: bool = False) -> list[Problem]:
    """Every problem of a rule directory, without raising (empty list: the rules are valid)."""
    problems: list[Problem] = []
    _collect(Path(rules_dir), problems, overrides, only_overrides)
    return problems


def is_valid(rules_dir: Path) -> bool:
    return not check_rules(rules_dir)


def load_ruleset(rules_dir: Path, overrides: Mapping[str, str] | None = None, only_overrides: bool = False) -> RuleSet:
    """Parse and validate once; raise RuleError listing every problem. ``overrides`` and
    ``only_overrides``: rule files given as text (see ``_collect``), e.g. a version to publish."""
    problems: list[Problem] = []
    ruleset = _collect(Path(rules_dir), problems, overrides, only_overrides)
    if problems or ruleset is None:
        raise RuleError(problems or [Problem("no rules loaded", file=str(rules_dir))])
    return ruleset


__all__ = ["RuleSet", "check_rules", "is_valid", "load_ruleset", "rule_files"]
