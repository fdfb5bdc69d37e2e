"""Where a month's data comes from: a small interface, and the CSV directory behind it.

A ``Source`` gives a validated ``Dataset``: every organisation, and the metric rows of the period
asked for and of the months before it that its rules look back on. The pipeline works with any
source: a CSV directory (here), the store (``pipeline.store_io.StoreSource``), and a columnar
dataset (``columnar.ParquetDir``). To add one, implement ``load`` and ``name``; the rest of the path
does not change.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..rules.model import Registry
from .csvdir import load_dir
from .model import Dataset

if TYPE_CHECKING:
    from .csvstream import Spilled

HISTORY_MONTHS = 24  # months a diagnosis reads before its period: runs and changes look back this far at most
Lookback = Mapping[str, Collection[str]]  # subject -> the indicators needed of the months before the period


class Source(Protocol):
    name: str

    def load(self, registry: Registry, period: str | None = None, months: int = HISTORY_MONTHS,
             lookback: Lookback | None = None) -> Dataset:
        """Organisations and validated metrics; with ``period``, at least the ``months`` months up to it.
        ``lookback``: of the months before ``period`` only these indicators are needed (``engine.lookback``);
        a source that reads by column reads only those and says so in ``Dataset.complete_from``."""
        ...


class CsvDir:
    """A data directory of four CSV files (docs/data.md), validated whole when read."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.name = str(directory)

    def load(self, registry: Registry, period: str | None = None, months: int = HISTORY_MONTHS,
             lookback: Lookback | None = None) -> Dataset:
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
             lookback: Lookback | None = None) -> Dataset:
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
             lookback: Lookback | None = None) -> Dataset:
        return self.dataset


def source_for(path: Path | str) -> Source:
    """A CSV data directory, or a columnar dataset (``data convert``; a directory or an fsspec URL), by what
    the location holds."""
    from .columnar import ParquetDir, is_dataset

    return ParquetDir(path) if is_dataset(path) else CsvDir(path)


__all__ = ["HISTORY_MONTHS", "Lookback", "CsvDir", "Loaded", "Source", "Streamed", "source_for"]
