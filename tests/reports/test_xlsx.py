"""Workbooks: the same sheets give the same bytes (whenever they are written), text stays text, and
sheet names and cells are what Excel accepts."""

import io
import time
from datetime import datetime

from openpyxl import load_workbook

from diagnosis_service.reports.xlsx import Sheet, sheet_title, workbook_bytes

STAMP = datetime(2025, 12, 1)


def sheets():
    return [Sheet("支部亮灯", ["编号", "名称", "分"], [["B1", "=1+1", 1.5], ["B2", "甲\x07乙", None]])]


def test_the_same_sheets_give_the_same_bytes_a_second_later():
    first = workbook_bytes(sheets(), STAMP)
    time.sleep(1.1)
    assert workbook_bytes(sheets(), STAMP) == first
    assert workbook_bytes(sheets(), datetime(2025, 11, 1)) != first


def test_cells_headers_and_titles():
    book = load_workbook(io.BytesIO(workbook_bytes(sheets(), STAMP, title="t")))
    ws = book["支部亮灯"]
    assert [c.value for c in ws[1]] == ["编号", "名称", "分"] and ws["A1"].font.b
    assert ws["B2"].value == "=1+1" and ws["B2"].data_type == "s"
    assert ws["B3"].value == "甲乙" and ws["C2"].value == 1.5 and ws["C3"].value is None
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["B"].width >= len("=1+1") + 2
    assert book.properties.modified == STAMP
    assert sheet_title("a/b:c*d?[e]" + "x" * 40) == ("a_b_c_d__e_" + "x" * 40)[:31]
