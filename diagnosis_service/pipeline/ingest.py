"""Metrics in: a CSV directory (import) or a JSON period (PUT), validated whole, stored all or nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from ..data.csvdir import load_dir, validate_metrics
from ..data.model import KEYS
from ..data.validate import Problems
from ..errors import InputError, Problem, did_you_mean
from ..rules.model import Registry
from ..store import metrics as metrics_store
from .common import MAX_ROWS, PROFILE, check_period


def import_dir(engine: Engine, registry: Registry, data_dir: Path, actor: str) -> dict[str, dict[str, int]]:
    """Validate a CSV data directory whole, then store it in one transaction (idempotent)."""
    dataset = load_dir(data_dir, registry)
    with engine.begin() as conn:
        changes = metrics_store.import_dataset(conn, dataset, actor)
    return {k: v.as_dict() for k, v in changes.items()}


def ingest_period(conn: Connection, registry: Registry, period: str, body: object, actor: str,
                  request_id: str | None = None) -> dict:
    """PUT /v1/periods/{period}/metrics: validate every row first; store all or nothing."""
    check_period(period)
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object with 'branches' and/or 'members'", file="body"))
    unknown = [k for k in body if k not in ("branches", "members")]
    problems = Problems()
    for k in unknown:
        problems.add(Problem(f"unknown field '{k}'", file="body", column=k,
                             suggestion=did_you_mean(k, ("branches", "members")) or "fields: branches, members"))
    if "branches" not in body and "members" not in body:
        problems.add(Problem("nothing to store: give 'branches' and/or 'members'", file="body"))
    frames, profiles = {}, {}
    for subject, field in (("branch", "branches"), ("member", "members")):
        rows = body.get(field)
        if rows is None:
            continue
        if not isinstance(rows, list):
            problems.add(Problem(f"'{field}' must be a list of rows", file="body", column=field))
            continue
        if len(rows) > MAX_ROWS:
            problems.add(Problem(f"{len(rows)} rows; at most {MAX_ROWS} per request", file="body", column=field))
            continue
        new_branches = set() if profiles.get("branch") is None else set(profiles["branch"]["branch_id"])
        frames[subject], profiles[subject] = _rows_frame(conn, subject, field, rows, period, registry, problems,
                                                         new_branches)
    if problems:
        raise InputError(problems.final())
    out: dict[str, dict] = {}
    branch_profiles = profiles.get("branch")
    member_profiles = profiles.get("member")
    changed = metrics_store.upsert_profiles(conn, branch_profiles, member_profiles)
    for subject, frame in frames.items():
        if frame is None:
            continue
        out[subject] = metrics_store.upsert_metrics(conn, subject, frame, source="api", actor=actor,
                                                    request_id=request_id).as_dict()
    return {"period": period, "branches": out.get("branch"), "members": out.get("member"),
            "profiles": {k: v.as_dict() for k, v in changed.items()}}


def _rows_frame(conn: Connection, subject: str, field: str, rows: list, period: str, registry: Registry,
                problems: Problems, new_branches: set[str]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    key = KEYS[subject]
    reported = [i.id for i in registry.reported(subject)]
    profile_cols = PROFILE[subject]
    if not rows:
        return None, None
    records = []
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.add(Problem("a row must be an object", file=field, line=n))
            records.append({})
            continue
        rid = row.get(key)
        if not isinstance(rid, str) or not rid.strip() or len(rid) > 64:
            problems.add(Problem(f"{key} must be an id of 1 to 64 characters, got {rid!r}"[:200], file=field, line=n,
                                 column=key))
            records.append({})
            continue
        if "period" in row and row["period"] != period:
            problems.add(Problem(f"row period {row['period']!r} differs from the period in the path ({period})",
                                 file=field, line=n, column="period"))
        records.append(row)
    ids = [r.get(key) for r in records]
    known = metrics_store.known_ids(conn, subject, [i for i in ids if isinstance(i, str)])
    profile_rows = []
    for n, r in enumerate(records):
        given = {c: r[c] for c in profile_cols if c in r}
        rid = r.get(key)
        if given or (isinstance(rid, str) and rid not in known):
            missing = [c for c in profile_cols if c not in given and c != "street"]
            if missing and isinstance(rid, str) and rid not in known:
                problems.add(Problem(f"unknown {subject} '{rid}': give {', '.join(missing)} to register it",
                                     file=field, line=n, column=missing[0]))
                continue
            profile = {key: rid, **{c: "" if given.get(c) is None and c == "street" else given.get(c, "")
                                    for c in profile_cols}}
            bad = [c for c, v in profile.items() if not isinstance(v, str) or (c != "street" and not v.strip())
                   or len(v) > 200]
            for c in bad:
                problems.add(Problem(f"'{c}' must be non-empty text (at most 200 characters)", file=field, line=n,
                                     column=c))
            if bad:
                continue
            if subject == "branch" and profile.get("type") not in registry.branch_types:
                problems.add(Problem(f"unknown branch type {profile.get('type')!r}", file=field, line=n, column="type",
                                     suggestion=did_you_mean(str(profile.get("type")), registry.branch_types)
                                     or "types: " + ", ".join(registry.branch_types)))
            profile_rows.append((n, profile))
    metric_rows = [{"period": period, **{k: v for k, v in r.items() if k not in profile_cols and k != "period"}}
                   for r in records if r]
    frame = pd.DataFrame(metric_rows)
    if key not in frame:
        frame[key] = None
    for name in reported:
        if name not in frame:
            frame[name] = None
    if not metric_rows:
        return None, None
    ordered = frame[["period", key] + [c for c in frame.columns if c not in ("period", key)]]
    before = len(problems.items)
    index_of = [n for n, r in enumerate(records) if r]  # frame position -> the row's index in the request
    clean = validate_metrics(ordered, subject, registry, field, lambda pos: (field, index_of[pos]), problems, None)
    # validate_metrics reports unknown columns at "line 1" of a file's header; for JSON rows, say which rows.
    for i in range(before, len(problems.items)):
        p = problems.items[i]
        if p.line == 1 and p.file == field and ("unknown column" in p.message or "derived" in p.message):
            first = next((n for n, r in enumerate(records) if p.column in r), 0)
            problems.items[i] = Problem(p.message, file=field, line=first, column=p.column, suggestion=p.suggestion)
    if subject == "member" and profile_rows:
        owners = {r["branch_id"] for _, r in profile_rows if isinstance(r["branch_id"], str)}
        missing = owners - metrics_store.known_ids(conn, "branch", owners) - new_branches
        for n, r in profile_rows:
            if r["branch_id"] in missing:
                problems.add(Problem(f"unknown branch '{r['branch_id']}'", file=field, line=n, column="branch_id",
                                     suggestion="register the branch first (in 'branches' of this or an earlier "
                                                "request)"))
    profiles = pd.DataFrame([r for _, r in profile_rows], columns=[key, *profile_cols]) if profile_rows else None
    return clean, profiles


