"""Keeping, with each month of a columnar dataset, the derived indicators that look back (``data carry``):
a diagnosis of that month then reads the month and the kept values instead of the history they add up.

The values are the ones a diagnosis of the month computes, by the same code (``engine.derive``) over the
same months (the ``HISTORY_MONTHS`` up to it), so the output is the same byte for byte with them or
without. ``data convert``, ``data append``, ``import --dataset`` and ``simulate --scale`` call it after
writing; a rule set whose derivations differ from those the values were kept under (their fingerprints,
``engine.lookback.fingerprint``) reads the history instead, until ``data carry --rules`` keeps its own.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.carried import FOLDER, folder, set_id, write_month
from ..data.columnar import MARKER, ParquetDir, description_text, inventory, street_file
from ..data.files import one_writer, write_atomic
from ..data.model import KEYS
from ..data.sources import HISTORY_MONTHS
from ..engine.derive import derive_own
from ..engine.lookback import carry_plan, lookback_columns
from ..periods import parse_period
from ..rules.model import RuleSet


@dataclass
class Kept:
    """What ``keep_derived`` did: the set's name, the months computed now, and those held already."""

    set: str | None
    computed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    indicators: dict[str, list[str]] = field(default_factory=dict)


def keep_derived(directory: Path, ruleset: RuleSet, progress: Callable[[int, int], None] | None = None) -> Kept:
    """Compute and keep, for every month of the dataset at ``directory`` that lacks them under ``ruleset``,
    the derived indicators ``engine.lookback.carry_plan`` names; a street at a time (memory is a street's
    history of the columns they are computed from). ``progress(streets done, streets)``. One writer at a
    time (``files.one_writer``)."""
    with one_writer(Path(directory), "data carry", MARKER):
        return _keep(Path(directory), ruleset, progress)


def _keep(directory: Path, ruleset: RuleSet, progress: Callable[[int, int], None] | None) -> Kept:
    plan = carry_plan(ruleset)
    source = ParquetDir(directory)
    description = source.describe()
    if plan is None:
        return Kept(None)
    fingerprints = {s: dict(sorted(v.items())) for s, v in sorted(plan.fingerprints.items())}
    indicators = {s: plan.indicators(s) for s in ("branch", "member") if plan.indicators(s)}
    periods = description["periods"]
    held = description.get("carry") or {}
    name = held.get("set") if held.get("fingerprints") == fingerprints else None
    done = set(held.get("periods", [])) if name else set()
    todo = [p for p in periods if p not in done]
    if not todo:
        return Kept(name, [], sorted(done), indicators)
    if name and any((directory / folder(name, s) / p).exists() for s in indicators for p in todo):
        name = None  # months gone stale are computed again, but never over files a reader may be reading
    if name is None:  # a new set, every month
        name, done, todo = _new_set(directory, fingerprints), set(), list(periods)
    first = parse_period(periods[0])
    # The months the values of ``todo`` are computed over: from HISTORY_MONTHS before the first of them.
    since, last = max(first, parse_period(todo[0]) - HISTORY_MONTHS + 1), parse_period(todo[-1])
    plain = lookback_columns(ruleset)  # every input of every kept indicator, in every month
    streets = source.partitions()
    for number, (index, _members) in enumerate(streets, start=1):
        part = source.load(ruleset.registry, todo[-1], months=last - since + 1, streets=[index],
                           organisations=False, lookback=plain)
        for subject, names in indicators.items():
            _keep_street(directory, name, subject, part.metrics(subject), names, todo, first, ruleset,
                         street_file(index))
        if progress is not None:
            progress(number, len(streets))
    # The months computed join the description last: a reader sees them whole or not at all.
    description = ParquetDir(directory).describe()
    old = description.get("carry") or {}
    before = set(old.get("periods", [])) if old.get("set") == name else set()
    description["carry"] = {"set": name, "fingerprints": fingerprints,
                            "periods": sorted((before | set(todo)) & set(description["periods"]))}
    description["files"] = inventory(directory, carry_set=name)
    write_atomic(directory / MARKER, [description_text(description)])
    # The set held before stays for a reader that read the description before this one; older ones go.
    for other in sorted((directory / FOLDER).iterdir()) if (directory / FOLDER).is_dir() else []:
        if other.name not in (name, old.get("set")):
            shutil.rmtree(other, ignore_errors=True)
    return Kept(name, todo, sorted(done), indicators)


def _new_set(directory: Path, fingerprints: dict) -> str:
    """A folder name for a new set of kept values: the fingerprints' digest and a generation not used yet."""
    base = set_id(fingerprints)
    there = {p.name for p in (directory / FOLDER).iterdir()} if (directory / FOLDER).is_dir() else set()
    generation = 1
    while f"{base}.{generation}" in there:
        generation += 1
    return f"{base}.{generation}"


def _keep_street(directory: Path, name: str, subject: str, frame, names: list[str], todo: list[str], first: int,
                 ruleset: RuleSet, street: str) -> None:
    """One street's kept values of one subject, for the months ``todo`` (``frame``: its rows of every month,
    sorted by month and id)."""
    key = KEYS[subject]
    pidx = frame["pidx"].to_numpy()
    ids = frame[key].to_numpy(dtype=object)
    whole = None
    for period in todo:
        month = parse_period(period)
        lo = month - HISTORY_MONTHS + 1
        if lo <= first:
            # Derivations read only earlier rows: over all the months, a month's values are those over the
            # months a diagnosis of it reads, when those begin with the data.
            if whole is None:
                derived = derive_own(frame, subject, ruleset)
                whole = {n: derived[n].to_numpy() for n in names}
            at = slice(*np.searchsorted(pidx, [month, month + 1]))
            values = {n: whole[n][at] for n in names}
        else:
            start, end = np.searchsorted(pidx, [lo, month + 1])
            window = derive_own(frame.iloc[start:end], subject, ruleset)
            at = slice(*np.searchsorted(pidx[start:end], [month, month + 1]))
            values = {n: window[n].to_numpy()[at] for n in names}
            at = slice(start + at.start, start + at.stop)
        if at.stop > at.start:
            write_month(directory, name, subject, period, street, key, ids[at], values)


def describe(kept: Kept, lang: str = "en") -> str:
    """One line for the command line (``lang``: zh or en)."""
    if kept.set is None:
        return ("这些规则不保存派生指标（没有回看的指标，或每个都要用到更早的月份）" if lang == "zh" else
                "the rules keep no derived indicator (none looks back, or every one is needed in earlier months)")
    names = ", ".join(i for s in sorted(kept.indicators) for i in kept.indicators[s])
    if lang == "zh":
        return (f"已为 {len(kept.computed)} 个月保存 {names}" + (f"，{len(kept.held)} 个月已有" if kept.held else ""))
    return (f"kept {names} for {len(kept.computed)} month(s) now"
            + (f", {len(kept.held)} held already" if kept.held else ""))


__all__ = ["Kept", "describe", "keep_derived"]
