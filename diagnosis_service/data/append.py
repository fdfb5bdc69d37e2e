"""Keeping a columnar dataset up to date: the months a data directory has and the dataset does not yet,
written as new files (``data append``, ``import --dataset``).

Appending a month writes that month's folders (a file per street) and, for the streets whose branches
or members changed, their organisation files; nothing else is touched. The months both hold must be
the same, value for value: a correction to an earlier month is refused ("convert again"), as is a
branch that moved to another street (its earlier rows are in its old street's files). The new files
are written beside the dataset and renamed into it, and ``_dataset.json`` is replaced last: a reader
sees the months it lists, so it sees the old dataset or the new one, never a month in part (the
streets' organisation files are swapped just before it and put back if the append stops there).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from ..errors import InputError, Problem
from ..rules.model import Registry
from .carried import stale_dropped
from .columnar import (
    MARKER,
    ParquetDir,
    _street,
    description_text,
    inventory,
    street_file,
    write_street_metrics,
    write_street_orgs,
)
from .files import one_writer, temp_dir
from .model import KEYS, Dataset
from .months import InMemoryMonths, Months

ORGS = {"branches": ("branch_id", ["branch_id", "name", "type", "street"]),
        "members": ("member_id", ["member_id", "branch_id", "name"])}


def append_months(dataset: Dataset | Months, out: Path, registry: Registry) -> dict:
    """Add to the dataset at ``out`` the months of ``dataset`` (in memory, or read a month at a time:
    ``months.Months``) it does not hold. Memory is the organisations and a month of each side. Returns
    ``{"added": [...], "checked": [...], "streets_rewritten": n, "description": {...}}``. One writer at a
    time (``files.one_writer``)."""
    with one_writer(Path(out), "data append", MARKER):
        return _append(dataset, Path(out), registry)


def _append(dataset: Dataset | Months, out: Path, registry: Registry) -> dict:
    months = InMemoryMonths(dataset) if isinstance(dataset, Dataset) else dataset
    dataset = months.orgs
    source = ParquetDir(out)
    description = source.describe()
    have = set(description["periods"])
    added = [p for p in months.periods if p not in have]
    checked = [p for p in months.periods if p in have]
    stored = source.load(registry, metrics=())  # the organisations; the months both hold are compared one by one
    problems = _differences(months, source, registry, stored, checked, description, out)
    if problems:
        raise InputError(problems)

    streets = list(description["streets"])
    counts = list(description.get("street_members", [0] * len(streets)))
    branches = dataset.branches.reset_index()[ORGS["branches"][1]]
    members = dataset.members.reset_index()[ORGS["members"][1]]
    for name in sorted({_street(s) for s in branches["street"]} - set(streets)):
        streets.append(name)
        counts.append(0)
    index = {name: i for i, name in enumerate(streets)}
    street_of = pd.Series([street_file(index[_street(s)]) for s in branches["street"]], index=branches["branch_id"])
    member_street = members["branch_id"].map(street_of)
    changed = _changed_streets(stored, branches, members, street_of, member_street)

    tmp = temp_dir(out / "append", mode=None)  # inside the dataset: its files are renamed into place
    try:
        for f in sorted(changed):
            counts[int(f[1:])] = write_street_orgs(tmp, f, branches, members, street_of, member_street)
        rows = dict(description["rows"])
        for period in added:
            for subject, frame in months.month(period):
                rows[subject] += int(len(frame))
                write_street_metrics(tmp, subject, frame, description["columns"][subject], street_of, member_street,
                                     members)
        # Into place: the new months' folders (left over by an append that stopped: replaced), the changed
        # streets' organisation files, then the description that makes them part of the dataset.
        for subject in ("branch", "member"):
            for folder in sorted((tmp / f"{subject}_metrics").glob("*")):
                target = out / f"{subject}_metrics" / folder.name
                shutil.rmtree(target, ignore_errors=True)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(folder, target)
        description = {**description, "periods": sorted(have | set(added)), "streets": streets,
                       "street_members": counts, "rows": rows, "branches": int(len(branches)),
                       "members": int(len(members)),
                       # what the dataset holds once the changed streets' rosters are in place too
                       "files": inventory(out, tmp, carry_set=(description.get("carry") or {}).get("set"))}
        description = stale_dropped(description, added)  # a month filled in before kept values changes them
        marker = tmp / MARKER
        marker.write_text(description_text(description), encoding="utf-8")
        # The changed streets' rosters are read with the months already held (size bands, member-based
        # indicators): until the description is replaced, the old files are kept, and put back if the
        # append stops before it.
        kept: list[tuple[Path | None, Path]] = []
        try:
            for kind in ORGS:
                for file in sorted((tmp / kind).glob("*.parquet")):
                    (out / kind).mkdir(parents=True, exist_ok=True)
                    target = out / kind / file.name
                    if target.exists():
                        backup = tmp / f"old-{kind}-{file.name}"
                        os.replace(target, backup)
                        kept.append((backup, target))
                    else:
                        kept.append((None, target))
                    os.replace(file, target)
            os.replace(marker, out / MARKER)
        except BaseException:
            for backup, target in reversed(kept):
                if backup is None:
                    target.unlink(missing_ok=True)
                else:
                    os.replace(backup, target)
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"added": added, "checked": checked, "streets_rewritten": len(changed), "description": description}


def _differences(months: Months, source: ParquetDir, registry: Registry, stored: Dataset, checked: list[str],
                 description: dict, out: Path) -> list[Problem]:
    """What the data directory says otherwise than the dataset, for what both hold (the months a month at
    a time)."""
    problems = []
    marker = str(out / MARKER)
    columns = months.columns()
    for subject in ("branch", "member"):
        if columns[subject] != description["columns"][subject]:
            problems.append(Problem(f"the {subject} indicator columns differ from the dataset's", file=marker,
                                    suggestion="convert the data again: diagnosis-service data convert DIR OUT"))
    if problems:
        return problems
    differ: dict[str, tuple[str, str]] = {}
    for period in checked:
        ours = dict(months.month(period))
        theirs = source.load(registry, period, months=1, organisations=False)
        for subject in ("branch", "member"):
            if subject in differ:
                continue
            mine = ours.get(subject)
            held = theirs.metrics(subject)
            held = held[held["period"] == period].reset_index(drop=True)
            if mine is None:
                mine = held.iloc[:0]
            if not mine.reset_index(drop=True).equals(held[list(mine.columns)]):
                differ[subject] = (period, _first_difference(mine, held, KEYS[subject]))
    dataset = months.orgs
    for subject, (month, where) in differ.items():
        problems.append(Problem(f"{subject} metrics of {month} differ from the dataset's (a correction?){where}",
                                file=f"{subject}_metrics.csv",
                                suggestion="only new months are appended; to correct a month, convert the data "
                                           "again: diagnosis-service data convert DIR OUT"))
    # Every organisation's earlier rows are filed under its street: it must stay there, and stay listed.
    old_street = stored.branches["street"].map(_street)
    new_street = dataset.branches["street"].map(_street)
    for kind, ids, before, after in (
            ("branch", stored.branches.index, old_street, new_street),
            ("member", stored.members.index, stored.members["branch_id"].map(old_street),
             dataset.members["branch_id"].map(new_street))):
        gone = ids.difference(after.index)
        if len(gone):
            problems.append(Problem(f"{kind} {gone[0]} is in the dataset but not in the data directory "
                                    f"({len(gone)} such)", file=f"{kind}es.csv" if kind == "branch" else "members.csv",
                                    suggestion="an append keeps every organisation: convert the data again"))
            continue
        moved = before.reindex(after.index)
        bad = moved.notna() & (moved != after)
        if bad.any():
            i = bad[bad].index[0]
            column = "street" if kind == "branch" else "branch_id"
            problems.append(Problem(f"{kind} {i} moved from street {moved[i]!r} to {after[i]!r} (column {column})",
                                    file="branches.csv" if kind == "branch" else "members.csv",
                                    suggestion="its earlier months are filed under its old street: convert the "
                                               "data again"))
    return problems


def _first_difference(mine: pd.DataFrame, held: pd.DataFrame, key: str) -> str:
    """Where a month here first differs from the dataset's (an id, or an id's indicator and both values)
    and how much more does, as the end of a sentence; empty when no value differs (only types or the
    order of rows)."""
    ours = mine.set_index(key)
    theirs = held[list(mine.columns)].set_index(key)
    if ours.index.has_duplicates or theirs.index.has_duplicates:  # validated away before: said, not raised
        return ""
    for ids, said in ((ours.index.difference(theirs.index), "is not in the dataset's month"),
                      (theirs.index.difference(ours.index), "is in the dataset's month but not here")):
        if len(ids):
            return f": {ids[0]} {said}" + (f" ({len(ids):,} such)" if len(ids) > 1 else "")
    theirs = theirs.reindex(ours.index)
    first, cells = None, 0
    for column in ours.columns:
        a, b = ours[column], theirs[column]
        differs = ~((a == b) | (a.isna() & b.isna()))
        if differs.any():
            cells += int(differs.sum())
            if first is None:
                i = differs[differs].index[0]
                first = f": {i} {column} is {_value(a[i])} here, {_value(b[i])} in the dataset"
    if first is None:
        return ""
    return first + (f" ({cells:,} cells differ)" if cells > 1 else "")


def _value(v: object) -> str:
    """A cell as written back (every digit: a correction may be in the twelfth)."""
    return "empty" if pd.isna(v) else repr(float(v)).removesuffix(".0") if isinstance(v, float) else str(v)


def _changed_streets(stored: Dataset, branches: pd.DataFrame, members: pd.DataFrame, street_of: pd.Series,
                     member_street: pd.Series) -> set[str]:
    """The street files whose branches or members differ from the dataset's (new ones included)."""
    out = set()
    for kind, frame, where in (("branches", branches, street_of.to_numpy()),
                               ("members", members, member_street.to_numpy())):
        key, cols = ORGS[kind]
        old = getattr(stored, kind).reset_index()[cols]
        merged = frame.assign(_f=where).merge(old, on=key, how="left", suffixes=("", "_old"), indicator=True)
        diff = merged["_merge"] != "both"
        for c in cols[1:]:
            diff |= merged[c].astype(str) != merged[f"{c}_old"].astype(str)
        out |= set(merged.loc[diff, "_f"])
    return out


__all__ = ["append_months"]
