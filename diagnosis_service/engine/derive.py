"""Derived indicators that depend only on a subject's own rows (sums, runs, points, year to date).

Indicators derived from the members of a branch (red_member_share, avg_vanguard_points) need the
members' lamps, so the evaluator computes those per period; see ``member_aggregates``.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection

import numpy as np
import pandas as pd

from ..data.model import KEYS
from ..rules.model import OP_ALIASES, Indicator, RuleSet

MEMBER_BASED = ("member_share", "member_mean")
# The version of what the derivations compute: raise it when a run, window or year-to-date sum is computed
# differently, and values a dataset kept under the old code (``data carry``) are computed again.
DERIVATIONS_VERSION = 1

_CMP = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal,
}


def derivation_order(ruleset: RuleSet, subject: str) -> list[Indicator]:
    """Derived indicators of a subject in an order where each comes after what it uses."""
    derived = {i.id: i for i in ruleset.registry.derived(subject)}
    done: list[Indicator] = []
    seen: set[str] = set()

    def needs(ind: Indicator) -> list[str]:
        kind, arg = next(iter(ind.derived.items()))
        if kind == "sum":
            return list(arg)
        if kind == "run":
            return [arg["indicator"]]
        if kind == "year_to_date":
            return [arg]
        if kind in ("window", "per_members"):
            return [arg["indicator"]]
        if kind == "points":
            return list(ruleset.points)
        return []

    def visit(ind: Indicator, stack: tuple[str, ...]) -> None:
        if ind.id in seen:
            return
        if ind.id in stack:
            raise ValueError(f"derived indicators form a cycle: {' -> '.join(stack + (ind.id,))}")
        for dep in needs(ind):
            if dep in derived:
                visit(derived[dep], stack + (ind.id,))
        seen.add(ind.id)
        done.append(ind)

    for ind in derived.values():
        visit(ind, ())
    return done


def derive_own(frame: pd.DataFrame, subject: str, ruleset: RuleSet, roll: pd.Series | None = None,
               carried: Collection[str] = ()) -> pd.DataFrame:
    """Add the derived columns that need only the subject's own rows. ``frame`` is sorted by (pidx, key).
    ``roll``: branch id -> members on its roll, for ``per_members`` (missing without it). ``carried``:
    derived indicators the frame holds already (``Dataset.carried``), used as they are.

    Columns are computed as numpy arrays and joined to the frame once: on a one-subject table (the
    event path) each pandas column operation costs more than the arithmetic.
    """
    key = KEYS[subject]
    columns: dict[str, np.ndarray] = {}

    def col(name: str) -> np.ndarray:
        if name not in columns:
            columns[name] = frame[name].to_numpy(dtype=float)
        return columns[name]

    new: dict[str, np.ndarray] = {}
    # Runs and year-to-date sums walk each subject's months in order.
    # By integer codes: a lexsort (and the != below) on a million id strings costs a second.
    codes = pd.factorize(frame[key], sort=False)[0]
    order = np.lexsort((frame["pidx"].to_numpy(), codes))
    ids = codes[order]
    pidx = frame["pidx"].to_numpy()[order]
    new_seg = np.ones(len(order), dtype=bool)
    if len(order):
        new_seg[1:] = (ids[1:] != ids[:-1]) | (pidx[1:] != pidx[:-1] + 1)
    for ind in derivation_order(ruleset, subject):
        kind, arg = next(iter(ind.derived.items()))
        if kind in MEMBER_BASED:
            continue
        if ind.id in carried:
            continue
        if kind == "sum":
            values = np.zeros(len(frame))
            for name in arg:
                values = values + col(name)  # NaN if any part is missing
        elif kind == "points":
            values = np.zeros(len(frame))
            for name, weight in ruleset.points.items():
                values = values + np.nan_to_num(col(name), nan=0.0) * weight
        elif kind == "run":
            src = col(arg["indicator"])[order]
            op = OP_ALIASES[arg["op"]]
            with np.errstate(invalid="ignore"):
                cond = _CMP[op](src, float(arg["value"])) & ~np.isnan(src)
            values = _scatter(order, run_lengths(cond, new_seg, np.isnan(src)))
        elif kind == "per_members":
            # Per ``per`` members on the roll: a count a 5-member branch can match a 60-member one on.
            size = (np.full(len(frame), np.nan) if roll is None else
                    frame[key].map(roll).to_numpy(dtype=float, na_value=np.nan))
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.where(size > 0, col(arg["indicator"]) / size * float(arg["per"]), np.nan)
        elif kind in ("day_of_month", "days_left_in_month"):
            # A month's data describes the month as closed: its last day, none left. An event may say
            # it was recorded on an earlier day (the single-subject path).
            if kind == "day_of_month":
                months, where = np.unique(frame["pidx"].to_numpy(), return_inverse=True)
                values = np.array([month_days(int(p)) for p in months], dtype=float)[where]
            else:
                values = np.zeros(len(frame))
        elif kind == "remaining_months":
            values = (WINDOW_MONTHS[arg] - 1 - frame["pidx"].to_numpy() % WINDOW_MONTHS[arg]).astype(float)
        elif kind == "window":
            values = _scatter(order, window_values(col(arg["indicator"])[order], ids, pidx, arg["period"], arg["agg"]))
        else:  # year_to_date
            src = np.nan_to_num(col(arg)[order], nan=0.0)
            year = pidx // 12
            seg = np.ones(len(order), dtype=bool)
            if len(order):
                seg[1:] = (ids[1:] != ids[:-1]) | (year[1:] != year[:-1])
            values = _scatter(order, running_sum(src, seg))
        columns[ind.id] = new[ind.id] = values
    if not new:
        return frame.copy(deep=False)
    return pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)


WINDOW_MONTHS = {"quarter": 3, "year": 12}


def month_days(pidx: int) -> int:
    """The days of the month with index ``pidx`` (year * 12 + month - 1)."""
    return calendar.monthrange(pidx // 12, pidx % 12 + 1)[1]


def window_values(src: np.ndarray, ids: np.ndarray, pidx: np.ndarray, period: str, agg: str) -> np.ndarray:
    """The calendar window so far (quarter or year, up to and with each row's month) aggregated, for rows
    sorted by (subject, month). Missing (NaN) from the first month of the window without a row or without
    a value on: a gap is reported as missing, never counted as zero."""
    n = len(src)
    size = WINDOW_MONTHS[period]
    window = pidx // size
    seg = np.ones(n, dtype=bool)
    if n:
        seg[1:] = (ids[1:] != ids[:-1]) | (window[1:] != window[:-1])
    # A row is bad when its window started before the data did, when the month before it is missing, or
    # when its own value is missing; from a bad row on, the rest of its window is missing too.
    prev_ok = np.zeros(n, dtype=bool)
    if n:
        prev_ok[1:] = pidx[1:] == pidx[:-1] + 1
    bad = np.where(seg, pidx % size != 0, ~prev_ok) | np.isnan(src)
    seg_id = np.cumsum(seg)
    bad_so_far = _segment_cumsum(bad.astype(float), seg) > 0 if n else bad
    clean = np.nan_to_num(src, nan=0.0)
    if agg == "sum":
        values = running_sum(clean, seg)
    elif agg == "count_nonzero":
        values = running_sum((clean != 0).astype(float), seg)
    else:  # max
        values = pd.Series(clean).groupby(seg_id).cummax().to_numpy(dtype=float) if n else clean
    return np.where(bad_so_far, np.nan, values)


def run_lengths(cond: np.ndarray, new_seg: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Length of the run of True ending at each row; a row with a gap before it starts afresh.

    A missing value breaks the run and its own run length is missing (NaN): we never guess.
    """
    n = len(cond)
    idx = np.arange(n)
    start = np.where(~cond, idx + 1, np.where(new_seg, idx, 0))
    start = np.maximum.accumulate(start) if n else start
    run = np.where(cond, idx - start + 1, 0).astype(float)
    run[missing] = np.nan
    return run


def running_sum(values: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    """Each segment's running total, added left to right from zero as the single-subject path adds it
    (a cumulative sum over all segments minus the total before each differs in the last bits)."""
    n = len(values)
    out = values.astype(float).copy()
    if not n:
        return out
    idx = np.arange(n)
    start = np.maximum.accumulate(np.where(seg_start, idx, 0))
    position = idx - start
    for k in range(1, int(position.max()) + 1):
        at = np.flatnonzero(position == k)
        out[at] = out[at - 1] + values[at]
    return out


def _segment_cumsum(values: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    if not len(values):
        return total
    before = np.where(seg_start, total - values, np.nan)
    before = pd.Series(before).ffill().to_numpy()
    return total - before


def _scatter(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.empty(len(order))
    out[order] = values
    return out
