"""Rule administration: validate, preview, publish and activate rule-set versions."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from ..errors import Conflict, InputError, NotFound, Problem
from ..service.runtime import Runtime, check_files, unified_diff
from ..store import metrics as metrics_store
from ..store import rulesets as versions_store
from .common import check_period
from .month import diagnose


def merged_files(active_files: dict[str, str], changes: object) -> dict[str, str]:
    """The active version's files with ``changes`` applied (a file set to null is removed)."""
    if not isinstance(changes, dict) or not changes:
        raise InputError(Problem("files must be a non-empty object of file name -> YAML text (null removes a file)",
                                 file="body", column="files"))
    files = dict(active_files)
    for name, text in changes.items():
        if text is None:
            if name not in files:
                raise InputError(Problem(f"cannot remove '{name}': no such file in the active version",
                                         file="body", column=f"files.{name}"))
            files.pop(name)
        else:
            files[name] = text
    return files


def validate_rules(runtime: Runtime, changes: object) -> list[Problem]:
    files = merged_files(runtime.current().files, changes)
    _, problems = check_files(runtime.settings.rules_dir, files)
    return problems


def preview_rules(runtime: Runtime, engine: Engine, changes: object, period: str, limit: int = 500) -> dict:
    """Which subjects would change lamp or findings in ``period`` under the candidate rules."""
    check_period(period)
    active = runtime.current()
    files = merged_files(active.files, changes)
    # A preview shows impact; rule tests are for validate and publish (a change may need new tests).
    candidate, problems = check_files(runtime.settings.rules_dir, files, run_rule_tests=False)
    if candidate is None:
        raise InputError(problems)
    with engine.connect() as conn:
        dataset = metrics_store.load_dataset(conn, runtime.registry, period)
    if period not in dataset.periods():
        raise NotFound(Problem(f"no metrics stored for period {period}", column="period"))
    before = diagnose(dataset, active.ruleset, period)
    after = diagnose(dataset, candidate, period)
    changed, counts = [], {"branch": 0, "member": 0}
    for old_list, new_list in ((before.branches, after.branches), (before.members, after.members)):
        for old, new in zip(old_list, new_list, strict=True):
            old_rules = [f.rule for f in old.findings]
            new_rules = [f.rule for f in new.findings]
            if old.lamp != new.lamp or old_rules != new_rules:
                counts[old.subject] += 1
                if len(changed) < limit:
                    changed.append({"subject": old.subject, "id": old.id, "lamp_before": old.lamp,
                                    "lamp_after": new.lamp,
                                    "findings_added": sorted(set(new_rules) - set(old_rules)),
                                    "findings_removed": sorted(set(old_rules) - set(new_rules))})
    return {"period": period, "active_version": active.version, "candidate_digest": candidate.version,
            "changed": counts, "subjects": changed, "truncated": sum(counts.values()) > len(changed),
            "diff": unified_diff(active.files, files)}


def publish_rules(runtime: Runtime, engine: Engine, changes: object, comment: object, author: str) -> dict:
    """PUT /v1/rules: a new version, checked whole (rule tests included), active at once; or nothing."""
    if not isinstance(comment, str) or not comment.strip() or len(comment) > 2000:
        raise InputError(Problem("a comment (1 to 2,000 characters) says why the rules change", file="body",
                                 column="comment"))
    active = runtime.current(force=True)
    files = merged_files(active.files, changes)
    candidate, problems = check_files(runtime.settings.rules_dir, files)
    if candidate is None:
        raise InputError(problems)
    if files == active.files:
        raise Conflict(Problem("no change: the files equal the active version's", file="body", column="files"))
    with engine.begin() as conn:
        version = versions_store.publish(conn, files, candidate.version, comment=comment.strip(), author=author,
                                         based_on=active.version, diff=unified_diff(active.files, files))
    runtime.switch_to(version, files)
    return {"version": version, "digest": candidate.version, "rules": len(candidate.rules), "based_on": active.version}


def activate_version(runtime: Runtime, engine: Engine, version: int) -> dict:
    """Roll back (or forward) to a stored version, re-checked against today's registry first."""
    with engine.connect() as conn:
        row = versions_store.get(conn, version)
    if row is None:
        raise NotFound(Problem(f"no rule-set version {version}", column="version"))
    candidate, problems = check_files(runtime.settings.rules_dir, row["files"], run_rule_tests=False)
    if candidate is None:
        raise InputError(problems)
    with engine.begin() as conn:
        versions_store.activate(conn, version)
    runtime.switch_to(version, row["files"])
    return {"version": version, "digest": candidate.version, "rules": len(candidate.rules)}


def rule_version_json(row: dict) -> dict:
    out = {k: v for k, v in row.items()}
    for k in ("created_at", "activated_at"):
        if out.get(k) is not None:
            out[k] = out[k].isoformat() + "Z"
    return out

