"""Workbooks (.xlsx) for the monthly circular (通报): sheets of a header row and rows, written with
openpyxl in write-only mode (47,000 rows stream through without a cell object each).

Every sheet has its header in bold, frozen, and column widths fitted to the header and the first rows.
Text is written as text: a name that begins with ``=`` stays a name, never a formula (a workbook
opened in Excel must not compute what a data file put in it). The file is byte-identical for the
same sheets: the document's dates are the ``stamp`` given and the archive's entries carry no clock.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

MAX_TITLE = 31  # Excel's limit on a sheet name
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
WIDTH_SAMPLE = 200  # rows looked at to fit a column's width
MAX_WIDTH = 60.0
ZIP_TIME = (2000, 1, 1, 0, 0, 0)


@dataclass
class Sheet:
    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence]  # str, int, float or None per cell
    widths: Sequence[float] | None = None  # in characters; fitted when None
    subheader: Sequence[str] | None = None  # a second header row (e.g. the field ids under the names)


def _width(value: object) -> float:
    text = "" if value is None else str(value)
    # A CJK character takes about two columns of a Latin one.
    return float(sum(2 if ord(ch) > 0x2E80 else 1 for ch in text))


def _cell(ws, value: object):
    if isinstance(value, str):
        value = _CONTROL.sub("", value)
        if value.startswith("="):
            cell = WriteOnlyCell(ws, value)
            cell.data_type = "s"
            return cell
    return value


def sheet_title(title: str) -> str:
    return _BAD_TITLE.sub("_", title)[:MAX_TITLE] or "Sheet"


def workbook_bytes(sheets: Sequence[Sheet], stamp: datetime, title: str = "") -> bytes:
    """The workbook of ``sheets``, as the bytes of an .xlsx file."""
    wb = Workbook(write_only=True)
    wb.properties.creator = "diagnosis-service"
    wb.properties.title = title
    wb.properties.created = wb.properties.modified = stamp
    header_font = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="F6F1F1")
    for sheet in sheets:
        ws = wb.create_sheet(sheet_title(sheet.title))
        rows = iter(sheet.rows)
        head = []
        for row in rows:
            head.append(row)
            if len(head) >= WIDTH_SAMPLE:
                break
        widths = sheet.widths or [
            min(MAX_WIDTH, max([_width(h) for h in (sheet.headers[k],)] + [_width(r[k]) for r in head]) + 2)
            for k in range(len(sheet.headers))]
        for k, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(k)].width = w
        ws.freeze_panes = "A3" if sheet.subheader else "A2"
        for header in (sheet.headers, sheet.subheader):
            if header is None:
                continue
            cells = []
            for h in header:
                cell = WriteOnlyCell(ws, h)
                cell.font = header_font
                cell.fill = header_fill
                cell.alignment = Alignment(vertical="center")
                cells.append(cell)
            ws.append(cells)
        for row in head:
            ws.append([_cell(ws, v) for v in row])
        for row in rows:
            ws.append([_cell(ws, v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return _without_clock(buf.getvalue(), stamp)


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _without_clock(data: bytes, stamp: datetime) -> bytes:
    """The archive again, every entry dated alike (zipfile stamps entries with the time of writing) and
    the document's 'modified' date the stamp (openpyxl sets it to the time of saving)."""
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>" + when + rb"\g<2>", content)
            dst.writestr(entry, content)
    return out.getvalue()


__all__ = ["Sheet", "sheet_title", "workbook_bytes"]
