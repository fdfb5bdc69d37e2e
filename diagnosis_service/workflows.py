"""What the service and the command line do with the store: the library calls behind their faces.

Each function takes a Runtime (rules, catalog, ranker) and a connection or engine, does one job in
one transaction, and raises ``DiagnosisError`` subclasses for bad input (the faces turn those into
problem+json or exit codes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from .branch_report import CATEGORIES, prescription_view
from .data.csvdir import load_dir, validate_metrics
from .data.model import KEYS, PERIOD_RE, parse_period
from .data.rows import check_rows
from .data.validate import Problems
from .diagnose import diagnose
from .engine.evaluator import aggregate
from .engine.findings import Finding, SubjectResult, clean_number
from .engine.subject import PeriodReferences, period_references
from .errors import Conflict, InputError, NotFound, Problem, did_you_mean
from .prescribe import DEFAULT_REPEAT_MONTHS
from .rules.model import Ref, Registry
from .runtime import Runtime, check_files, unified_diff
from .store import metrics as metrics_store
from .store import results as results_store
from .store import rulesets as versions_store
from .store import served as served_store
from .store.schema import branches, member_metrics, members

MAX_ROWS = 200_000
PROFILE = {"branch": ("name", "type", "street"), "member": ("branch_id", "name")}


def check_period(period: str, field: str = "period") -> str:
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        raise InputError(Problem(f"bad period {period!r}", column=field, suggestion="write it as YYYY-MM, e.g. 2025-03"))
    return period


# --------------------------------------------------------------------------------------------- ingestion

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


# --------------------------------------------------------------------------------------------- diagnosis

def diagnose_period(runtime: Runtime, engine: Engine, period: str, actor: str) -> dict:
    """POST /v1/diagnoses: the whole period through the vectorized engine, stored."""
    check_period(period)
    active = runtime.current()
    start = time.perf_counter()
    with engine.connect() as conn:
        dataset = metrics_store.load_dataset(conn, runtime.registry, period)
    if period not in dataset.periods():
        raise NotFound(Problem(f"no metrics stored for period {period}", column="period",
                               suggestion="PUT /v1/periods/{period}/metrics or import a data directory first"))
    diag = diagnose(dataset, active.ruleset, period)
    refs = period_references(diag.evaluator, period)
    summary = {"references": results_store.references_to_json(refs), "branch_means": _branch_means(diag),
               "member_points_mean": _mean(diag.evaluator.frame("member", parse_period(period)), "vanguard_points")}
    with engine.begin() as conn:
        run_id = results_store.save_run(conn, period, diag.branches, diag.members, active.version, active.digest,
                                        summary, actor)
    lamps = {s: {c: sum(r.lamp == c for r in rs) for c in ("red", "yellow", "green")}
             for s, rs in (("branch", diag.branches), ("member", diag.members))}
    return {"period": period, "run_id": run_id, "rules_version": active.version, "branches": len(diag.branches),
            "members": len(diag.members), "lamps": lamps, "seconds": round(time.perf_counter() - start, 3)}


def _branch_means(diag) -> dict[str, float | None]:
    pidx = parse_period(diag.period)
    out = {}
    for ind in diag.ruleset.registry.indicators["branch"].values():
        column = diag.evaluator.column("branch", ind.id, pidx)
        out[ind.id] = None if column is None else clean_number(aggregate(column.dropna().to_numpy(), Ref("mean")))
    return out


def _mean(frame: pd.DataFrame, column: str) -> float | None:
    return clean_number(float(frame[column].mean())) if column in frame and len(frame) else None


def result_from_json(obj: Mapping) -> SubjectResult:
    findings = [Finding(f["rule"], f["indicator"], f["severity"], f["topic"], f["value"], f["reference"],
                        f["message_zh"], f["message_en"]) for f in obj.get("findings", [])]
    if obj["subject"] == "branch":
        return SubjectResult("branch", obj["id"], obj["period"], obj["lamp"], findings, branch_type=obj.get("type"),
                             weaknesses=list(obj.get("weaknesses", [])))
    return SubjectResult("member", obj["id"], obj["period"], obj["lamp"], findings, branch_id=obj.get("branch_id"),
                         vanguard_points=obj.get("vanguard_points"), vanguard_points_ytd=obj.get("vanguard_points_ytd"))


def _references(runtime: Runtime, engine: Engine, run: dict, period: str) -> PeriodReferences:
    """The period's references for the active rules: stored with the run, recomputed if the rules changed."""
    active = runtime.current()
    if run["ruleset_digest"] == active.digest:
        return results_store.references_from_json(period, run["summary"]["references"])
    key = (period, active.digest)
    cached = runtime.references_cache.get(key)
    if cached is None:
        with engine.connect() as conn:
            dataset = metrics_store.load_dataset(conn, runtime.registry, period)
        diag = diagnose(dataset, active.ruleset, period)
        cached = period_references(diag.evaluator, period)
        runtime.references_cache[key] = cached
    return cached


def apply_event(runtime: Runtime, engine: Engine, body: object, actor: str, request_id: str | None = None) -> dict:
    """POST /v1/events: store one subject's new values and re-evaluate it at once (durable_rules path).
    A member's new lamp can change its branch's red-member share: the branch is re-evaluated too."""
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object: subject, id, period, values", file="body"))
    problems = []
    for k in body:
        if k not in ("subject", "id", "period", "values"):
            problems.append(Problem(f"unknown field '{k}'", file="body", column=k,
                                    suggestion="fields: subject, id, period, values"))
    subject, sid, period, values = body.get("subject"), body.get("id"), body.get("period"), body.get("values")
    if subject not in ("branch", "member"):
        problems.append(Problem(f"subject must be 'branch' or 'member', got {subject!r}", file="body", column="subject"))
    if not isinstance(sid, str) or not sid:
        problems.append(Problem("id must be a branch or member id", file="body", column="id"))
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        problems.append(Problem(f"bad period {period!r}", file="body", column="period",
                                suggestion="write it as YYYY-MM, e.g. 2025-03"))
    if not isinstance(values, dict) or not values:
        problems.append(Problem("values must be a non-empty object of indicator: value", file="body", column="values"))
    if problems:
        raise InputError(problems)
    try:
        check_rows([{"period": period, **values}], subject, runtime.registry, file="values")
    except InputError as exc:
        raise InputError([Problem(p.message, file="body", column=f"values.{p.column}" if p.column else "values",
                                  suggestion=p.suggestion) for p in exc.problems]) from None
    active = runtime.current()
    with engine.begin() as conn:
        if not metrics_store.known_ids(conn, subject, [sid]):
            raise NotFound(Problem(f"unknown {subject} '{sid}'", file="body", column="id"))
        run = results_store.latest_run(conn, period)
        if run is None:
            raise Conflict(Problem(f"period {period} has not been diagnosed", file="body", column="period",
                                   suggestion="POST /v1/diagnoses first: events are evaluated against the period's "
                                              "district references"))
        frame = pd.DataFrame([{"period": period, KEYS[subject]: sid, **values}])
        metrics_store.upsert_metrics(conn, subject, frame, source="event", actor=actor, request_id=request_id,
                                     partial=True)
        refs = _references(runtime, engine, run, period)
        first = _reevaluate(runtime, conn, active, subject, sid, period, refs, run["id"])
        out = dict(first)
        if subject == "member" and first["changed"]:
            out["branch"] = _reevaluate(runtime, conn, active, "branch", first["branch_id"], period, refs, run["id"])
    return out


def _reevaluate(runtime: Runtime, conn: Connection, active, subject: str, sid: str, period: str,
                refs: PeriodReferences, run_id: int) -> dict:
    previous = results_store.result(conn, period, subject, sid)
    history = metrics_store.subject_history(conn, subject, sid, period)
    if subject == "member":
        branch_id = conn.execute(select(members.c.branch_id).where(members.c.member_id == sid)).scalar()
    else:
        branch_id = sid
    btype = conn.execute(select(branches.c.type).where(branches.c.branch_id == branch_id)).scalar()
    member_values = None
    if subject == "branch":
        share = results_store.red_member_share(conn, period, sid)
        member_values = {period: {"red_member_share": share}} if share is not None else None
    if not any(r["period"] == period for r in history):
        raise Conflict(Problem(f"{subject} '{sid}' has no metrics for {period}", column="period"))
    result = active.subject_engine.evaluate(subject, sid, period, history, refs, branch_type=btype, branch_id=branch_id,
                                            member_values=member_values, validate=False)
    results_store.replace_result(conn, result, run_id)
    before = previous["lamp"] if previous else None
    return {"subject": subject, "id": sid, "branch_id": branch_id, "period": period, "lamp": result.lamp,
            "previous_lamp": before, "changed": before != result.lamp,
            "push": result.lamp == "red" and before != "red",
            "findings": [f.as_dict() for f in result.findings],
            **({"vanguard_points": clean_number(result.vanguard_points)} if subject == "member" else
               {"weaknesses": result.weaknesses})}


# --------------------------------------------------------------------------------------------- prescriptions

def serve_prescriptions(runtime: Runtime, conn: Connection, branch_id: str, period: str, actor: str,
                        source: str = "api") -> dict:
    """POST /v1/prescriptions: rank, log what is shown (order, scores, probabilities), answer."""
    check_period(period)
    stored = results_store.result(conn, period, "branch", branch_id)
    if stored is None:
        raise NotFound(Problem(f"no diagnosis of branch '{branch_id}' for {period}", column="branch_id",
                               suggestion="POST /v1/diagnoses for the period first"))
    active = runtime.current()
    prescriber = runtime.prescriber(active.ruleset)
    if prescriber is None:
        raise Conflict(Problem("the remedy catalog is not loaded", suggestion="see /readyz"))
    street = conn.execute(select(branches.c.street).where(branches.c.branch_id == branch_id)).scalar()
    size = len(results_store.branch_members(conn, period, branch_id))
    history = served_store.history(conn, branch_id, period, DEFAULT_REPEAT_MONTHS)
    choices = prescriber.for_branch(result_from_json(stored), street, history, size)
    items = []
    for c in choices:
        need = {"indicator": c.need.indicator, "value": c.need.value, "reference": c.need.reference,
                "members": c.need.members, "severity": c.need.severity}
        for p in c.prescriptions:
            body = p.as_dict()
            # propensity: the probability with which this list was chosen (its first item's, when the
            # ranker explores; 1 for the deterministic prior). The need is kept to measure the outcome.
            items.append({"topic": p.topic, "rule": p.rule, "resource_id": p.resource_id, "kind": p.resource.kind,
                          "score": float(p.score), "propensity": c.propensity,
                          "body": {**body, "advice_zh": p.advice_zh, "advice_en": p.advice_en, "need": need}})
    list_id, ids = served_store.log_list(conn, branch_id, period, prescriber.ranker.name, source, actor, items)
    return {"branch_id": branch_id, "period": period, "list_id": list_id, "ranker": prescriber.ranker.name,
            "weaknesses": stored.get("weaknesses", []),
            "prescriptions": [{"prescription_id": pid, **{k: v for k, v in item["body"].items()
                                                          if k not in ("advice_zh", "advice_en", "need")}}
                              for pid, item in zip(ids, items, strict=True)]}


def record_feedback(conn: Connection, prescription_id: int, body: object, actor: str) -> dict:
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object: status, note", file="body"))
    problems = []
    status, note = body.get("status"), body.get("note")
    for k in body:
        if k not in ("status", "note"):
            problems.append(Problem(f"unknown field '{k}'", file="body", column=k, suggestion="fields: status, note"))
    if status not in served_store.STATUSES:
        problems.append(Problem(f"status must be one of {', '.join(served_store.STATUSES)}, got {status!r}",
                                file="body", column="status"))
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        problems.append(Problem("note must be text of at most 2,000 characters", file="body", column="note"))
    if problems:
        raise InputError(problems)
    fid = served_store.add_feedback(conn, prescription_id, status, note, actor)
    return {"feedback_id": fid, "prescription_id": prescription_id, "status": status}


# --------------------------------------------------------------------------------------------- reports

def member_report(conn: Connection, member_id: str, period: str) -> dict:
    check_period(period)
    stored = results_store.result(conn, period, "member", member_id)
    if stored is None:
        raise NotFound(Problem(f"no diagnosis of member '{member_id}' for {period}", column="member_id"))
    ranks = results_store.member_ranks(conn, period, member_id, stored["branch_id"], stored.get("vanguard_points"))
    return {**stored, "rank": ranks}


def branch_report_data(runtime: Runtime, conn: Connection, branch_id: str, period: str, actor: str) -> dict:
    """What ``branch_report.document_from`` needs, from the store (the page of a branch's secretary).
    Shows the latest list served for the branch and period, serving (and logging) one if none was."""
    stored = results_store.result(conn, period, "branch", branch_id)
    run = results_store.latest_run(conn, period)
    if stored is None or run is None:
        raise NotFound(Problem(f"no diagnosis of branch '{branch_id}' for {period}", column="period"))
    info_row = conn.execute(select(branches).where(branches.c.branch_id == branch_id)).mappings().first()
    member_objs = [result_from_json(m) for m in results_store.branch_members(conn, period, branch_id)]
    means = run["summary"].get("branch_means", {})
    result = result_from_json(stored)
    order = {topic: k for k, topic in enumerate(result.weaknesses)}
    findings = [{"finding": f, "indicator": runtime.registry.get("branch", f.indicator),
                 "district_mean": means.get(f.indicator)}
                for f in sorted(result.findings, key=lambda f: order.get(f.topic, len(order)))]
    ids = [m.id for m in member_objs]
    categories: dict[str, float | None] = {c: None for c in CATEGORIES}
    if ids:
        cols = sorted({c for _, _, cs in CATEGORIES.values() for c in cs})
        rows = conn.execute(select(*[member_metrics.c[c] for c in cols]).where(
            member_metrics.c.period == period, member_metrics.c.member_id.in_(ids))).all()
        frame = pd.DataFrame(rows, columns=cols).reindex(range(len(ids))) if rows else pd.DataFrame(columns=cols)
        points = runtime.current().ruleset.points
        for cat, (_zh, _en, cs) in CATEGORIES.items():
            pts = sum(np.nan_to_num(frame[c].to_numpy(dtype=float, na_value=np.nan), nan=0.0) * points.get(c, 0.0)
                      for c in cs)
            categories[cat] = float(np.sum(pts)) / len(ids)
    served = served_store.latest_list(conn, branch_id, period)
    if served is None:
        serve_prescriptions(runtime, conn, branch_id, period, actor, source="page")
        served = served_store.latest_list(conn, branch_id, period) or []
    grouped: dict[str, list[dict]] = {}
    for item in served:
        resource = runtime.catalog.get(item["resource_id"]) if runtime.catalog else None
        grouped.setdefault(item["topic"], []).append(
            prescription_view(item, resource, item.get("advice_zh", item["reason_zh"]),
                              item.get("advice_en", item["reason_en"])))
    pts = [m.vanguard_points for m in member_objs if m.vanguard_points is not None]
    ytd = [m.vanguard_points_ytd for m in member_objs if m.vanguard_points_ytd is not None]
    return {
        "result": result, "info": dict(info_row), "members": member_objs, "findings": findings,
        "categories": categories, "avg_points": float(np.mean(pts)) if pts else None,
        "avg_ytd": float(np.mean(ytd)) if ytd else None,
        "district_points": run["summary"].get("member_points_mean"),
        "top": sorted(member_objs, key=lambda m: (-(m.vanguard_points or 0), m.id))[:5],
        "red_members": [m for m in member_objs if m.lamp == "red"],
        "prescriptions": [(t, grouped[t]) for t in result.weaknesses if t in grouped],
    }


# --------------------------------------------------------------------------------------------- rules

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


def dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)
