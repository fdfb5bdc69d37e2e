"""The catalog to and from a spreadsheet: the workbook of a catalog, and the catalog files a workbook
changes (checked with ``sheet!cell`` locations first, then as files like any other change)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ..errors import Conflict, InputError, Problem
from ..remedies.catalog import Catalog
from ..remedies.catalog_sheets import (
    DISTRICT_SHEET,
    README_SHEET,
    read_workbook,
    readme_rows,
    sheet_rows,
    workbook_version,
)
from ..remedies.catalog_yaml import changed_files
from ..reports.xlsx import Sheet, workbook_bytes
from ..rules.model import Registry

# A fixed date in the document's properties: the same catalog gives the same bytes.
STAMP = datetime(2000, 1, 1)


def export_xlsx(catalog: Catalog, registry: Registry, version: int | None = None) -> bytes:
    """The catalog as a workbook: one sheet per kind (names, then field ids), the streets, and 说明 (with
    ``version``, the store's catalog version it is: publishing it over a newer one is refused)."""
    sheets = [Sheet(title, labels, rows, subheader=ids, widths=None if title != DISTRICT_SHEET else [16, 28])
              for title, labels, ids, rows in sheet_rows(catalog)]
    sheets.append(Sheet(README_SHEET, ["项目 Item", "说明 Notes"], readme_rows(registry, version), widths=[34, 120]))
    return workbook_bytes(sheets, STAMP, title="锋领汇 remedy catalog")


def workbook_changes(data: bytes, registry: Registry, active: Catalog, active_files: Mapping[str, str],
                     name: str = "catalog.xlsx") -> dict[str, str]:
    """The catalog files a workbook replaces (those whose content it changes); InputError with every
    problem, located ``sheet!cell``, when it does not pass the catalog's checks."""
    data_by_file, problems = read_workbook(data, registry, name)
    if problems:
        raise InputError(problems)
    return changed_files(data_by_file, active, active_files)


def exported_over(data: bytes, active_version: int, read_again: str) -> None:
    """Conflict when the workbook says it was exported from a catalog version that is no longer the active
    one: its publish would undo, silently, what was published since."""
    exported = workbook_version(data)
    if exported is not None and exported != active_version:
        raise Conflict(Problem(f"the workbook was exported from catalog version {exported}; version {active_version} "
                               f"is active now (published since)", field=("body",),
                               suggestion=f"export it again ({read_again}), make your edits in that and publish it"))


__all__ = ["export_xlsx", "exported_over", "workbook_changes"]
