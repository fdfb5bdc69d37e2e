"""The merge of keyed part files into one file in id order, shared by ``diagnose --engine dask --out``
(the parts' lines sent to the client) and ``data merge-parts`` (the lines the workers wrote).

A part file holds one line per subject, ``KEY<TAB>LINE``, sorted by key; the merge is a k-way merge of
bytes (no line decoded), a few hundred files at a time so that no process runs out of file handles.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

MERGE_FILES = 200  # files open at once in a merge: far below the usual limit of 1,024 per process


def sort_key(subject_id: str) -> bytes:
    """A line's key in a part file: the id's UTF-8 bytes in hex. It holds no tab or newline, and keys sort
    as the ids do (UTF-8 bytes sort as code points, hex digits as the bytes), compared as bytes: the merge
    neither decodes a line nor parses its key."""
    return subject_id.encode("utf-8").hex().encode("ascii")


def _read(path: Path) -> Iterator[tuple[bytes, bytes]]:
    with open(path, "rb") as fh:
        for line in fh:
            key, _, rest = line.partition(b"\t")
            yield key, rest


def _merge_files(paths: list[Path], tmp: Path, kind: str) -> Path:
    """One sorted file of many sorted ones, MERGE_FILES at a time (rounds of merges for more). Ids are
    unique, so (key, line) pairs compare by key alone."""
    round_no = 0
    while len(paths) > 1:
        merged = []
        for start in range(0, len(paths), MERGE_FILES):
            group = paths[start:start + MERGE_FILES]
            if len(group) == 1:
                merged.append(group[0])
                continue
            target = tmp / f"merge-{round_no}-{start:06d}.{kind}"
            with open(target, "wb") as fh:
                fh.writelines(b"%b\t%b" % pair for pair in heapq.merge(*(_read(p) for p in group)))
            for p in group:
                p.unlink()
            merged.append(target)
        paths, round_no = merged, round_no + 1
    return paths[0]


def merged_lines(tmp: Path, parts: int) -> Iterator[bytes]:
    """Every part's branches, then every part's members, each in id order (parts are sorted already)."""
    for kind in ("branch", "member"):
        paths = [tmp / f"{i:06d}.{kind}" for i in range(parts)]
        if not paths:
            continue
        yield from (line for _, line in _read(_merge_files(paths, tmp, kind)))


__all__ = ["MERGE_FILES", "merged_lines", "sort_key"]
