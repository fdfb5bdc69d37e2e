"""A served log directory (`simulate loop --out`) is checked before `model train` or `evaluate` read it:
each bad cell at its line and column, exit 2, no traceback, nothing written."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from diagnosis_service.cli import main
from diagnosis_service.pipeline.training import MAX_LOG_PROBLEMS, check_log, check_log_metrics


def _edit(path, line_no: int, column: str, value: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split(",")
    cells = lines[line_no - 1].split(",")
    cells[header.index(column)] = value
    lines[line_no - 1] = ",".join(cells)
    path.write_text("\n".join(lines), encoding="utf-8")


def test_the_simulated_log_passes(loop):
    assert check_log(loop / "log.csv") == [] and check_log_metrics(loop / "branch_metrics.csv") == []


@pytest.mark.parametrize(("column", "value", "says"), [
    ("period", "2024-1", "bad period '2024-1' (YYYY-MM"),
    ("pidx", "7", "bad pidx '7' (the month index"),
    ("propensity", "abc", "bad propensity 'abc' (the probability"),
    ("propensity", "0", "bad propensity '0'"),
    ("propensity", "-1", "bad propensity '-1'"),
    ("status", "decliend", "bad status 'decliend' (one of adopted, completed, declined, ignored)"),
    ("members", "many", "bad members 'many'"),
    ("value", "x", "bad value 'x' (a number, or empty)"),
])
def test_a_bad_cell_is_told_at_its_line_and_column(loop, tmp_path, column, value, says):
    copy = tmp_path / "loop"
    shutil.copytree(loop, copy)
    _edit(copy / "log.csv", 3, column, value)
    found = check_log(copy / "log.csv")
    assert len(found) == 1 and str(found[0]).startswith(f"{copy / 'log.csv'}:3:{column}: {says}"), found
    for command in (["model", "train", "--lang", "en", "--from", str(copy), "--out", str(tmp_path / "m.json")],
                    ["model", "evaluate", "--lang", "en", "--from", str(copy), "--policy", "prior"]):
        r = CliRunner().invoke(main, command)
        assert r.exit_code == 2 and f"log.csv:3:{column}: {says}" in r.output, (command, r.output)
        assert "Traceback" not in r.output
    assert not (tmp_path / "m.json").exists()


def test_missing_files_columns_and_many_bad_rows(loop, tmp_path):
    copy = tmp_path / "loop"
    shutil.copytree(loop, copy)
    (copy / "branch_metrics.csv").unlink()
    r = CliRunner().invoke(main, ["model", "train", "--lang", "en", "--from", str(copy), "--out", str(tmp_path / "m.json")])
    assert r.exit_code == 2 and "has no branch_metrics.csv" in r.output and "Traceback" not in r.output, r.output
    shutil.copy(loop / "branch_metrics.csv", copy)
    log = copy / "log.csv"
    text = log.read_text(encoding="utf-8")
    log.write_text(text.replace(",propensity,", ",prob,", 1), encoding="utf-8")
    assert "missing column(s) propensity" in str(check_log(log)[0])
    rows = text.split("\n")
    header = rows[0].split(",")
    at = header.index("status")
    broken = [rows[0]] + [",".join(c[:at] + ["?"] + c[at + 1:]) for c in (r.split(",") for r in rows[1:] if r)]
    log.write_text("\n".join(broken) + "\n", encoding="utf-8")
    found = check_log(log)
    assert len(found) == MAX_LOG_PROBLEMS + 1 and found[-1].message == \
        f"and {len(broken) - 1 - MAX_LOG_PROBLEMS} more bad value(s)"
    assert [p.line for p in found[:-1]] == list(range(2, 2 + MAX_LOG_PROBLEMS))
    _edit(copy / "branch_metrics.csv", 4, "theory_study_sessions", "two")
    assert [f"{p.line}:{p.column}" for p in check_log_metrics(copy / "branch_metrics.csv")] == \
        ["4:theory_study_sessions"]


def test_a_log_with_its_header_alone_has_nothing_to_learn_and_says_so(loop, tmp_path):
    copy = tmp_path / "loop"
    shutil.copytree(loop, copy)
    header = (copy / "log.csv").read_text(encoding="utf-8").splitlines()[0]
    (copy / "log.csv").write_text(header + "\n", encoding="utf-8")
    assert check_log(copy / "log.csv") == []
    r = CliRunner().invoke(main, ["model", "train", "--lang", "en", "--from", str(copy), "--out", str(tmp_path / "c.json")])
    assert r.exit_code == 2 and "no served prescription has a measurable outcome yet" in r.stderr, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_a_list_logged_twice_is_told_at_its_second_line(loop, tmp_path):
    copy = tmp_path / "loop"
    shutil.copytree(loop, copy)
    lines = (copy / "log.csv").read_text(encoding="utf-8").splitlines()
    (copy / "log.csv").write_text("\n".join([*lines[:5], lines[3], *lines[5:]]) + "\n", encoding="utf-8")
    found = check_log(copy / "log.csv")
    assert [str(p) for p in found] == [f"{copy / 'log.csv'}:6:topic: a list logged twice: topic {lines[3].split(',')[3]!r} (one list "
                                       "per branch, month and weakness (topic): an earlier row has this row's branch, "
                                       "period and topic)"]
    r = CliRunner().invoke(main, ["model", "train", "--lang", "en", "--from", str(copy), "--out", str(tmp_path / "m.json")])
    assert r.exit_code == 2 and "log.csv:6:topic:" in r.stderr and not (tmp_path / "m.json").exists()
