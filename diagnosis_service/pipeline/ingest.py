"""Metrics in: a data source (``import``) or a JSON period (PUT), validated whole, stored all or nothing.

A row of a PUT body names the fields it changes: an indicator it does not carry keeps its stored value
(send ``null`` to clear one). A CSV row carries every column, so an empty cell clears the value.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from ..data.columnar import ParquetDir
from ..data.csvdir import validate_metrics
from ..data.files import spill_dir
from ..data.model import KEYS, Dataset
from ..data.sources import CsvDir, Source, Streamed
from ..data.text import NAME_LENGTH, STREET_LENGTH, id_problem, is_json_number, json_type, text_problem
from ..data.validate import Problems
from ..errors import InputError, Problem, did_you_mean, unknown_fields
from ..periods import check_period
from ..rules.model import Registry
from ..store import metrics as metrics_store
from ..store import whole_months
from .common import MAX_ROWS, PROFILE, in_transaction


def import_source(engine: Engine, registry: Registry, source: Source, actor: str,
                  progress: Callable[[int, int, str], None] | None = None,
                  checking: Callable[[int, int], None] | None = None, workers: int = 2) -> dict[str, dict[str, int]]:
    """Validate a whole source (e.g. a CSV directory: a bad row anywhere and nothing is written), then
    store it month by month, each month in its own transaction (all of a month or none of it), the
    organisations first. Idempotent: importing again changes nothing, and an import stopped half-way
    is finished by running it again. ``progress(rows done, rows in all, period)`` after each month.

    Memory is a month's, however many months the source holds: a CSV directory is checked a chunk at
    a time, its rows spilled to a temporary directory a file per month (``checking(bytes read, bytes in
    all)`` after each chunk), and stored from there; a columnar dataset (``data convert``) was validated
    when written and is read a month at a time. On PostgreSQL, ``workers`` months are stored at once,
    each in its own transaction."""
    with contextlib.ExitStack() as stack:
        if isinstance(source, ParquetDir):
            orgs = source.load(registry, metrics=())
            described = source.describe()
            total = int(described["rows"]["branch"]) + int(described["rows"]["member"])
            months = _dataset_months(source, registry, described["periods"])
        elif isinstance(source, CsvDir | Streamed):
            if isinstance(source, Streamed):  # checked already (import DIR --dataset OUT)
                spilled = source.spilled
            else:
                workdir = stack.enter_context(spill_dir())
                spilled = source.stream(registry, workdir, progress=checking)
            orgs, total = spilled.orgs, sum(spilled.rows.values())
            months = ((period, spilled.month(period)) for period in spilled.periods)
        else:
            orgs = source.load(registry)
            total = len(orgs.branch_metrics) + len(orgs.member_metrics)
            months = _months(orgs)
        return _store_months(engine, orgs, months, total, actor, progress, workers)


def _store_months(engine: Engine, orgs: Dataset, months: Iterable[tuple[str, list[tuple[str, pd.DataFrame]]]],
                  total: int, actor: str, progress: Callable[[int, int, str], None] | None,
                  workers: int) -> dict[str, dict[str, int]]:
    with engine.begin() as conn:
        out = metrics_store.upsert_profiles(conn, orgs.branches.reset_index().to_dict("records"),
                                            orgs.members.reset_index().to_dict("records"))
    out["branch_metrics"], out["member_metrics"] = metrics_store.Changes(), metrics_store.Changes()
    done = 0

    def stored(period: str, rows: int, changed: list[tuple[str, metrics_store.Changes]]) -> None:
        nonlocal done
        for subject, changes in changed:
            total_of = out[f"{subject}_metrics"]
            total_of.inserted += changes.inserted
            total_of.updated += changes.updated
            total_of.unchanged += changes.unchanged
        done += rows
        if progress is not None:
            progress(done, total, period)

    # One transaction a month, holding the write lock from its start (SQLite's BEGIN IMMEDIATE): a
    # writer of the same month in between the check for its rows and its block would leave a block
    # without that writer's rows.
    if workers < 2 or engine.dialect.name != "postgresql":  # SQLite has one writer at a time
        for period, frames in months:
            stored(period, sum(len(f) for _, f in frames),
                   in_transaction(engine, functools.partial(_store_month, frames=frames, period=period, actor=actor)))
        return {k: v.as_dict() for k, v in out.items()}
    # PostgreSQL: months in parallel transactions, each on its own connection (the server checks each
    # row's foreign key and index on its own core), while the next month is read. A month that fails
    # stops the submitting; the months under way finish (each all or nothing), then the error is raised.
    pending: dict[Future, tuple[str, int]] = {}
    queue = iter(months)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import") as pool:

        def submit() -> None:
            month = next(queue, None)
            if month is not None:
                period, frames = month
                step = functools.partial(_store_month, frames=frames, period=period, actor=actor)
                pending[pool.submit(in_transaction, engine, step)] = (period, sum(len(f) for _, f in frames))

        for _ in range(workers):
            submit()
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: pending[f][0]):
                period, rows = pending.pop(future)
                stored(period, rows, future.result())
                submit()
    return {k: v.as_dict() for k, v in out.items()}


def _store_month(conn: Connection, frames: list[tuple[str, pd.DataFrame]], period: str,
                 actor: str) -> list[tuple[str, metrics_store.Changes]]:
    """A month's rows of each subject: written at once when the store has none of the month yet,
    recognised as unchanged, or else compared row by row with its corrections recorded."""
    done_here = []
    for subject, frame in frames:
        columns = [c for c in frame.columns if c not in ("pidx", "period", KEYS[subject])]
        ids, values = frame[KEYS[subject]].tolist(), frame[columns].to_numpy(dtype=float)
        changes = whole_months.insert_month(conn, subject, period, ids, columns, values)
        if changes is None and whole_months.month_unchanged(conn, subject, period, ids, columns, values):
            changes = metrics_store.Changes(unchanged=len(frame))  # imported before: nothing to do
        elif changes is None:  # the month is stored already: compared with it, corrections recorded
            changes = whole_months.correct_month(conn, subject, period, ids, columns, values, source="import",
                                                  actor=actor)
        done_here.append((subject, changes))
    return done_here


def _dataset_months(source: ParquetDir, registry: Registry, periods: list[str]):
    """(period, [(subject, that month's rows)]) read from the dataset one month at a time."""
    for period in periods:
        month = source.load(registry, period, months=1, organisations=False)
        yield period, [(s, f) for s, f in (("branch", month.branch_metrics), ("member", month.member_metrics))
                       if len(f)]


def _months(dataset: Dataset):
    """(period, [(subject, that month's rows)]) in period order; a month's rows are a slice, not a copy
    of the whole (the memory an import needs is a month's records, not the district's)."""
    by = {s: dataset.metrics(s) for s in ("branch", "member")}
    by = {s: f if f["pidx"].is_monotonic_increasing else f.sort_values("pidx", kind="stable") for s, f in by.items()}
    periods = sorted(set(by["branch"]["period"]) | set(by["member"]["period"]))
    bounds = {s: _bounds(f) for s, f in by.items()}
    for period in periods:
        yield period, [(s, by[s].iloc[bounds[s][period][0]:bounds[s][period][1]]) for s in ("branch", "member")
                       if period in bounds[s]]


def _bounds(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """period -> (first row, row after the last) in a frame sorted by period."""
    periods = frame["period"].to_numpy()
    out: dict[str, tuple[int, int]] = {}
    start = 0
    for i in range(1, len(periods) + 1):
        if i == len(periods) or periods[i] != periods[start]:
            out[str(periods[start])] = (start, i)
            start = i
    return out


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.drop(columns="pidx").to_dict("records")


def store_dataset(conn: Connection, dataset: Dataset, actor: str, source: str = "import") -> dict:
    """Every organisation and metric row of a validated dataset, in the caller's transaction."""
    out = metrics_store.upsert_profiles(conn, dataset.branches.reset_index().to_dict("records"),
                                        dataset.members.reset_index().to_dict("records"))
    for subject, name in (("branch", "branch_metrics"), ("member", "member_metrics")):
        frame = dataset.metrics(subject)
        out[name] = metrics_store.upsert_metrics(conn, subject, _records(frame), source=source, actor=actor)
    return out


def ingest_period(conn: Connection, registry: Registry, period: str, body: object, actor: str,
                  request_id: str | None = None) -> dict:
    """PUT /v1/periods/{period}/metrics: validate every row first; store all or nothing."""
    check_period(period, "period")
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object with 'branches' and/or 'members'", field=()))
    problems = Problems()
    for problem in unknown_fields(body, ("branches", "members")):
        problems.add(problem)
    if "branches" not in body and "members" not in body:
        problems.add(Problem("nothing to store: give 'branches' and/or 'members'", field=()))
    rows_of, profiles = {}, {}
    for subject, field in (("branch", "branches"), ("member", "members")):
        rows = body.get(field)
        if rows is None:
            continue
        if not isinstance(rows, list):
            problems.add(Problem(f"'{field}' must be a list of rows", field=(field,)))
            continue
        if len(rows) > MAX_ROWS:
            problems.add(Problem(f"{len(rows)} rows; at most {MAX_ROWS} per request", field=(field,)))
            continue
        new_branches = {r["branch_id"] for r in profiles.get("branch") or []}
        rows_of[subject], profiles[subject] = _rows(conn, subject, field, rows, period, registry, problems,
                                                    new_branches)
    if problems:
        raise InputError(problems.final())
    changed = metrics_store.upsert_profiles(conn, profiles.get("branch"), profiles.get("member"))
    out: dict[str, dict] = {}
    for subject, records in rows_of.items():
        if records:
            out[subject] = metrics_store.upsert_metrics(conn, subject, records, source="api", actor=actor,
                                                        request_id=request_id).as_dict()
    return {"period": period, "branches": out.get("branch"), "members": out.get("member"),
            "profiles": {k: v.as_dict() for k, v in changed.items()}}


def _rows(conn: Connection, subject: str, field: str, rows: list, period: str, registry: Registry,
          problems: Problems, new_branches: set[str]) -> tuple[list[dict], list[dict]]:
    """(metric records, profile records) of one list of rows; their problems go to ``problems``."""
    key = KEYS[subject]
    profile_cols = PROFILE[subject]
    records: list[dict] = []
    seen: set[str] = set()
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.add(Problem("a row must be an object", field=(field, n)))
            records.append({})
            continue
        rid = row.get(key)
        bad_id = id_problem(rid)
        if bad_id:
            problems.add(Problem(f"{key} {bad_id}", field=(field, n, key)))
            records.append({})
            continue
        if rid in seen:
            problems.add(Problem(f"duplicate row for {key} '{rid}'", field=(field, n, key),
                                 suggestion="one row per subject and period"))
            records.append({})
            continue
        seen.add(rid)
        if "period" in row and row["period"] != period:
            problems.add(Problem(f"row period {row['period']!r} differs from the period in the path ({period})"[:300],
                                 field=(field, n, "period")))
        records.append(row)
    known = metrics_store.known_ids(conn, subject, [r[key] for r in records if r])
    profile_rows = _profiles(subject, field, records, known, registry, problems)
    metric_rows = [(n, {k: v for k, v in r.items() if k not in profile_cols and k not in ("period", key)})
                   for n, r in enumerate(records) if r]
    known_indicators = {i.id for i in registry.reported(subject)}
    for n, values in metric_rows:
        for name, value in values.items():
            if not is_json_number(value) and name in known_indicators:  # an unknown name is said as such below
                problems.add(Problem(f"{name} must be a number or null, got {json_type(value)}",
                                     field=(field, n, name), suggestion="send 1, not \"1\"; null for a missing value"))
                values[name] = None  # said once: not again as a bad number (the request is refused whole)
    # A row with no indicator still says the organisation has a row this month: a new one is stored
    # with every value missing; a stored one keeps its values.
    metrics = [{"period": period, key: records[n][key]} for n, values in metric_rows if not values]
    with_values = [(n, values) for n, values in metric_rows if values]
    if with_values:
        metrics += _checked_metrics(subject, field, period, records, with_values, registry, problems)
    if subject == "member" and profile_rows:
        owners = {r["branch_id"] for _, r in profile_rows if isinstance(r["branch_id"], str)}
        missing = owners - metrics_store.known_ids(conn, "branch", owners) - new_branches
        for n, r in profile_rows:
            if r["branch_id"] in missing:
                problems.add(Problem(f"unknown branch '{r['branch_id']}'", field=(field, n, "branch_id"),
                                     suggestion="register the branch first (in 'branches' of this or an earlier "
                                                "request)"))
    return metrics, [r for _, r in profile_rows]


def _profiles(subject: str, field: str, records: list[dict], known: set[str], registry: Registry,
              problems: Problems) -> list[tuple[int, dict]]:
    """The profile part of rows that carry one, or that name an organisation the store does not know."""
    key = KEYS[subject]
    cols = PROFILE[subject]
    out = []
    for n, r in enumerate(records):
        given = {c: r[c] for c in cols if c in r}
        rid = r.get(key)
        if not given and (not isinstance(rid, str) or rid in known):
            continue
        missing = [c for c in cols if c not in given and c != "street"]
        if missing and rid not in known:
            problems.add(Problem(f"unknown {subject} '{rid}': give {', '.join(missing)} to register it",
                                 field=(field, n, missing[0])))
            continue
        if missing:  # a known one's change: its profile is replaced whole, so what is left out is not kept
            problems.add(Problem(f"{subject} '{rid}': a change of its {', '.join(c for c in cols if c != 'street')} "
                                 f"is sent whole; {', '.join(missing)} left out", field=(field, n, missing[0]),
                                 suggestion=f"send {', '.join(missing)} too, with their current values where they "
                                            "do not change"))
            continue
        profile = {key: rid, **{c: "" if given.get(c) is None and c == "street" else given.get(c, "") for c in cols}}
        bad = {c: _profile_problem(c, v) for c, v in profile.items() if c != key}
        for c, problem in bad.items():
            if problem:
                problems.add(Problem(f"'{c}' {problem}", field=(field, n, c)))
        if any(bad.values()):
            continue
        if subject == "branch" and profile.get("type") not in registry.branch_types:
            problems.add(Problem(f"unknown branch type {profile.get('type')!r}"[:200], field=(field, n, "type"),
                                 suggestion=did_you_mean(str(profile.get("type")), registry.branch_types)
                                 or "types: " + ", ".join(registry.branch_types)))
        out.append((n, profile))
    return out


def _profile_problem(column: str, value: object) -> str | None:
    if column == "branch_id":
        return id_problem(value)
    if column != "street" and (not isinstance(value, str) or not value.strip()):
        return "must be non-empty text"
    return text_problem(value, STREET_LENGTH if column == "street" else NAME_LENGTH)


def _checked_metrics(subject: str, field: str, period: str, records: list[dict], rows: list[tuple[int, dict]],
                     registry: Registry, problems: Problems) -> list[dict]:
    """Validate the indicator values of ``rows`` ((index in the request, values)) as a table, then give
    back, per row, only the indicators it carried, as numbers."""
    key = KEYS[subject]
    reported = [i.id for i in registry.reported(subject)]
    frame = pd.DataFrame([{"period": period, key: records[n][key], **values} for n, values in rows])
    for name in reported:
        if name not in frame:
            frame[name] = None
    ordered = frame[["period", key] + [c for c in frame.columns if c not in ("period", key)]]
    local = Problems()
    clean = validate_metrics(ordered, subject, registry, field, lambda pos: (field, rows[pos][0]), local, None)
    for p in local.items:
        # validate_metrics locates header problems (unknown or derived columns) on line 1 of a file;
        # for JSON rows, the first row that carries the column is the place.
        at, message = p.line, p.message
        if p.line == 1 and ("unknown column" in p.message or "derived" in p.message):
            at = next((n for n, values in rows if p.column in values), rows[0][0])
            if "unknown column" in p.message:  # a field of a JSON row, not a column of a file
                message = f"unknown {subject} indicator '{p.column}'"
        parts = (field, at, p.column) if p.column is not None else (field, at)
        problems.add(Problem(message, rule_id=p.rule_id, suggestion=p.suggestion, field=parts))
    if local.dropped:
        problems.dropped += local.dropped
    if clean is None or local:
        return []
    # The table is sorted by (period, id) and ids are unique in a period: map back by id. Columns as
    # plain lists: a cell lookup in a frame costs microseconds, and a district month has a million cells.
    by_id = {rid: i for i, rid in enumerate(clean[key])}
    columns = {c: clean[c].tolist() for c in clean.columns if c not in ("pidx", "period", key)}
    out = []
    for n, values in rows:
        i = by_id[records[n][key]]
        out.append({"period": period, key: records[n][key], **{c: columns[c][i] for c in values}})
    return out


__all__ = ["import_source", "ingest_period", "store_dataset"]
