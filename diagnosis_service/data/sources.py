"""Where a month's data comes from: a small interface, and the CSV directory behind it.

A ``Source`` gives a validated ``Dataset``: every organisation, and the metric rows of the period
asked for and of the months before it that its rules look back on. The pipeline works with any
source: a CSV directory (here), the store (``pipeline.store_io.StoreSource``), and a columnar
dataset (``columnar.ParquetDir``). To add one, implement ``load`` and ``name``; the rest of the path
does not change.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..rules.model import Registry
from .csvdir import load_dir
from .model import Dataset

if TYPE_CHECKING:
    from .csvstream import Spilled

HISTORY_MONTHS = 24  # months a diagnosis reads before its period: runs and changes look back this far at most
Lookback = Mapping[str, Collection[str]]  # subject -> the indicators needed of the months before the period


@dataclass(frozen=True)
class Carry:
    """Derived indicators that look back (runs, windows, year-to-date sums) which a dataset may keep with
    each month, as a diagnosis of that month computes them (``engine.lookback.carry_plan``). When a
    dataset holds every one of them under the same fingerprints, a month is read with ``lookback``
    instead of the plain lookback, of the ``depth`` months before it, and the subjects in ``skip_earlier``
    without their earlier months.

    ``fingerprints``: subject -> indicator -> a digest of everything its values depend on but the data
    (its derivation and its inputs', points weights, the months of history a diagnosis reads).
    """

    fingerprints: Mapping[str, Mapping[str, str]]
    lookback: Lookback
    skip_earlier: frozenset[str] = frozenset()
    # subject -> months before the diagnosed one read (a rule's furthest comparison); absent: all of them
    depth: Mapping[str, int] = field(default_factory=dict)

    def indicators(self, subject: str) -> list[str]:
        return sorted(self.fingerprints.get(subject, {}))


class Source(Protocol):
    name: str

    def load(self, registry: Registry, period: str | None = None, months: int = HISTORY_MONTHS,
             lookback: Lookback | None = None, carry: Carry | None = None) -> Dataset:
        """Organisations and validated metrics; with ``period``, at least the ``months`` months up to it.
        ``lookback``: of the months before ``period`` only these indicators are needed (``engine.lookback``);
        a source that reads by column reads only those and says so in ``Dataset.complete_from``.
        ``carry``: a source that keeps those derived indicators with each month (a columnar dataset, after
        ``data carry``) gives them as columns of ``period`` and says so in ``Dataset.carried``; others
        ignore it."""
        ...


class CsvDir:
    """A data directory of four CSV files (docs/data.md), validated whole when read."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.name = str(directory)

    def load(self, registry: Registry, period: str | None = None, months: int = HISTORY_MONTHS,
             lookback: Lookback | None = None, carry: Carry | None = None) -> Dataset:
        # The whole directory: a CSV file cannot be read in part, and validating all of it is the promise.
        return load_dir(self.directory, registry)

    def stream(self, registry: Registry, workdir: Path, progress: Callable[[int, int], None] | None = None) -> Spilled:
        """The whole directory checked a chunk at a time, its months spilled to ``workdir`` (``csvstream``)."""
        from .csvstream import stream_dir

        return stream_dir(self.directory, registry, workdir, progress=progress)


class Streamed:
    """A CSV directory checked and spilled already (``CsvDir.stream``), as a source: one check of a
    directory serving two writers (``import DIR --dataset OUT``) with a month's memory. ``load`` reads it
    whole; ``pipeline.ingest`` reads it a month at a time."""

    def __init__(self, spilled: Spilled, name: str):
        self.spilled = spilled
        self.name = name

    def load(self, registry: Registry, period: str | None = None, months: int = HISTORY_MONTHS,
             lookback: Lookback | None = None, carry: Carry | None = None) -> Dataset:
        import pandas as pd

        frames: dict[str, list] = {"branch": [], "member": []}
        for p in self.spilled.periods:
            for subject, frame in self.spilled.month(p):
                frames[subject].append(frame)
        orgs = self.spilled.orgs
        return Dataset(orgs.branches, orgs.members, *(
            pd.concat(frames[s], ignore_index=True) if frames[s] else orgs.metrics(s)
            for s in ("branch", "member")), source=self.name)


class Loaded:
    """A dataset in memory, read and validated already, as a source (``Streamed`` is what serves
    ``import DIR --dataset OUT`` now, with a month's memory)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.name = dataset.source

    def load(self, registry: Registry, period: str | None = None, months: int = HISTORY_MONTHS,
             lookback: Lookback | None = None, carry: Carry | None = None) -> Dataset:
        return self.dataset


def source_for(path: Path | str) -> Source:
    """A CSV data directory, or a columnar dataset (``data convert``; a directory or an fsspec URL), by what
    the location holds."""
    from .columnar import ParquetDir
    from .locations import is_dataset

    return ParquetDir(path) if is_dataset(path) else CsvDir(path)


__all__ = ["HISTORY_MONTHS", "Carry", "Lookback", "CsvDir", "Loaded", "Source", "Streamed", "source_for"]
