import csv
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnosis_service.cli import main
from diagnosis_service.data.csvdir import load_dir
from diagnosis_service.errors import InputError


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def edit_cell(path: Path, line: int, column: str, value: str) -> None:
    """Set one cell, addressed as an editor would: line number (header = 1) and column name."""
    rows = read_rows(path)
    rows[line - 1][rows[0].index(column)] = value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def problems_of(directory: Path, registry) -> list[str]:
    with pytest.raises(InputError) as exc:
        load_dir(directory, registry)
    assert exc.value.exit_code == 2
    return [str(p) for p in exc.value.problems]


def test_clean_directory_loads(small_district, ruleset):
    ds = load_dir(small_district, ruleset.registry)
    assert len(ds.branches) == 60 and len(ds.members) == 900
    assert ds.periods()[0] == "2025-01" and ds.periods()[-1] == "2025-12"
    assert ds.member_metrics["study_test_score"].isna().any(), "empty cells are missing values"


@pytest.mark.parametrize(("file", "line", "column", "value", "expected"), [
    ("member_metrics.csv", 5, "dues_paid", "yes", "member_metrics.csv:5:dues_paid: bad number 'yes' for dues_paid (flag) (write a whole number, from 0 to 1, or leave the cell empty"),
    ("member_metrics.csv", 5, "dues_paid", "NA", "member_metrics.csv:5:dues_paid: bad number 'NA'"),
    ("member_metrics.csv", 7, "dues_paid", "2", "member_metrics.csv:7:dues_paid: dues_paid = 2 is out of range (flag: 0 to 1)"),
    ("branch_metrics.csv", 3, "dues_on_time_rate", "100.5", "branch_metrics.csv:3:dues_on_time_rate: dues_on_time_rate = 100.5 is out of range"),
    ("branch_metrics.csv", 4, "group_meetings", "-1", "branch_metrics.csv:4:group_meetings: group_meetings = -1 is out of range"),
    ("branch_metrics.csv", 4, "group_meetings", "1x", "branch_metrics.csv:4:group_meetings: bad number '1x' for group_meetings (count) (write a whole number, "),
    ("branch_metrics.csv", 4, "dues_on_time_rate", "9o", "branch_metrics.csv:4:dues_on_time_rate: bad number '9o' for dues_on_time_rate (percent) (write a plain number, from 0 to 100,"),
    ("branch_metrics.csv", 4, "group_meetings", "1.5", "branch_metrics.csv:4:group_meetings: group_meetings = 1.5 must be a whole number"),
    ("branch_metrics.csv", 4, "star_rating", "0", "branch_metrics.csv:4:star_rating: star_rating = 0 is out of range (rating: 1 to 5)"),
    ("branch_metrics.csv", 6, "branch_id", "B99999", "branch_metrics.csv:6:branch_id: unknown branch 'B99999'"),
    ("member_metrics.csv", 9, "member_id", "M999999", "member_metrics.csv:9:member_id: unknown member 'M999999'"),
    ("branch_metrics.csv", 2, "period", "2025-13", "branch_metrics.csv:2:period: bad period '2025-13' (write it as YYYY-MM"),
    ("member_metrics.csv", 2, "period", "2025/03", "member_metrics.csv:2:period: bad period '2025/03'"),
    ("members.csv", 4, "branch_id", "B77777", "members.csv:4:branch_id: unknown branch 'B77777'"),
    ("branches.csv", 3, "type", "factory", "branches.csv:3:type: type 'factory' is not valid (one of village"),
    ("branches.csv", 3, "branch_id", "B00001", "branches.csv:3:branch_id: duplicate branch_id 'B00001' (first at line 2)"),
    ("branches.csv", 3, "name", "", "branches.csv:3:name: name is empty"),
    ("branches.csv", 3, "branch_id", "../B1", "branches.csv:3:branch_id: branch_id '../B1' is not a usable id"),
    ("members.csv", 5, "member_id", "M 1", "members.csv:5:member_id: member_id 'M 1' is not a usable id"),
])
def test_each_kind_of_bad_cell_is_located(district_copy, ruleset, file, line, column, value, expected):
    edit_cell(district_copy / file, line, column, value)
    problems = problems_of(district_copy, ruleset.registry)
    assert any(p.startswith(str(district_copy / expected.split(":")[0]) + ":" + ":".join(expected.split(":")[1:]))
               for p in problems), problems


def test_duplicate_rows_and_header_problems(district_copy, ruleset):
    path = district_copy / "branch_metrics.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].replace("theory_study_sessions", "theory_study_sesions") + ",org_life_sessions"
    body = [line + "," for line in lines[1:]] + [lines[3] + ","]
    path.write_text("\n".join([header] + body) + "\n", encoding="utf-8")
    problems = problems_of(district_copy, ruleset.registry)
    name = str(path)
    assert f"{name}:1:theory_study_sesions: unknown column 'theory_study_sesions' (did you mean 'theory_study_sessions'?)" in problems
    assert f"{name}:1:theory_study_sessions: missing column 'theory_study_sessions'" in problems
    assert any(p.startswith(f"{name}:1:org_life_sessions: 'org_life_sessions' is derived by the service") for p in problems)
    # A column written twice is told by the name written, not by the one pandas gives the copy ('x.1').
    path.write_text("\n".join(f"{line},{line.split(',')[1]}" for line in lines) + "\n", encoding="utf-8")
    column = lines[0].split(",")[1]
    header_problems = [p for p in problems_of(district_copy, ruleset.registry) if p.startswith(f"{name}:1:")]
    assert header_problems == [f"{name}:1:{column}: duplicate column '{column}' (each column once)"], header_problems


def test_duplicate_key_row(district_copy, ruleset):
    path = district_copy / "member_metrics.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines + [lines[10]]) + "\n", encoding="utf-8")
    problems = problems_of(district_copy, ruleset.registry)
    member = lines[10].split(",")[1]
    assert f"{path}:{len(lines) + 1}:member_id: duplicate row for member_id '{member}' in period 2025-01 " \
           f"(one row per subject and period)" in problems


def test_every_problem_in_every_file_is_listed(district_copy, ruleset):
    edit_cell(district_copy / "member_metrics.csv", 5, "dues_paid", "7")
    edit_cell(district_copy / "member_metrics.csv", 8, "volunteer_hours", "lots")
    edit_cell(district_copy / "branch_metrics.csv", 2, "period", "bad")
    edit_cell(district_copy / "branches.csv", 2, "type", "")
    problems = problems_of(district_copy, ruleset.registry)
    assert len(problems) == 4, problems


def test_a_files_problems_are_listed_in_line_order(district_copy, ruleset):
    """Columns are checked one after another: the problems they find are told line by line."""
    edits = [("member_metrics.csv", 8, "dues_paid", "7"), ("member_metrics.csv", 6, "volunteer_hours", "lots"),
             ("member_metrics.csv", 7, "dues_paid", "9"), ("branches.csv", 3, "type", "")]
    for name, line, column, value in edits:
        edit_cell(district_copy / name, line, column, value)
    problems = problems_of(district_copy, ruleset.registry)
    files = [p.split(":")[0].rsplit("/", 1)[-1] for p in problems]
    lines = [int(p.split(":")[1]) for p in problems if "member_metrics.csv" in p.split(":")[0]]
    assert len(problems) == 4 and lines == [6, 7, 8], problems
    assert files == sorted(files, key=files.index), "a file's problems stay together"


def test_line_numbers_follow_quoted_cells_over_several_lines(district_copy, ruleset):
    edit_cell(district_copy / "branches.csv", 2, "name", "第一行\n第二行")
    edit_cell(district_copy / "branches.csv", 5, "type", "bogus")
    problems = problems_of(district_copy, ruleset.registry)
    assert any(p.startswith(f"{district_copy / 'branches.csv'}:6:type:") for p in problems), problems


def test_missing_files_not_utf8_and_empty(district_copy, ruleset):
    (district_copy / "members.csv").unlink()
    (district_copy / "branch_metrics.csv").write_bytes("period,branch_id\n2025-01,\xff\n".encode("latin-1"))
    (district_copy / "member_metrics.csv").write_text("", encoding="utf-8")
    problems = problems_of(district_copy, ruleset.registry)
    assert any("members.csv: file not found" in p for p in problems)
    assert any("branch_metrics.csv:2:9: not UTF-8 text" in p for p in problems), problems
    assert any("member_metrics.csv:1: file is empty" in p for p in problems)


def test_cli_exit_2_and_nothing_written(district_copy, tmp_path, runner):
    edit_cell(district_copy / "member_metrics.csv", 5, "dues_paid", "9")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(main, ["diagnose", "--data", str(district_copy), "--period", "2025-12", "--out", str(out)])
    assert result.exit_code == 2
    assert f"{district_copy / 'member_metrics.csv'}:5:dues_paid: dues_paid = 9 is out of range" in result.stderr
    assert "错误：1 个输入问题；未写入任何内容\n" in result.stderr  # the summary in the command's language
    assert not out.exists()
    english = runner.invoke(main, ["diagnose", "--lang", "en", "--data", str(district_copy), "--period", "2025-12",
                                   "--out", str(out)])
    assert english.exit_code == 2 and "error: 1 input problem(s); nothing was written\n" in english.stderr
    # Without --out the command writes nothing anyway: its error does not say it did not.
    summary = runner.invoke(main, ["diagnose", "--data", str(district_copy), "--period", "2025-12"])
    assert summary.exit_code == 2 and "错误：1 个输入问题\n" in summary.stderr
    info = runner.invoke(main, ["model", "info", "--lang", "en", "--model", str(tmp_path / "none.json")])
    assert info.exit_code == 1 and "error: 1 model problem(s)\n" in info.stderr
    out.write_text("previous results\n", encoding="utf-8")
    result = runner.invoke(main, ["diagnose", "--data", str(district_copy), "--period", "2025-12", "--out", str(out)])
    assert result.exit_code == 2 and out.read_text(encoding="utf-8") == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out.jsonl"], "no temp file left behind"


def test_empty_cell_is_missing_never_guessed(district_copy, ruleset):
    path = district_copy / "branch_metrics.csv"
    rows = read_rows(path)
    target = next(i for i, r in enumerate(rows) if r[0] == "2025-12" and r[1] == "B00003") + 1
    edit_cell(path, target, "theory_study_sessions", "")
    ds = load_dir(district_copy, ruleset.registry)
    value = ds.branch_metrics.query("period == '2025-12' and branch_id == 'B00003'")["theory_study_sessions"]
    assert np.isnan(value.iloc[0])


def test_bytes_that_are_not_utf8_and_an_unclosed_quote_are_placed_at_their_line(district_copy, ruleset):
    branches = district_copy / "branches.csv"
    lines = branches.read_bytes().split(b"\n")
    lines[40] = lines[40].replace(b",", b",\xe7\xac\xac\xff", 1)  # line 41: a character, then a bad byte
    branches.write_bytes(b"\n".join(lines))
    metrics = district_copy / "member_metrics.csv"
    rows = metrics.read_text(encoding="utf-8").split("\n")
    rows[1199] = rows[1199].replace(",", ',"', 1)  # line 1200: a quote never closed
    metrics.write_text("\n".join(rows), encoding="utf-8")
    problems = problems_of(district_copy, ruleset.registry)
    column = len(lines[40].split(b",")[0].decode()) + 3  # after the comma and the character
    assert any(p.startswith(f"{branches}:41:{column}: not UTF-8 text") for p in problems), problems
    assert any(p.startswith(f"{metrics}:1200: malformed CSV: a quoted field is never closed") for p in problems), problems


@pytest.mark.parametrize("chunk_rows", [None, 100_000])
def test_a_word_far_down_a_number_column_reads_without_pandas_warnings(tmp_path, chunk_rows):
    """pandas guesses a column's type by blocks and warns (DtypeWarning) when a late block disagrees; every
    value is checked after reading anyway (the bad number is reported with its row), so the warning is
    noise before the real error. The suite turns warnings into errors: this proves none escapes."""
    from diagnosis_service.data.csvdir import read_chunks
    from diagnosis_service.data.validate import Problems

    # Wide, so that pandas' blocks (about 2**20 / columns rows) are smaller than a chunk of 100,000 rows:
    # the word lies in a later block of the first chunk.
    path = tmp_path / "member_metrics.csv"
    numbers = ",".join("1" for _ in range(40))
    rows = [f"2025-12,M{i:06d},{numbers}" for i in range(100_000)]
    rows[90_000] = f"2025-12,M090000,many,{numbers[2:]}"
    header = ",".join(["period", "member_id", *(f"c{k}" for k in range(40))])
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    problems = Problems()
    frames = [f for f, _ in read_chunks(path, problems, ("period", "member_id"), chunk_rows=chunk_rows)]
    assert not problems.items and sum(len(f) for f in frames) == 100_000
    assert frames[0]["c0"].iloc[90_000] == "many"


@pytest.mark.parametrize("text, line", [
    ('a,b\n1,"multi\nline"\n2,2\n3,"open\n4,4\n', 5),
    ('a,b\n1,1\n\n2,2\n3,"open\n4,4\n', 5),
    ('a,b\n1,"x\ny"\n\n2,2\n\n3,"open\n4,4\n', 7),
])
def test_an_unclosed_quote_is_placed_at_its_line_after_blank_lines_and_cells_over_lines(tmp_path, text, line):
    from diagnosis_service.data.csvdir import read_chunks
    from diagnosis_service.data.validate import Problems

    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8")
    problems = Problems()
    list(read_chunks(path, problems))
    assert [str(p) for p in problems.items] == [f"{path}:{line}: malformed CSV: a quoted field is never closed "
                                                 '(a " without its pair)']


def test_a_row_cut_short_is_refused_not_read_as_missing_values(district_copy, ruleset, tmp_path):
    """pandas pads a row with fewer cells than the header with missing values: a row that lost its last
    cells, or a file cut off in the middle of a row, would be stored as empty cells. Each is told at its line
    with the first missing column; a row whose last cells are empty between commas is data, as before."""
    metrics = district_copy / "member_metrics.csv"
    lines = metrics.read_text(encoding="utf-8").split("\n")
    header = lines[0].split(",")
    lines[4999] = ",".join(lines[4999].split(",")[:5])  # line 5000: five cells left
    lines[5009] = ",".join(lines[5009].split(",")[:-3]) + ",,,"  # line 5010: its last three cells empty
    metrics.write_text("\n".join(lines), encoding="utf-8")
    branches = district_copy / "branch_metrics.csv"
    text = branches.read_text(encoding="utf-8").rstrip("\n")
    cut = text[:-7]  # cut off in the middle of its last row
    branches.write_text(cut, encoding="utf-8")
    last_line, last_cells = cut.count("\n") + 1, cut.rsplit("\n", 1)[1].count(",") + 1
    branch_header = text.split("\n", 1)[0].split(",")
    problems = problems_of(district_copy, ruleset.registry)
    assert problems == [
        f"{branches}:{last_line}:{branch_header[last_cells]}: row has {last_cells} fields, the header has "
        f"{len(branch_header)}: the cells from '{branch_header[last_cells]}' on are missing (give every row a cell "
        "for each column of the header (an empty cell between two commas is a missing value); a file that ends "
        "like this was cut short)",
        f"{metrics}:5000:{header[5]}: row has 5 fields, the header has {len(header)}: the cells from "
        f"'{header[5]}' on are missing (give every row a cell for each column of the header (an empty cell between "
        "two commas is a missing value); a file that ends like this was cut short)"], problems


def test_a_row_cut_short_is_refused_by_import_and_nothing_is_stored(district_copy, tmp_path, runner, monkeypatch):
    """The import checks a chunk at a time (``data.csvstream``): a row cut short in a later chunk fails it
    whole, as a bad cell does."""
    metrics = district_copy / "member_metrics.csv"
    lines = metrics.read_text(encoding="utf-8").split("\n")
    lines[-3] = ",".join(lines[-3].split(",")[:2])
    metrics.write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    r = runner.invoke(main, ["import", str(district_copy)])
    assert r.exit_code == 2, r.output
    assert f"{metrics}:{len(lines) - 2}:" in r.output and "row has 2 fields" in r.output
    from sqlalchemy import create_engine, text
    with create_engine(f"sqlite:///{tmp_path / 'store.db'}").connect() as conn:
        assert conn.execute(text("select count(*) from member_metrics")).scalar() == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_exactly_the_rows_cut_short_are_told_at_their_lines(tmp_path, data):
    """Random files (quoted cells with commas and newlines or not, a quoted empty cell, blank and
    whitespace-only lines, empty last cells, LF, CRLF or bare CR, read whole or in chunks): the problems name
    exactly the rows cut short, at their lines as an editor numbers them."""
    from diagnosis_service.data.csvdir import read_chunks
    from diagnosis_service.data.validate import Problems

    width = data.draw(st.integers(2, 6))
    quoted = data.draw(st.booleans())
    newline = data.draw(st.sampled_from(["\n", "\r\n", "\r"]))
    cell = st.sampled_from(["1", "x", "", "22"] + (['"a,b"', '"two\nlines"'] if quoted else []))
    out, line, cut_lines = [",".join(f"c{k}" for k in range(width))], 1, []
    for _ in range(data.draw(st.integers(1, 40))):
        for _ in range(data.draw(st.integers(0, 1))):
            out.append(data.draw(st.sampled_from(["", "  ", "\t"])))
            line += 1
        cells = [data.draw(cell) for _ in range(width)]
        cells[0] = data.draw(st.sampled_from(["1", "x", '"q"', '""'] if quoted else ["1", "x"]))  # never blank
        keep = data.draw(st.integers(1, width))
        row = ",".join(cells[:keep])
        line += 1
        if keep < width:
            cut_lines.append(line)
        out.append(row)
        line += row.count("\n")
    path = tmp_path / "x.csv"
    path.write_bytes(("\n".join(out) + "\n").replace("\n", newline).encode())
    problems = Problems()
    frames = list(read_chunks(path, problems, chunk_rows=data.draw(st.sampled_from([None, 1, 7]))))
    assert sum(len(f) for f, _ in frames) == len(out) - 1 - sum(1 for r in out[1:] if not r.strip())
    assert [p.line for p in problems.items] == cut_lines, (out, [str(p) for p in problems.items])


def test_a_control_character_in_an_id_is_refused_and_shown_escaped(district_copy, ruleset):
    """A NUL (or another control character) in an id cannot be an address's segment, and printed as itself
    it looks like a space or like nothing: the id is refused, and each message shows it escaped."""
    metrics = district_copy / "member_metrics.csv"
    lines = metrics.read_text(encoding="utf-8").split("\n")
    member = lines[99].split(",")[1]
    lines[99] = lines[99].replace(f",{member},", f",\x00{member},", 1)  # line 100
    metrics.write_text("\n".join(lines), encoding="utf-8")
    problems = [p for p in problems_of(district_copy, ruleset.registry) if ":100:" in p]
    assert problems and all("\x00" not in p for p in problems), problems
    assert any(f"member_id '\\x00{member}' is not a usable id" in p and "control characters" in p
               for p in problems), problems


@pytest.mark.parametrize("quote", ["", '"'])
def test_a_file_of_short_rows_lists_the_first_and_counts_the_rest(tmp_path, quote):
    from diagnosis_service.data.csvdir import read_chunks
    from diagnosis_service.data.validate import MAX_PROBLEMS, Problems

    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n" + "".join(f"{quote}{i}{quote},{i}\n" for i in range(MAX_PROBLEMS + 2345)),
                    encoding="utf-8")
    problems = Problems()
    frames = list(read_chunks(path, problems, chunk_rows=500))
    assert sum(len(f) for f, _ in frames) == MAX_PROBLEMS + 2345
    assert len(problems.items) == MAX_PROBLEMS and problems.dropped == 2345
    assert [p.line for p in problems.items[:3]] == [2, 3, 4] and problems.items[-1].line == MAX_PROBLEMS + 1
