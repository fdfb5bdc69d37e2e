"""The remedy catalog as a spreadsheet (.xlsx): one sheet per kind, read back with the same checks as
the YAML files and every problem located as ``sheet!cell`` (``讲师!D17: resource LEC001: unknown topic
'theroy_study'``).

A sheet has two header rows: names in Chinese for people (row 1), the field ids of the schema for the
program (row 2; the columns may come in any order). Lists (topics, branch types, streets) are written
in one cell, separated by commas (``,`` ``，`` ``、``); ``all`` for every one. A workbook is untrusted
input: its size, the archive's entries and their unpacked size are bounded before it is opened, its
XML is parsed by defusedxml (through openpyxl), and formulas are refused (a catalog holds values).
A workbook that passes becomes the YAML files the catalog is stored as (``catalog_yaml``; the files are
checked again), so a spreadsheet and the files can never disagree.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem, did_you_mean
from ..rules.model import Registry
from .catalog import (
    ALL,
    DISTRICT_FILE,
    FILES,
    FORMAT_NAMES,
    FORMATS,
    ID_RE,
    MAX_RESOURCES,
    OPTIONAL,
    REQUIRED,
    Catalog,
)
from .catalog_files import parse_resource

SHEETS = {"lecturer": "讲师", "lesson": "党课", "video": "视频党课", "base": "基地", "activity": "活动"}
DISTRICT_SHEET = "街道"
README_SHEET = "说明"
KIND_OF_SHEET = {title: kind for kind, title in SHEETS.items()}
# Column order: what a person fills in first; then the optional texts, Chinese before English.
COLUMNS = ("id", "title_zh", "title_en", "topics", "format", "duration_minutes", "branch_types", "streets",
           "active", "capacity") + tuple(f for f in OPTIONAL if f != "capacity")
LABELS = {
    "id": "编号", "title_zh": "名称", "title_en": "名称（英文）", "topics": "主题", "format": "形式",
    "duration_minutes": "时长（分钟）", "branch_types": "适用支部类型", "streets": "适用街道（镇）", "active": "启用",
    "capacity": "人数上限", "booking_zh": "预约方式", "booking_en": "预约方式（英文）", "provider_zh": "提供方",
    "provider_en": "提供方（英文）", "series_zh": "系列", "series_en": "系列（英文）", "location_zh": "地点",
    "location_en": "地点（英文）", "notes_zh": "备注", "notes_en": "备注（英文）",
}
DISTRICT_LABELS = {"zh": "街道（镇）名称", "en": "英文名称"}
LISTS = ("topics", "branch_types", "streets")
SEPARATORS = re.compile(r"[,，、;；\n]+")
TRUE, FALSE = ("true", "是", "yes", "y", "1", "启用"), ("false", "否", "no", "n", "0", "停用")

MAX_XLSX_BYTES = 10 * 1024 * 1024  # the district's catalog is ~60 kB as a workbook
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # what the archive's entries may unpack to, in all
MAX_ENTRIES = 500
MAX_COLUMNS = 50
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---------------------------------------------------------------- reading

@dataclass
class SheetDoc:
    """One kind's sheet as the YAML checks see a file: ``data`` and the cell of every value, so the
    resource checks (``parse_resource``) report ``sheet!cell`` as they report ``file:line:column``."""

    sheet: str
    data: dict
    columns: dict[str, str] = field(default_factory=dict)  # field id -> column letter
    rows: dict[int, int] = field(default_factory=dict)  # resource index -> sheet row
    told: set[int] = field(default_factory=set)  # resources with a formula (told already; not checked further)

    @property
    def file(self) -> str:
        return self.sheet

    def cell(self, path: tuple) -> str:
        if len(path) >= 2 and path[0] == "resources" and path[1] in self.rows:
            row = self.rows[path[1]]
            column = self.columns.get(path[2], "A") if len(path) >= 3 else "A"
            return f"{self.sheet}!{column}{row}"
        return self.sheet

    def where(self, path: tuple, key: bool = False) -> tuple[int | None, int | None]:
        row = self.rows.get(path[1]) if len(path) >= 2 and path[0] == "resources" else None
        return row, None

    def problem(self, path: tuple, message: str, *, key: bool = False, rule_id: str | None = None,
                suggestion: str | None = None) -> Problem:
        return Problem(message, file=self.cell(tuple(path)), rule_id=rule_id, suggestion=suggestion)


def at(sheet: str, column: int | None = None, row: int | None = None) -> str:
    """``sheet!D17`` (or ``sheet!17``, or the sheet alone)."""
    if row is None:
        return sheet
    return f"{sheet}!{column_letter(column) if column else ''}{row}"


def column_letter(index: int) -> str:
    """1 -> A, 27 -> AA."""
    out = ""
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def archive_problems(data: bytes, name: str) -> list[Problem]:
    """Size, zip structure and unpacked size, checked before any XML is read (a zip bomb is refused
    here: openpyxl would unpack it whole)."""
    if len(data) > MAX_XLSX_BYTES:
        return [Problem(f"the workbook is {len(data):,} bytes, over the limit of {MAX_XLSX_BYTES:,}", file=name,
                        suggestion="a catalog workbook is well under 1 MB; remove pictures and unused sheets")]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return [Problem("not an xlsx workbook (not a zip archive)", file=name,
                        suggestion="save it from the spreadsheet program as Excel Workbook (.xlsx)")]
    if len(entries) > MAX_ENTRIES:
        return [Problem(f"the workbook has {len(entries)} parts, over the limit of {MAX_ENTRIES}", file=name)]
    unpacked = sum(e.file_size for e in entries)
    if unpacked > MAX_UNPACKED_BYTES or any(e.file_size > 200 * max(e.compress_size, 1) for e in entries
                                            if e.file_size > 1024 * 1024):
        return [Problem(f"the workbook unpacks to {unpacked:,} bytes (over {MAX_UNPACKED_BYTES:,}, or packed "
                        "suspiciously tight): refused as a possible zip bomb", file=name)]
    if "xl/workbook.xml" not in {e.filename for e in entries}:
        return [Problem("not an xlsx workbook (no xl/workbook.xml)", file=name,
                        suggestion="save it from the spreadsheet program as Excel Workbook (.xlsx)")]
    return []


def read_workbook(data: bytes, registry: Registry, name: str = "catalog.xlsx") -> tuple[dict, list[Problem]]:
    """The resources of every kind sheet and the district's streets, as the YAML files' data
    (``{file name: data}``), with every problem; nothing is returned when there is one."""
    problems = archive_problems(data, name)
    if problems:
        return {}, problems
    import openpyxl  # loaded here: only an import or export needs it

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # an untrusted file: any failure of the parser is a bad file
        return {}, [Problem(f"the workbook cannot be read ({exc.__class__.__name__})", file=name,
                            suggestion="open it in the spreadsheet program and save it as Excel Workbook (.xlsx)")]
    try:
        return _read_sheets(workbook, registry, problems)
    except Exception as exc:  # the same: a malformed part found while reading rows
        return {}, [Problem(f"the workbook cannot be read ({exc.__class__.__name__}: {str(exc)[:100]})", file=name,
                            suggestion="open it in the spreadsheet program and save it as Excel Workbook (.xlsx)")]
    finally:
        workbook.close()


def _read_sheets(workbook, registry: Registry, problems: list[Problem]) -> tuple[dict, list[Problem]]:
    titles = list(workbook.sheetnames)
    known = list(SHEETS.values()) + [DISTRICT_SHEET, README_SHEET]
    for title in titles:
        if title not in known:
            hint = did_you_mean(title, known)
            problems.append(Problem(f"unknown sheet '{title}'", file=title,
                                    suggestion=(f"{hint} " if hint else "") + "sheets: " + ", ".join(known)))
    for title in [DISTRICT_SHEET, *SHEETS.values()]:
        if title not in titles:
            problems.append(Problem(f"missing sheet '{title}'", file=title,
                                    suggestion="export the catalog (catalog export --format xlsx) for the layout"))
    if problems:
        return {}, problems
    streets = _read_district(workbook[DISTRICT_SHEET], problems)
    out: dict[str, Any] = {DISTRICT_FILE: {"streets": [{"zh": zh, "en": en} for zh, en in streets]}}
    first: dict[str, str] = {}
    for kind, title in SHEETS.items():
        doc = _read_kind(workbook[title], problems)
        if doc is None:
            continue
        items = []
        for i, item in enumerate(doc.data["resources"]):
            if i in doc.told:
                continue
            # A repeated id is told at its row with the row's other problems, not in a later import once
            # they are fixed: it is checked on the cell as written.
            rid, where = item.get("id") if isinstance(item, dict) else None, doc.cell(("resources", i, "id"))
            repeated = False
            if isinstance(rid, str) and ID_RE.fullmatch(rid):
                repeated = rid in first
                if repeated:
                    problems.append(Problem(f"duplicate resource id '{rid}' (first at {first[rid]})", file=where,
                                            suggestion="every resource of the catalog needs its own id"))
                else:
                    first[rid] = where
            res = parse_resource(doc, ("resources", i), item, kind, registry, streets, problems)
            if res is not None and not repeated:
                items.append(res.as_dict())
        out[FILES[kind]] = {"kind": kind, "resources": items}
    return ({} if problems else out), problems


def _rows(ws, problems: list[Problem], limit: int) -> Iterator[tuple[int, list]]:
    """(row number, cells) of the sheet's non-empty rows, at most ``limit`` of them."""
    seen = 0
    for number, cells in enumerate(ws.iter_rows(), start=1):
        if len(cells) > MAX_COLUMNS and any(c.value is not None for c in cells[MAX_COLUMNS:]):
            problems.append(Problem(f"more than {MAX_COLUMNS} columns", file=at(ws.title, MAX_COLUMNS + 1, number)))
            return
        cells = list(cells[:MAX_COLUMNS])
        if all(c.value is None or (isinstance(c.value, str) and not c.value.strip()) for c in cells):
            continue
        seen += 1
        if seen > limit:
            problems.append(Problem(f"more than {limit - 2} rows of resources", file=at(ws.title, 1, number),
                                    suggestion=f"at most {MAX_RESOURCES} per kind"))
            return
        yield number, cells


def _formula(ws, number: int, k: int, cell, problems: list[Problem]) -> bool:
    if getattr(cell, "data_type", None) == "f":
        problems.append(Problem(f"a formula ({str(cell.value)[:40]}) where a value belongs", file=at(ws.title, k, number),
                                suggestion="type the value itself, or paste values only (a catalog holds no formulas)"))
        return True
    return False


def _read_kind(ws, problems: list[Problem]) -> SheetDoc | None:
    before = len(problems)
    doc = SheetDoc(ws.title, {"resources": []})
    header: dict[int, str] = {}
    rows = _rows(ws, problems, MAX_RESOURCES + 2)
    heads = [next(rows, None), next(rows, None)]
    if heads[1] is None:
        problems.append(Problem("the sheet needs two header rows: names, then the field ids", file=at(ws.title, 1, 2),
                                suggestion="field ids: " + ", ".join(COLUMNS)))
        return None
    number, cells = heads[1]
    for k, cell in enumerate(cells, start=1):
        if _formula(ws, number, k, cell, problems) or cell.value is None:
            continue
        name = str(cell.value).strip()
        if name not in COLUMNS:
            problems.append(Problem(f"unknown field '{name[:60]}' in the field-id row", file=at(ws.title, k, number),
                                    suggestion=did_you_mean(name, COLUMNS) or "field ids: " + ", ".join(COLUMNS)))
        elif name in header.values():
            problems.append(Problem(f"field '{name}' has two columns", file=at(ws.title, k, number)))
        else:
            header[k] = name
            doc.columns[name] = column_letter(k)
    for name in REQUIRED:
        if name not in doc.columns:
            problems.append(Problem(f"no column for field '{name}' (row {number} holds the field ids)",
                                    file=at(ws.title, len(cells) + 1, number),
                                    suggestion="add a column with the field id in that row, or export the catalog "
                                               "for the layout"))
    if len(problems) > before:
        return None
    for number, cells in rows:
        item: dict[str, Any] = {}
        index = len(doc.data["resources"])
        for k, cell in enumerate(cells, start=1):
            if k not in header:
                continue
            if _formula(ws, number, k, cell, problems):
                doc.told.add(index)
                continue
            value = cell_value(header[k], cell.value)
            if value is not None:
                item[header[k]] = value
        doc.rows[index] = number
        doc.data["resources"].append(item)
    return doc


def _read_district(ws, problems: list[Problem]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for number, cells in _rows(ws, problems, 1002):
        if number <= 2:
            continue
        values = []
        for k, cell in enumerate(cells[:2], start=1):
            if _formula(ws, number, k, cell, problems):
                values.append(None)
                continue
            values.append(str(cell.value).strip() if cell.value is not None and str(cell.value).strip() else None)
        values += [None] * (2 - len(values))
        if values[0] is None or values[1] is None:
            problems.append(Problem("each street needs its Chinese and English names", file=at(ws.title, 1, number)))
        else:
            out.append((values[0], values[1]))
    if not out:
        problems.append(Problem("no street: list the district's streets and towns from row 3", file=at(ws.title, 1, 3)))
    return out


def cell_value(name: str, value: object) -> object:
    """A cell's value as the YAML field would hold it (None: empty); a value that cannot be is kept as
    it is, for the checks to name."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    if value is None:
        return None
    if name in LISTS:
        if not isinstance(value, str):
            return [value]
        parts = [p.strip() for p in SEPARATORS.split(value) if p.strip()]
        return [ALL] if parts in ([ALL], ["全部"], ["ALL"]) else parts
    if name in ("duration_minutes", "capacity"):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return value
    if name == "active":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return True if text in TRUE else False if text in FALSE else value
    if name == "format" and isinstance(value, str):
        return next((f for f, (zh, _) in FORMAT_NAMES.items() if zh == value), value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if not isinstance(value, str) else value


# ---------------------------------------------------------------- writing (the rows; reports.xlsx writes them)

def sheet_rows(catalog: Catalog) -> list[tuple[str, list[str], list[str], list[list]]]:
    """(title, labels, field ids, rows) of every sheet of the export, in the order of the workbook."""
    sheets = []
    for kind, title in SHEETS.items():
        mine = [r for r in catalog.resources if r.kind == kind]
        used = {k for r in mine for k, v in r.as_dict().items() if v is not None}
        columns = [c for c in COLUMNS if c in REQUIRED or c in used]
        rows = []
        for r in mine:
            d = r.as_dict()
            rows.append([", ".join(d[c]) if c in LISTS else d[c] for c in columns])
        sheets.append((title, [LABELS[c] for c in columns], columns, rows))
    sheets.append((DISTRICT_SHEET, list(DISTRICT_LABELS.values()), list(DISTRICT_LABELS),
                   [[zh, en] for zh, en in catalog.street_names_en.items()]))
    return sheets


VERSION_ITEM = "版本 version"  # the 说明 sheet's row naming the catalog version a workbook was exported from


def readme_rows(registry: Registry, version: int | None = None) -> list[list[str]]:
    """The 说明 sheet: the catalog version it was exported from (a version kept in the store), how to fill
    the others, and the ids they may use."""
    rows = [[VERSION_ITEM, str(version)],
            ["版本说明 about the version", "导出时的资源库版本。发布时若已有更新的版本，将被拒绝：请重新导出后再修改。 / "
                                           "The catalog version this workbook was exported from: publishing it "
                                           "once a newer version is active is refused (export again and edit that)."],
            ] if version is not None else []
    rows += [
        ["用法 How to", "每类资源一张工作表（讲师、党课、视频党课、基地、活动）与“街道”表；第1行为中文列名，第2行为字段编号"
                      "（程序按第2行识别列，列的顺序可调）。列表用逗号分隔，all 表示全部。请只填值，不要用公式。"
                      " / One sheet per kind and the 街道 sheet; row 2 holds the field ids. Lists are separated "
                      "by commas; all = every one. Values only, no formulas."],
        ["导入 Import", "diagnosis-service catalog import FILE.xlsx，或 PUT /v1/catalog（请求体为本文件）"],
        ["形式 format", ", ".join(f"{f}（{FORMAT_NAMES[f][0]}）" for f in FORMATS)],
        ["启用 active", "true / false（是 / 否）：停用的资源不再推荐，历史保留"],
    ]
    rows += [[f"主题 topic: {t}", f"{n.name_zh} / {n.name_en}"] for t, n in registry.topics.items()]
    rows += [[f"支部类型 branch type: {t}", f"{n.name_zh} / {n.name_en}"] for t, n in registry.branch_types.items()]
    return rows


def workbook_version(data: bytes) -> int | None:
    """The catalog version a workbook says it was exported from (its 说明 sheet's ``VERSION_ITEM`` row);
    None when it says none (a directory's export, a workbook made by hand) or cannot be read (its problems
    are ``read_workbook``'s to tell)."""
    if archive_problems(data, "catalog.xlsx"):
        return None
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # an untrusted file: read_workbook says what is wrong with it
        return None
    try:
        if README_SHEET not in workbook.sheetnames:
            return None
        for row in workbook[README_SHEET].iter_rows(min_row=1, max_row=20, max_col=2, values_only=True):
            if row and row[0] == VERSION_ITEM:
                text = str(row[1] if len(row) > 1 else "").strip()
                return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None
        return None
    except Exception:
        return None
    finally:
        workbook.close()


__all__ = ["VERSION_ITEM", "workbook_version", "DISTRICT_SHEET", "MAX_XLSX_BYTES", "README_SHEET", "SHEETS", "XLSX_MIME", "SheetDoc", "archive_problems",
           "cell_value", "read_workbook", "readme_rows", "sheet_rows"]
