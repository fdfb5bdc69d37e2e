"""A simulated province: K districts written straight to a columnar dataset, one district at a time.

Each district is ``simulate(spec)`` with a seed of its own (drawn from the spec's seed and its number),
its ids and streets prefixed with its number (``D007-B00017``, ``D007 鼓楼街道``) so that the province's
ids are unique and each district's streets stay its own partitions. Memory is one district's whatever
K is: what was written is on disk (``data.columnar.DatasetWriter``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.columnar import DatasetWriter
from ..data.model import Dataset
from ..errors import InputError, Problem
from ..rules.model import Registry
from .district import SimulationSpec, simulate

MAX_SCALE = 10_000


def district_seed(seed: int, number: int) -> int:
    """The seed of district ``number`` (1-based) of a province simulated with ``seed``."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def relabel(dataset: Dataset, number: int) -> Dataset:
    """The district's ids and streets prefixed with its number, in the same order."""
    prefix = f"D{number:03d}-"

    def ids(values: pd.Index | pd.Series) -> pd.Index | pd.Series:
        return prefix + values.astype(str)

    branches = dataset.branches.copy()
    branches.index = ids(branches.index).rename("branch_id")
    branches["street"] = f"D{number:03d} " + branches["street"].astype(str)
    members = dataset.members.copy()
    members.index = ids(members.index).rename("member_id")
    members["branch_id"] = ids(members["branch_id"])
    branch_metrics = dataset.branch_metrics.assign(branch_id=ids(dataset.branch_metrics["branch_id"]))
    member_metrics = dataset.member_metrics.assign(member_id=ids(dataset.member_metrics["member_id"]))
    return Dataset(branches, members, branch_metrics, member_metrics, source=f"{dataset.source} district {number}")


def write_province(spec: SimulationSpec, scale: int, out: Path, registry: Registry,
                   progress: Callable[[int, int, Dataset], None] | None = None) -> dict:
    """Simulate ``scale`` districts like ``spec`` into a dataset at ``out`` (whole or not at all).
    Returns the dataset's description; ``progress(done, scale, district)`` after each district."""
    if not 1 <= scale <= MAX_SCALE:
        raise InputError(Problem(f"must be from 1 to {MAX_SCALE}", field=("scale",)))
    spec.validate()
    with DatasetWriter(out, "simulate --scale") as writer:
        for number in range(1, scale + 1):
            district = relabel(simulate(dataclasses.replace(spec, seed=district_seed(spec.seed, number)), registry),
                               number)
            writer.add(district)
            if progress:
                progress(number, scale, district)
            del district
        return writer.commit()


__all__ = ["MAX_SCALE", "district_seed", "relabel", "write_province"]
