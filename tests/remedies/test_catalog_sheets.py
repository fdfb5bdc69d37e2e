"""The catalog as a spreadsheet: export, edit as a spreadsheet program would (openpyxl), import. Every
bad workbook is refused with its sheet!cell and nothing comes out of it."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnosis_service.errors import InputError
from diagnosis_service.pipeline.catalog_xlsx import export_xlsx, workbook_changes
from diagnosis_service.remedies.catalog_files import load_texts, read_files
from diagnosis_service.remedies.catalog_sheets import MAX_XLSX_BYTES, SHEETS
from diagnosis_service.rules import load_ruleset
from tests.support.paths import CATALOG, RULES


@pytest.fixture(scope="module")
def registry():
    return load_ruleset(RULES).registry


@pytest.fixture(scope="module")
def shipped(registry):
    files = read_files(CATALOG)[0]
    return files, load_texts(files, registry)


@pytest.fixture(scope="module")
def exported(shipped, registry):
    return export_xlsx(shipped[1], registry)


def edit(data: bytes, change) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    change(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def problems_of(data: bytes, shipped, registry) -> list[str]:
    with pytest.raises(InputError) as err:
        workbook_changes(data, registry, shipped[1], shipped[0])
    return [str(p) for p in err.value.problems]


def test_export_has_a_sheet_per_kind_with_names_and_field_ids(exported, shipped, registry):
    wb = openpyxl.load_workbook(io.BytesIO(exported))
    assert wb.sheetnames == list(SHEETS.values()) + ["街道", "说明"]
    ws = wb["讲师"]
    assert [c.value for c in ws[1]][:4] == ["编号", "名称", "名称（英文）", "主题"]
    assert [c.value for c in ws[2]][:4] == ["id", "title_zh", "title_en", "topics"]
    lecturers = [r for r in shipped[1].resources if r.kind == "lecturer"]
    assert ws.max_row - 2 == len(lecturers) and ws["A3"].value == lecturers[0].id
    assert ws.freeze_panes == "A3"
    # The same catalog gives the same bytes (no clock in the file).
    assert export_xlsx(shipped[1], registry) == exported


def test_an_unedited_export_changes_nothing(exported, shipped, registry):
    assert workbook_changes(exported, registry, shipped[1], shipped[0]) == {}


def test_an_edit_becomes_the_changed_file_only(exported, shipped, registry):
    def change(wb):
        ws = wb["基地"]
        ws["I3"] = False  # retire the first base
        ws.append(["BASE99", "新基地", "A new base", "org_life，theory_study", "现场", 120, "all", "all", True, 40])

    changes = workbook_changes(edit(exported, change), registry, shipped[1], shipped[0])
    assert list(changes) == ["bases.yaml"]
    catalog = load_texts({**shipped[0], **changes}, registry)
    new = catalog.get("BASE99")
    assert new.topics == ("org_life", "theory_study") and new.format == "on_site" and new.capacity == 40
    first = min(r.id for r in shipped[1].resources if r.kind == "base")
    assert catalog.get(first).active is False
    assert {r.id for r in catalog.resources} == {r.id for r in shipped[1].resources} | {"BASE99"}
    # The comments the file opened with (what its author wrote about it) are kept above the new resources.
    head = shipped[0]["bases.yaml"].split("\nkind:")[0]
    assert head.startswith("#") and changes["bases.yaml"].startswith(head + "\nkind: base\n"), changes["bases.yaml"][:300]


def test_each_problem_is_located_by_sheet_and_cell(exported, shipped, registry):
    def change(wb):
        ws = wb["讲师"]
        ws["D17"] = "theroy_study"  # unknown topic
        ws["E18"] = None  # missing field
        ws["A20"] = ws["A5"].value  # duplicate id, told beside the problems of both rows
        ws["D20"] = "theroy_study"
        ws["I5"] = "perhaps"
        ws["I21"] = "maybe"
        wb["基地"]["H5"] = "鼓楼街"

    out = problems_of(edit(exported, change), shipped, registry)
    lec = {c.value: c for c in openpyxl.load_workbook(io.BytesIO(exported))["讲师"]["A"]}
    assert any(p.startswith("讲师!D17: resource ") and "unknown topic 'theroy_study'" in p
               and "did you mean 'theory_study'?" in p for p in out), out
    assert any(p.startswith("讲师!E18: ") and "missing field 'format'" in p for p in out), out
    first = openpyxl.load_workbook(io.BytesIO(exported))["讲师"]["A5"].value
    assert f"讲师!A20: duplicate resource id '{first}' (first at 讲师!A5) (every resource of the catalog needs " \
           "its own id)" in out and lec[first].row == 5
    assert any(p.startswith("讲师!I21: ") and "active must be true or false" in p for p in out)
    assert any(p.startswith("讲师!I5: ") and "active must be true or false" in p for p in out)
    assert any(p.startswith("讲师!D20: ") and "unknown topic 'theroy_study'" in p for p in out)
    assert any(p.startswith("基地!H5: ") and "did you mean '鼓楼街道'?" in p for p in out)
    assert len(out) == 7


def test_formulas_are_refused(exported, shipped, registry):
    out = problems_of(edit(exported, lambda wb: wb["党课"].__setitem__("F4", "=60*2")), shipped, registry)
    assert out == ["党课!F4: a formula (=60*2) where a value belongs (type the value itself, or paste values only "
                   "(a catalog holds no formulas))"]


def test_a_wrong_or_missing_sheet_is_refused(exported, shipped, registry):
    def rename(wb):
        wb["视频党课"].title = "视频"
        wb.create_sheet("Sheet1")

    out = problems_of(edit(exported, rename), shipped, registry)
    assert any(p.startswith("视频: unknown sheet '视频'") and "did you mean '视频党课'?" in p for p in out)
    assert any(p.startswith("Sheet1: unknown sheet") for p in out)
    assert any(p.startswith("视频党课: missing sheet '视频党课'") for p in out)

    def swap(wb):  # the streets table pasted where the lecturers belong
        ws = wb["讲师"]
        ws.delete_rows(1, ws.max_row)
        for row in wb["街道"].iter_rows(values_only=True):
            ws.append(row)

    out = problems_of(edit(exported, swap), shipped, registry)
    assert out[0].startswith("讲师!A2: unknown field 'zh' in the field-id row")
    assert any("no column for field 'id'" in p for p in out)


def test_a_50_mb_file_is_refused_unread(shipped, registry):
    out = problems_of(b"PK" + b"\0" * (50 * 1024 * 1024), shipped, registry)
    assert out == [f"catalog.xlsx: the workbook is {50 * 1024 * 1024 + 2:,} bytes, over the limit of "
                   f"{MAX_XLSX_BYTES:,} (a catalog workbook is well under 1 MB; remove pictures and unused sheets)"]


def test_a_zip_bomb_disguised_as_a_workbook_is_refused_unpacked(exported, shipped, registry):
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(exported)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        with dst.open("xl/media/image1.png", "w") as bomb:
            for _ in range(80):  # 80 MB of zeros, packed into ~80 kB
                bomb.write(bytes(1024 * 1024))
    data = buf.getvalue()
    assert len(data) < 1024 * 1024
    out = problems_of(data, shipped, registry)
    assert len(out) == 1 and "refused as a possible zip bomb" in out[0]


@pytest.mark.parametrize("data, message", [
    (b"not a zip at all", "not an xlsx workbook (not a zip archive)"),
    (b"PK\x05\x06" + bytes(18), "not an xlsx workbook (no xl/workbook.xml)"),
])
def test_what_is_not_a_workbook_is_refused(data, message, shipped, registry):
    assert message in problems_of(data, shipped, registry)[0]


def test_a_broken_workbook_part_is_a_problem_not_a_crash(exported, shipped, registry):
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(exported)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                content = content[: len(content) // 2]  # cut in the middle of the XML
            dst.writestr(info, content)
    out = problems_of(buf.getvalue(), shipped, registry)
    assert len(out) == 1 and "the workbook cannot be read" in out[0]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(1, 500), st.sampled_from(["title_zh", "duration_minutes", "active",
                                                                      "capacity", "topics"])),
                     min_size=1, max_size=6))
def test_edits_read_back_as_the_same_catalog_whatever_they_are(exported, shipped, registry, rows):
    """Any set of plausible edits: the files written back load as exactly the catalog the sheet shows."""
    base = sorted((r for r in shipped[1].resources if r.kind == "video"), key=lambda r: r.id)
    values = {"title_zh": "改过的名称", "duration_minutes": 75, "active": False, "capacity": 9,
              "topics": "openness, dues"}

    def change(wb):
        ws = wb["视频党课"]
        ids = [c.value for c in ws[2]]
        for n, field in rows:
            if field in ids:
                ws.cell(row=3 + n % len(base), column=ids.index(field) + 1, value=values[field])

    data = edit(exported, change)
    try:
        changes = workbook_changes(data, registry, shipped[1], shipped[0])
    except InputError as exc:  # e.g. every video of a topic retired: the coverage check names it
        assert all("has no active" in str(p) or p.file.startswith("视频党课!") for p in exc.problems)
        return
    catalog = load_texts({**shipped[0], **changes}, registry)
    ws = openpyxl.load_workbook(io.BytesIO(data))["视频党课"]
    ids = [c.value for c in ws[2]]
    for row in ws.iter_rows(min_row=3, values_only=True):
        r = catalog.get(row[0])
        assert r.title_zh == row[ids.index("title_zh")] and r.duration_minutes == row[ids.index("duration_minutes")]
        assert r.active is row[ids.index("active")]
        assert ", ".join(r.topics) == row[ids.index("topics")]
