"""Rule administration: check a set of rule files, preview its effect, publish it as a version, roll back.

A rule-set version is a set of rule files (``NAME.yaml``) and their rule tests (``tests/NAME.yaml``),
as text; the indicator registry and the points file come with the deployment. ``check_files`` is the
one check of a version, used to publish, to preview, to activate and by the service to compile the
active version: parsed in memory against the deployment's registry (no temporary files), compiled
for durable_rules, and its rule tests run.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

from ..data.text import text_problem
from ..engine.durable import compile_problems
from ..errors import Conflict, InputError, NotFound, Problem, RuleError
from ..periods import check_period
from ..rules import POINTS_FILE, REGISTRY_FILE, load_ruleset, rule_files
from ..rules.model import RuleSet
from ..store import rulesets as versions_store
from . import notify
from .common import in_transaction
from .month import Month, diagnose_month
from .rule_tests import run_texts
from .snapshot import Snapshot
from .store_io import StoreSource

MAX_RULE_BYTES = 1_000_000
MAX_COMMENT = 2000


def bundled_files(rules_dir: Path) -> dict[str, str]:
    """The rule files (and rule tests) of a rules directory, and its points weights, as name -> text."""
    files = {p.name: p.read_text(encoding="utf-8") for p in rule_files(rules_dir)}
    points = rules_dir / POINTS_FILE
    if points.is_file():  # the weights are versioned with the rules (PUT /v1/points)
        files[POINTS_FILE] = points.read_text(encoding="utf-8")
    tests = rules_dir / "tests"
    if tests.is_dir():
        files.update({f"tests/{p.name}": p.read_text(encoding="utf-8") for p in sorted(tests.glob("*.yaml"))})
    return files


def check_files(rules_dir: Path, files: Mapping[str, str],
                run_rule_tests: bool = True) -> tuple[RuleSet | None, list[Problem]]:
    """Validate a complete set of rule files against the deployment's registry and points: parse,
    compile for durable_rules, run the included rule tests. Problems name the files as given."""
    problems = _file_name_problems(files)
    if problems:
        return None, problems
    try:
        ruleset = load_ruleset(rules_dir, overrides=files, only_overrides=True)
    except RuleError as exc:
        return None, [_relative(p, rules_dir) for p in exc.problems]
    problems = list(compile_problems(ruleset))
    if not problems and run_rule_tests and any(n.startswith("tests/") for n in files):
        report = run_texts(files, ruleset)
        problems += report.problems
        for case in report.results:
            if not case.passed:
                problems.append(Problem(f"rule test '{case.name}' failed: {case.error or case.diff}".strip(),
                                        file=case.file, line=case.line))
    return (None if problems else ruleset), problems


def _file_name_problems(files: object) -> list[Problem]:
    if not isinstance(files, Mapping) or not files:
        return [Problem("files must be a non-empty object of file name -> YAML text", field=("files",))]
    problems = []
    total = 0
    for name, text in files.items():
        if not isinstance(text, str):
            problems.append(Problem("file content must be text", field=("files", str(name)[:100])))
            continue
        total += len(text.encode("utf-8", "surrogatepass"))
        base = name[len("tests/"):] if name.startswith("tests/") else name
        if (not base.endswith(".yaml") or "/" in base or "\\" in base or base.startswith(".")
                or base == REGISTRY_FILE or (base == POINTS_FILE and name != base) or text_problem(base, 100)):
            problems.append(Problem(f"bad rule file name '{name}'"[:200], field=("files", str(name)[:100]),
                                    suggestion="NAME.yaml, tests/NAME.yaml or points.yaml; the indicator "
                                               "registry comes with the deployment"))
    if total > MAX_RULE_BYTES:
        problems.append(Problem(f"rule files total {total} bytes, over the limit of {MAX_RULE_BYTES}", field=("files",)))
    if not any(not n.startswith("tests/") and n != POINTS_FILE for n in files):
        problems.append(Problem("no rule file", field=("files",)))
    return problems


def _relative(p: Problem, rules_dir: Path) -> Problem:
    """Files of the deployment named as in a version (``indicators.yaml``), not by their path here."""
    prefix = str(rules_dir).rstrip("/") + "/"
    if p.file is None or not p.file.startswith(prefix):
        return p
    return Problem(p.message, file=p.file[len(prefix):], line=p.line, column=p.column, rule_id=p.rule_id,
                   suggestion=p.suggestion)


def unified_diff(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    out = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name, ""), new.get(name, "")
        if a != b:
            out += difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                        fromfile=f"a/{name}" if name in old else "/dev/null",
                                        tofile=f"b/{name}" if name in new else "/dev/null")
    return "".join(out)


def merged_files(active_files: Mapping[str, str], changes: object) -> dict[str, str]:
    """The active version's files with ``changes`` applied (a file set to null is removed)."""
    if not isinstance(changes, dict) or not changes:
        raise InputError(Problem("files must be a non-empty object of file name -> YAML text (null removes a file)",
                                 field=("files",)))
    files = dict(active_files)
    for name, text in changes.items():
        if text is None:
            if name not in files:
                raise InputError(Problem(f"cannot remove '{name}': no such file in the active version"[:300],
                                         field=("files", str(name)[:100])))
            files.pop(name)
        else:
            files[name] = text
    return files


def validate_rules(snapshot: Snapshot, rules_dir: Path, changes: object) -> list[Problem]:
    files = merged_files(snapshot.files, changes)
    return check_files(rules_dir, files)[1]


def month_under(snapshot: Snapshot, rules_dir: Path, engine: Engine, files: Mapping[str, str],
                period: object) -> tuple[RuleSet, Month, Month]:
    """The candidate rule set of ``files`` and the stored month diagnosed under the active rules and
    under it (a preview's two sides); InputError on a problem of the files, NotFound without the month."""
    check_period(period, "period")
    # A preview shows impact; rule tests are for validate and publish (a change may need new tests).
    candidate, problems = check_files(rules_dir, files, run_rule_tests=False)
    if candidate is None:
        raise InputError(problems)
    dataset = StoreSource(engine).load(snapshot.ruleset.registry, period)
    if period not in dataset.periods():
        raise NotFound(Problem(f"no metrics stored for period {period}", field=("period",)))
    before = diagnose_month(dataset, snapshot, period)
    after = diagnose_month(dataset, snapshot.replace(ruleset=candidate), period)
    return candidate, before, after


def preview_rules(snapshot: Snapshot, rules_dir: Path, engine: Engine, changes: object, period: object,
                  limit: int = 500) -> dict:
    """Which subjects would change lamp or findings in ``period`` under the candidate rules, and for each
    rule whose count changes, how many subjects it flags (or reminds) now and would then."""
    files = merged_files(snapshot.files, changes)
    candidate, before, after = month_under(snapshot, rules_dir, engine, files, period)
    changed, counts = [], {"branch": 0, "member": 0}
    per_rule: dict[str, list[int]] = {}
    for old_list, new_list in ((before.branches, after.branches), (before.members, after.members)):
        for old, new in zip(old_list, new_list, strict=True):
            old_rules = [f.rule for f in old.findings]
            new_rules = [f.rule for f in new.findings]
            for k, fired in enumerate((old_rules, new_rules)):
                for rule_id in fired:
                    per_rule.setdefault(rule_id, [0, 0])[k] += 1
            if old.lamp != new.lamp or old_rules != new_rules:
                counts[old.subject] += 1
                if len(changed) < limit:
                    changed.append({"subject": old.subject, "id": old.id, "lamp_before": old.lamp,
                                    "lamp_after": new.lamp,
                                    "findings_added": sorted(set(new_rules) - set(old_rules)),
                                    "findings_removed": sorted(set(old_rules) - set(new_rules))})
    rules = []
    for rule_id in sorted(per_rule):
        n_before, n_after = per_rule[rule_id]
        rule = candidate.rule(rule_id) or snapshot.ruleset.rule(rule_id)
        if n_before != n_after:
            rules.append({"rule": rule_id, "severity": rule.severity if rule else None, "subject": rule.subject if rule
                          else None, "before": n_before, "after": n_after})
    return {"period": period, "active_version": snapshot.version, "candidate_digest": candidate.version,
            "changed": counts, "rules": rules, "subjects": changed, "truncated": sum(counts.values()) > len(changed),
            "diff": unified_diff(snapshot.files, files)}


def check_publish(comment: object, base_version: object, active_version: int | None, what: str,
                  read_again: str) -> None:
    """A publish's comment (why ``what`` change) and the version the client edited (``base_version``:
    when another version is active by now, Conflict: never applied over what the client did not see)."""
    if not isinstance(comment, str) or not comment.strip() or text_problem(comment, MAX_COMMENT, lines=True):
        raise InputError(Problem(f"a comment (1 to {MAX_COMMENT:,} characters of text) says why {what} change",
                                 field=("comment",)))
    if base_version is not None:
        if isinstance(base_version, bool) or not isinstance(base_version, int) or base_version < 1:
            raise InputError(Problem(f"base_version must be a version number, got {base_version!r}"[:200],
                                     field=("base_version",)))
        if base_version != active_version:
            raise Conflict(Problem(f"version {base_version} is no longer the active one: version {active_version} "
                                   "is", field=("base_version",),
                                   suggestion=f"read {read_again} again, apply your change to it and publish that"))


def publish_rules(snapshot: Snapshot, rules_dir: Path, engine: Engine, changes: object, comment: object,
                  author: str, base_version: object = None) -> tuple[int, dict[str, str], dict]:
    """PUT /v1/rules: a new version, checked whole (rule tests included) and made active; or nothing.

    ``base_version``: the version the client edited (``If-Match`` or ``base_version``); when another
    version is active by now, the publish is refused (Conflict), never applied over what the client did
    not see. Without it, the version active at the start of the request is the base. Returns (version,
    files, answer); the caller serves the new version from then on."""
    check_publish(comment, base_version, snapshot.version, "the rules", "GET /v1/rules")
    files = merged_files(snapshot.files, changes)
    candidate, problems = check_files(rules_dir, files)
    if candidate is None:
        raise InputError(problems)
    if files == dict(snapshot.files):
        raise Conflict(Problem("no change: the files equal the active version's", field=("files",)))
    diff = unified_diff(snapshot.files, files)
    def step(conn: Connection) -> int:
        number = versions_store.publish(conn, files, candidate.version, comment=comment.strip(), author=author,
                                        based_on=snapshot.version, diff=diff)
        outbox = notify.Outbox(conn)
        notify.rules_changed(outbox, action="published", version=number, digest=candidate.version, author=author,
                             comment=comment.strip(), based_on=snapshot.version)
        outbox.flush()
        return number

    version = in_transaction(engine, step)
    # Comments or layout changed alone (the digest is of the parsed files: the order of rules and keys
    # counts): a version of its own, the text being what was published, told as one that diagnoses as the
    # last did, so nobody re-diagnoses for it.
    return version, files, {"version": version, "digest": candidate.version, "rules": len(candidate.rules),
                            "based_on": snapshot.version,
                            "same_rules": candidate.version == snapshot.ruleset.version}


def activate_version(rules_dir: Path, engine: Engine, version: int, author: str = "") -> tuple[dict[str, str], dict]:
    """Roll back (or forward) to a stored version, re-checked against today's registry first.
    Returns (files, answer); the caller serves the version from then on."""
    with engine.connect() as conn:
        row = versions_store.get(conn, version)
    if row is None:
        raise NotFound(Problem(f"no rule-set version {version}", field=("version",)))
    candidate, problems = check_files(rules_dir, row["files"], run_rule_tests=False)
    if candidate is None:
        raise InputError(problems)
    def step(conn: Connection) -> None:
        versions_store.activate(conn, version)
        outbox = notify.Outbox(conn)
        notify.rules_changed(outbox, action="activated", version=version, digest=candidate.version, author=author,
                             comment=None, based_on=None)
        outbox.flush()

    in_transaction(engine, step)
    return row["files"], {"version": version, "digest": candidate.version, "rules": len(candidate.rules)}


def rule_version_json(row: Mapping) -> dict:
    out = dict(row)
    for k in ("created_at", "activated_at"):
        if out.get(k) is not None:
            out[k] = out[k].isoformat() + "Z"
    return out


__all__ = ["activate_version", "bundled_files", "check_files", "check_publish", "merged_files", "month_under",
           "preview_rules", "publish_rules",
           "rule_version_json", "unified_diff", "validate_rules"]
