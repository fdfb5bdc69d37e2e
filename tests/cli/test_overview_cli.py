"""`overview`: the command line and the API give the same overview (one pipeline), in every format."""

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from diagnosis_service.cli import main
from diagnosis_service.periods import parse_period, period_str
from diagnosis_service.pipeline.overview import _red_streaks, from_rows
from diagnosis_service.pipeline.rankings import Scope
from diagnosis_service.remedies.catalog_files import load_catalog
from diagnosis_service.rules import load_ruleset
from tests.support.paths import CATALOG, RULES

ARGS = ["overview", "--from", "2025-11", "--to", "2025-12"]


@pytest.fixture(scope="module")
def api_overview(service):
    mine = service.client.get("/v1/overview?from=2025-11&to=2025-12", headers=service.h("street")).get_json()
    district = service.client.get("/v1/overview?from=2025-11&to=2025-12", headers=service.h("admin")).get_json()
    return district, mine


def test_the_command_line_says_what_the_api_says(runner, service, api_overview):
    district, mine = api_overview
    result = runner.invoke(main, [*ARGS, "--data", str(service.data_dir), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == district
    street = mine["scope"]["street"]
    result = runner.invoke(main, [*ARGS, "--data", str(service.data_dir), "--format", "json", "--street", street])
    assert json.loads(result.stdout) == mine
    assert "已诊断 2025-12（2/2）" in result.stderr  # progress in the output's language
    result = runner.invoke(main, [*ARGS, "--data", str(service.data_dir), "--format", "json", "--lang", "en"])
    assert "diagnosed 2025-12 (2/2)" in result.stderr


def test_text_markdown_html_and_xlsx(runner, service, tmp_path):
    data = str(service.data_dir)
    text = runner.invoke(main, [*ARGS, "--data", data]).stdout
    assert text.startswith("党建诊断概览：全区（2025-11 至 2025-12）") and "各街道（镇）对比" in text
    english = runner.invoke(main, [*ARGS, "--data", data, "--lang", "en", "--format", "markdown"]).stdout
    assert english.startswith("# Diagnosis overview: the district") and "| Street |" in english
    # Streets by their English names in English, by the data's Chinese ones in Chinese and in JSON (ids).
    streets = {s["street"] for s in json.loads(runner.invoke(main, [*ARGS, "--data", data, "--format", "json",
                                                                    "--lang", "en"]).stdout)["streets"]}
    named = load_catalog(CATALOG, load_ruleset(RULES).registry).street_en
    assert streets and all(f"| {named(s)} |" in english and s not in english and s in text for s in streets)
    out = tmp_path / "ov.html"
    wrote = runner.invoke(main, [*ARGS, "--data", data, "--format", "html", "--out", str(out)])
    assert wrote.exit_code == 0 and f"已写入 {out}" in wrote.stderr  # the closing line in the output's language
    page = out.read_text(encoding="utf-8")
    assert page.count("<circle") == 8 and "<script" not in page and 'lang="zh-CN"' in page
    book = tmp_path / "ov.xlsx"
    assert runner.invoke(main, [*ARGS, "--data", data, "--format", "xlsx", "--out", str(book)]).exit_code == 0
    wrote = runner.invoke(main, [*ARGS, "--data", data, "--format", "json", "--out", str(tmp_path / "ov.json"),
                                 "--lang", "en"])
    assert wrote.exit_code == 0 and f"wrote {tmp_path / 'ov.json'}" in wrote.stderr
    wb = load_workbook(io.BytesIO(book.read_bytes()))
    assert wb.sheetnames[:3] == ["每月亮灯情况", "主要短板", "最常见的问题"]
    assert [r[0] for r in wb["每月亮灯情况"].iter_rows(values_only=True)] == ["月份", "2025-11", "2025-12"]
    # Every column has a heading of its own (a screen reader, a filter in Excel): no two alike.
    for sheet in wb.worksheets:
        heads = [c for c in next(sheet.iter_rows(values_only=True)) if c]
        assert len(heads) == len(set(heads)), (sheet.title, heads)


def test_several_files_from_one_diagnosis_each_as_its_name_says(runner, service, tmp_path):
    data = [*ARGS, "--data", str(service.data_dir), "--lang", "en"]
    names = ["ov.html", "ov.md", "ov.txt", "ov.json", "ov.xlsx", "ov.other"]
    result = runner.invoke(main, [*data, *(a for n in names for a in ("--out", str(tmp_path / n)))])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("diagnosed 2025-12") == 1, "the months are diagnosed once for all the files"
    assert all(f"wrote {tmp_path / n}" in result.stderr for n in names)
    # Each file is what that format alone gives: JSON keeps the data's street names (ids), the rest show English.
    for name, fmt in (("ov.md", "markdown"), ("ov.txt", "text"), ("ov.other", "text"), ("ov.json", "json"),
                      ("ov.html", "html")):
        alone = runner.invoke(main, [*data, "--format", fmt]).stdout
        assert (tmp_path / name).read_text(encoding="utf-8") == alone, name
    book = load_workbook(io.BytesIO((tmp_path / "ov.xlsx").read_bytes()))
    assert book.sheetnames[0] == "Lamps by month"
    # One --out without --format takes its name's format; with --format, --format decides.
    runner.invoke(main, [*data, "--out", str(tmp_path / "one.html")])
    assert (tmp_path / "one.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    runner.invoke(main, [*data, "--format", "markdown", "--out", str(tmp_path / "two.html")])
    assert (tmp_path / "two.html").read_text(encoding="utf-8").startswith("# Diagnosis overview")


@pytest.mark.parametrize("extra, words", [
    (["--format", "html", "--out", "a.html", "--out", "b.md"], "--format applies to one --out"),
    (["--out", "a.html", "--out", "./a.html"], "a.html is given twice"),
    (["--out", "-", "--out", "-"], "- is given twice"),
    (["--out", "a.html", "--out", "-", "--format", "xlsx"], "--format applies to one --out"),
    (["--format", "xlsx"], "--out"), (["--street", "火星街道"], "streets:"), (["--type", "castle"], "types:"),
    (["--from", "2025-12", "--to", "2025-01"], "Invalid value for --from: 'from' (2025-12) is after"),
    (["--from", "2020-01", "--to", "2025-12"], "Invalid value for --from: 72 months asked"),
    (["--to", "2025-13"], "Invalid value for --to: bad period '2025-13'"),
    (["--from", "2023-01", "--to", "2023-03"], "no data")])
def test_bad_options_say_what_would_be_valid(runner, service, extra, words):
    result = runner.invoke(main, [*ARGS, "--data", str(service.data_dir), *extra])
    assert result.exit_code == 2 and words in result.output and "query." not in result.output


# -- the computation itself, on made-up rows --------------------------------------------------------

LAMP = st.sampled_from(["red", "yellow", "green"])


@st.composite
def district(draw):
    n_months = draw(st.integers(1, 8))
    months = [period_str(parse_period("2025-01") + k) for k in range(n_months)]
    n_branches = draw(st.integers(1, 6))
    rows = []
    for p in months:
        for b in range(n_branches):
            if draw(st.booleans()) and draw(st.booleans()):
                continue  # not every branch every month
            size = draw(st.integers(0, 5))
            red = draw(st.integers(0, size))
            yellow = draw(st.integers(0, size - red))
            rows.append({"period": p, "branch_id": f"B{b}", "name": f"n{b}", "street": f"S{b % 2}", "type": "village",
                         "lamp": draw(LAMP), "members": size, "members_red": red, "members_yellow": yellow,
                         "points_sum": 0.0, "points_n": 0, "ytd_sum": 0.0, "ytd_n": 0,
                         "weaknesses": json.dumps(draw(st.lists(st.sampled_from(["dues", "theory_study"]),
                                                                unique=True))),
                         "findings": "[]", "member_findings": json.dumps({"member_dues_missed": red})})
    return months, rows


@settings(max_examples=150, deadline=None)
@given(district())
def test_the_overview_adds_up(ruleset, case):
    months, rows = case
    out = from_rows(rows, months, ruleset, Scope())
    for m in out["months"]:
        here = [r for r in rows if r["period"] == m["period"]]
        b = m["branches"]
        assert b["total"] == len(here) == b["red"] + b["yellow"] + b["green"]
        assert m["members"]["total"] == sum(r["members"] for r in here)
        assert m["diagnosed"] == bool(here)
        if here:
            assert b["lamp_rate"] == round((b["red"] + b["yellow"]) * 100 / b["total"], 2)
            assert b["red"] == sum(r["lamp"] == "red" for r in here)
            assert sum(s["months"][out["diagnosed"].index(m["period"])]["branches"] for s in out["streets"]) == len(here)
    dues = [f for f in out["findings"] if f["rule"] == "member_dues_missed"]
    assert sum(f["count"] for f in dues) == sum(r["members_red"] for r in rows)
    # A branch is listed as red 2+ months in a row exactly when it was, with its longest run.
    for b in {r["branch_id"] for r in rows}:
        lamps = [next((r["lamp"] for r in rows if r["branch_id"] == b and r["period"] == p), None) for p in months]
        longest = run = 0
        for lamp in lamps:
            run = run + 1 if lamp == "red" else 0
            longest = max(longest, run)
        listed = [x for x in out["persistent_red"] if x["branch_id"] == b]
        assert (longest >= 2) == bool(listed)
        if listed:
            assert listed[0]["months"] == longest and listed[0]["red_months_now"] == run


def test_red_streaks():
    months = ["2025-01", "2025-02", "2025-03", "2025-04"]
    lamps = {"2025-01": "red", "2025-02": "red", "2025-03": "green", "2025-04": "red"}
    assert _red_streaks(months, lamps) == (2, "2025-01", "2025-02", 1)
    assert _red_streaks(months, {}) == (0, None, None, 0)
