"""Where a CSV file's rows are: the line an editor shows each on, and the rows cut short.

Both are found only on the way to a problem (or, for short rows, once a chunk may hold one): a clean file
never pays for them. Blank lines (and lines of only spaces and tabs) are left out, as pandas leaves them.
"""

from __future__ import annotations

import csv
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import Problem
from .validate import MAX_PROBLEMS, Problems

MAX_CSV_BYTES = 2_000_000_000


class Lines:
    """Row position -> line number as an editor shows it (header = line 1).

    Built lazily, only when a problem is reported: clean data never pays for it. Quoted cells
    may span lines, so the exact map needs a real CSV pass; blank lines (and lines of only spaces and
    tabs) are skipped, as pandas skips them. A file that stops being CSV (or UTF-8) further on maps the rows after that point by count: the
    read reports that problem itself.
    """

    def __init__(self, path: Path):
        self.path = path
        self.name = str(path)
        self._map: array | None = None

    def __call__(self, pos: int) -> tuple[str, int]:
        if self._map is None:
            self._map = array("q")  # 8 bytes a row: a district's million rows are 9 MB, not 40
            csv.field_size_limit(MAX_CSV_BYTES)
            with self.path.open(encoding="utf-8", errors="replace", newline="") as fh:
                start, header = 1, True
                try:
                    for reader, _, blank in records(fh):
                        if not blank and not header:
                            self._map.append(start)
                        header = header and blank
                        start = reader.line_num + 1
                except csv.Error:
                    pass
        line = self._map[pos] if pos < len(self._map) else (self._map[-1] + pos - len(self._map) + 1
                                                            if len(self._map) else pos + 2)
        return self.name, line


def records(fh) -> Iterator[tuple[csv.reader, list[str], bool]]:
    """The csv module's records of ``fh`` (opened with ``newline=""``): (the reader, the row, whether it is a
    line pandas skips: nothing but spaces and tabs, told from the raw text, so a quoted empty cell is not)."""
    raw: list[str] = []

    def lines() -> Iterator[str]:
        for line in fh:
            raw.append(line)
            yield line

    reader = csv.reader(lines())
    for row in reader:
        text = "".join(raw)
        raw.clear()
        yield reader, row, not text.strip(" \t\r\n")


SCAN_BLOCK = 1 << 22  # bytes of a file counted at a time when its rows' fields are counted (memory: 6 bytes each)
MAX_SCAN_LINE = 1 << 24  # a longer line (no newline for 16 MB): counted by the csv module instead
_NOT_BLANK = np.ones(256, dtype=bool)
_NOT_BLANK[[9, 10, 13, 32]] = False  # a line of only tabs, spaces and its ending is blank: pandas skips it


class ShortRows:
    """Rows with fewer fields than the header, which pandas pads with missing values: a truncated file (cut
    in the middle of a row) or a row that lost its last cells would be read as empty cells, i.e. as missing
    values, and stored. Such a row's last cell is missing, so the file is looked at only once a chunk has a
    missing last cell (clean files, whose last column is filled, never pay): its rows' fields counted in one
    pass, on bytes for a file without quotes (a comma or a newline is never part of a UTF-8 character), with
    the csv module otherwise, and every short row told at once (the first MAX_PROBLEMS listed, the rest
    counted: memory stays bounded on a file of any size)."""

    def __init__(self, path: Path):
        self.path = path
        self.done = False

    def check(self, frame: pd.DataFrame, problems: Problems) -> pd.DataFrame:
        """``frame`` as it is; the file's short rows added to ``problems`` the first time a chunk may hold one."""
        width = frame.shape[1]
        if self.done or width < 2 or not len(frame) or not frame.iloc[:, -1].isna().any():
            return frame
        self.done = True
        listed, total = _short_rows(self.path, width, MAX_PROBLEMS)
        where = Lines(self.path)
        for pos, have in listed:
            name, line = where(pos)
            problems.add(Problem(
                f"row has {have} field{'s' if have != 1 else ''}, the header has {width}: the cells from "
                f"'{frame.columns[have]}' on are missing", file=name, line=line, column=str(frame.columns[have]),
                suggestion="give every row a cell for each column of the header (an empty cell between two "
                           "commas is a missing value); a file that ends like this was cut short"))
        problems.more(total - len(listed))
        return frame


def _short_rows(path: Path, width: int, keep: int) -> tuple[list[tuple[int, int]], int]:
    """(position, fields) of the first ``keep`` rows of a CSV file with fewer than ``width`` fields (positions
    from 0 after the header, blank lines left out, as pandas counts rows), and how many there are in all;
    a block of SCAN_BLOCK bytes at a time."""
    listed: list[tuple[int, int]] = []
    total, seen, carry = 0, -1, b""  # seen: non-blank lines so far, less the header
    with path.open("rb") as fh:
        while True:
            block = fh.read(SCAN_BLOCK)
            # Quotes (a cell may hold commas and newlines), lines ended by a bare CR (pandas splits there),
            # or a line past MAX_SCAN_LINE bytes: the csv module reads the file instead.
            if (b'"' in block or block.count(b"\r") != block.count(b"\r\n") + block.endswith(b"\r")
                    or len(carry) > MAX_SCAN_LINE):
                return _short_rows_csv(path, width, keep)
            if not block and not carry:
                break
            buf = carry + block if block else carry + b"\n"
            end = buf.rfind(b"\n") + 1
            carry = buf[end:] if block else b""
            lines, short, fields = _line_fields(buf[:end], width)
            for k, have in zip(short.tolist(), fields.tolist(), strict=True):
                if seen + k >= 0:  # not the header
                    total += 1
                    if len(listed) < keep:
                        listed.append((seen + k, have))
            seen += lines
            if not block:
                break
    return listed, total


def _line_fields(buf: bytes, width: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(the lines of ``buf`` that are not blank, the indexes among them of those with fewer than ``width``
    fields, and their fields); ``buf`` holds whole lines, each ending in a newline. A block whose lines all
    have ``width`` fields (pandas refuses a row with more) has as many commas as that says: counted at once;
    else running counts of commas and of other than blank bytes, read at each line's end."""
    data = np.frombuffer(buf, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    if np.count_nonzero(data == 44) == (width - 1) * len(ends):
        return len(ends), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    commas = np.diff(np.cumsum(data == 44, dtype=np.int32)[ends], prepend=0)
    text = np.diff(np.cumsum(_NOT_BLANK[data], dtype=np.int32)[ends], prepend=0)
    fields = commas[text > 0].astype(np.int64) + 1
    short = np.flatnonzero(fields < width)
    return len(fields), short, fields[short]


def _short_rows_csv(path: Path, width: int, keep: int) -> tuple[list[tuple[int, int]], int]:
    """``_short_rows`` for a file with quotes (a quoted cell may hold commas and newlines)."""
    csv.field_size_limit(MAX_CSV_BYTES)
    listed: list[tuple[int, int]] = []
    total, pos = 0, -1
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        try:
            for _, row, blank in records(fh):
                if blank:
                    continue
                if pos >= 0 and len(row) < width:
                    total += 1
                    if len(listed) < keep:
                        listed.append((pos, len(row)))
                pos += 1
        except csv.Error:  # the read reports it
            pass
    return listed, total
