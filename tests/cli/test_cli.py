"""The command line as a new user meets it: simulate, diagnose, report, explain, rule tests."""

import gc
import json
import shutil
from pathlib import Path

import pytest

from diagnosis_service.cli import main
from diagnosis_service.cli.common import collections_paused
from tests.support.paths import RULES


def test_simulate_is_deterministic_for_a_seed(runner, tmp_path):
    args = ["simulate", "--branches", "20", "--members", "200", "--months", "3", "--end", "2025-03"]
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        result = runner.invoke(main, args + ["--seed", str(seed), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert "20 个支部、200 名党员，3 个月（2025-01 至 2025-03）" in result.stdout
    for file in ("branches.csv", "members.csv", "branch_metrics.csv", "member_metrics.csv"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    assert (tmp_path / "a" / "member_metrics.csv").read_bytes() != (tmp_path / "c" / "member_metrics.csv").read_bytes()


def test_simulate_rejects_bad_sizes(runner, tmp_path):
    result = runner.invoke(main, ["simulate", "--out", str(tmp_path / "x"), "--branches", "10", "--members", "5"])
    assert result.exit_code == 2 and "--members: must be at least the number of branches" in result.output
    result = runner.invoke(main, ["simulate", "--out", str(tmp_path / "x"), "--end", "2025-13"])
    assert result.exit_code == 2 and "bad period" in result.output


def test_diagnose_writes_identical_json_lines(runner, small_district, tmp_path):
    outs = []
    for name in ("one.jsonl", "two.jsonl"):
        out = tmp_path / name
        result = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12",
                                      "--out", str(out)])
        assert result.exit_code == 0, result.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    objects = [json.loads(line) for line in outs[0].decode("utf-8").splitlines()]
    subjects = [o["subject"] for o in objects]
    assert subjects == sorted(subjects), "all branches first, then all members"
    branches = [o for o in objects if o["subject"] == "branch"]
    members = [o for o in objects if o["subject"] == "member"]
    assert len(branches) == 60 and [b["id"] for b in branches] == sorted(b["id"] for b in branches)
    assert all(o["period"] == "2025-12" for o in objects)
    assert {b["lamp"] for b in branches} <= {"red", "yellow", "green"}
    assert all(isinstance(m["vanguard_points"], (int, float)) for m in members)


def test_diagnose_pauses_garbage_collection_and_gives_it_back(runner, small_district, tmp_path):
    assert gc.isenabled()
    collections = {}
    for engine in ("vectorized", "durable"):
        seen = []

        def count(phase, info, seen=seen):
            if phase == "start":
                seen.append(info["generation"])

        gc.callbacks.append(count)
        try:
            result = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12",
                                          "--engine", engine, "--out", str(tmp_path / f"{engine}.jsonl")])
        finally:
            gc.callbacks.remove(count)
        assert result.exit_code == 0, result.output
        assert gc.isenabled(), "the command left collections off in a process that goes on"
        collections[engine] = len(seen)
    # The durable engine's cyclic garbage is collected as it goes; the vectorized month pauses them.
    assert collections["durable"] > 20 and collections["vectorized"] < collections["durable"] / 5, collections
    with pytest.raises(RuntimeError), collections_paused():
        assert not gc.isenabled()
        raise RuntimeError("a failure inside")
    assert gc.isenabled()
    gc.disable()
    try:
        with collections_paused():
            pass
        assert not gc.isenabled(), "a caller that had them off keeps them off"
    finally:
        gc.enable()


def test_diagnose_summary_in_chinese_and_english(runner, small_district):
    zh = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12"])
    assert zh.exit_code == 0, zh.output
    assert "支部亮灯：红灯" in zh.stdout and "主要短板（支部数）" in zh.stdout
    en = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12", "--lang", "en"])
    assert "Branch lamps: red" in en.stdout and "Top weaknesses (branches)" in en.stdout


def test_diagnose_bad_period(runner, small_district):
    result = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-1"])
    assert result.exit_code == 2 and "bad period '2025-1'" in result.stderr
    result = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2030-01"])
    assert result.exit_code == 2
    assert "no data for period 2030-01 (periods in the data: 2025-01 to 2025-12)" in result.stderr


def test_explain_says_why(runner, small_district):
    result = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12",
                                  "--explain", "B00002", "--lang", "en"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Rules for B00002 in 2025-12")
    assert "theory_study_below_average [yellow]" in out
    assert "2025-12: theory_study_sessions = " in out and "< district mean = " in out
    assert "2025-11: org_life_sessions = " in out, "the two-month rule shows both months"
    result = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12",
                                  "--explain", "NOPE"])
    assert result.exit_code == 2 and "no branch or member 'NOPE'" in result.output


def test_branch_report_in_both_languages(runner, small_district):
    zh = runner.invoke(main, ["report", "--data", str(small_district), "--period", "2025-12", "--branch", "B00002"])
    assert zh.exit_code == 0, zh.output
    for heading in ("亮灯情况", "行动清单", "本月计划（最多三项）", "近六个月", "党员情况"):
        assert f"\n{heading}\n" in zh.stdout, heading
    assert zh.stdout.startswith("支部党建诊疗报告 · ") and "亮灯：" in zh.stdout and "催缴名单" in zh.stdout
    en = runner.invoke(main, ["report", "--data", str(small_district), "--period", "2025-12", "--branch", "B00002",
                              "--lang", "en"])
    assert en.stdout.startswith("Branch diagnosis report · ") and "Vanguard points:" in en.stdout
    assert "This month's plan (three at most)" in en.stdout and "Type: village Party organisation" in en.stdout
    bad = runner.invoke(main, ["report", "--data", str(small_district), "--period", "2025-12", "--branch", "B0"])
    assert bad.exit_code == 2 and "no branch 'B0'" in bad.output


def test_rules_test_command_passes_and_fails_with_a_diff(runner, tmp_path):
    result = runner.invoke(main, ["rules", "test", "--rules", str(RULES)])
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(" 个通过，0 个失败") and result.stdout.startswith("通过 ")
    en = runner.invoke(main, ["rules", "test", "--rules", str(RULES), "--lang", "en"])
    assert en.stdout.startswith("PASS ") and en.stdout.rstrip().endswith(" passed, 0 failed")
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    test_file = copy / "tests" / "member_lamps_test.yaml"
    text = test_file.read_text(encoding="utf-8")
    test_file.write_text(text.replace("M6: {lamp: red", "M6: {lamp: green", 1), encoding="utf-8")
    result = runner.invoke(main, ["rules", "test", "--rules", str(copy)])
    assert result.exit_code == 1
    assert "失败 " in result.stdout and "-  lamp: green" in result.stdout and "+  lamp: red" in result.stdout
    assert "--- 预期" in result.stdout and "+++ 实际" in result.stdout
    assert result.stdout.rstrip().endswith(" 个通过，1 个失败")


def test_rules_test_reports_bad_test_files(runner, tmp_path):
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    (copy / "tests" / "broken_test.yaml").write_text(
        "tests:\n  - name: bad\n    period: 2025-06\n    branches: {B1: {series: {theory_study_sesions: '1'}}}\n"
        "    expect: {branches: {B1: {lamp: green}}}\n", encoding="utf-8")
    result = runner.invoke(main, ["rules", "test", "--rules", str(copy), str(copy / "tests" / "broken_test.yaml")])
    assert result.exit_code == 1
    assert "broken_test.yaml:2: bad" in result.stdout and "theory_study_sesions" in result.stdout
    # Said at the line and column of the misspelt id, with what it may have meant.
    assert "broken_test.yaml:4:30: unknown branch indicator 'theory_study_sesions' in a series (did you mean " \
           "'theory_study_sessions'?)" in result.stdout, result.stdout
    # A misspelt indicator among the expected values is a mistake in the test, not a value that differs.
    (copy / "tests" / "broken_test.yaml").write_text(
        "tests:\n  - name: bad\n    period: 2025-06\n    branches: {B1: {series: {theory_study_sessions: '1'}}}\n"
        "    expect:\n      branches:\n        B1: {lamp: green, values: {theory_study_sesions: 1}}\n", encoding="utf-8")
    result = runner.invoke(main, ["rules", "test", "--rules", str(copy), str(copy / "tests" / "broken_test.yaml")])
    assert result.exit_code == 1 and "+  values" not in result.stdout  # no diff: the test is wrong
    assert "broken_test.yaml:7:36: unknown branch indicator 'theory_study_sesions' in values (did you mean " \
           "'theory_study_sessions'?)" in result.stdout, result.stdout
    # A test file copied out of tests/ still takes the rules' shared defaults (its rows would miss them).
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(copy / "tests" / "member_lamps_test.yaml", alone)
    result = runner.invoke(main, ["rules", "test", "--rules", str(RULES), str(alone / "member_lamps_test.yaml")])
    assert result.exit_code == 0 and "，0 个失败" in result.stdout, result.stdout
    # The shared defaults named as if they were tests: told what the file is.
    result = runner.invoke(main, ["rules", "test", "--rules", str(copy), str(copy / "tests" / "defaults.yaml")])
    assert result.exit_code == 1 and "defaults.yaml holds the row defaults" in result.stdout


def test_help_and_version(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0 and "diagnose" in result.stdout and "simulate" in result.stdout
    assert runner.invoke(main, ["--version"]).stdout.startswith("diagnosis-service, version ")


def test_store_commands_on_a_database_without_a_schema_say_what_to_run(runner, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "DIAGNOSIS_MODELS": str(tmp_path)}
    for args in (["model", "train"], ["model", "evaluate"], ["tokens", "list"],
                 ["tokens", "create", "--role", "admin", "--name", "a"]):
        r = runner.invoke(main, args, env=env)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.strip().splitlines() == [
            f"the database (sqlite:///{tmp_path / 'empty.db'}) has no schema (run `diagnosis-service db upgrade`)"], args
        assert "Traceback" not in r.output


def test_commands_that_replace_their_output_never_delete_what_is_not_theirs(runner, district_copy, tmp_path):
    """`data convert`, `simulate` and `simulate --scale` replace OUT whole: they refuse (exit 2, nothing
    touched) an OUT that is their own input, a file, or a directory holding other files; they replace an
    earlier output of their own."""
    before = {p.name: p.read_bytes() for p in district_copy.iterdir()}
    for out in (district_copy, district_copy / "inside", district_copy.parent):
        r = runner.invoke(main, ["data", "convert", str(district_copy), str(out)])
        assert r.exit_code == 2 and "is, holds or lies in the input" in r.output, r.output
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    small = ["--branches", "10", "--members", "60", "--months", "2", "--end", "2025-02"]
    for args in (["data", "convert", str(district_copy), str(notes)], ["simulate", *small, "--out", str(notes)],
                 ["simulate", *small, "--scale", "1", "--out", str(notes)],
                 ["simulate", *small, "--out", str(notes / "notes.txt")]):
        r = runner.invoke(main, args)
        assert r.exit_code == 2 and ("holds files that are not" in r.output or "is a file" in r.output), (args, r.output)
    r = runner.invoke(main, ["simulate", "loop", "--out", str(district_copy), "--branches", "20", "--members", "200"])
    # A data directory is not a loop's: its files a loop would not write are named (a loop has a
    # branch_metrics.csv too).
    assert r.exit_code == 2 and "(branches.csv, member_metrics.csv, members.csv)" in r.output, r.output
    (tmp_path / "stdout").symlink_to("/proc/self/fd/1")
    for out in ("-", str(tmp_path / "stdout")):
        for args in (["simulate", *small, "--out", out], ["data", "convert", str(district_copy), out]):
            r = runner.invoke(main, args)
            assert r.exit_code == 2 and "is not a directory path" in r.output, (args, r.output)
    assert not (tmp_path / "-").exists() and Path("-").exists() is False
    assert (notes / "notes.txt").read_text() == "mine" and [p.name for p in notes.iterdir()] == ["notes.txt"]
    assert {p.name: p.read_bytes() for p in district_copy.iterdir()} == before
    for args in (["simulate", *small, "--out", str(tmp_path / "sim")], ["simulate", *small, "--out", str(tmp_path / "sim")],
                 ["data", "convert", str(tmp_path / "sim"), str(tmp_path / "ds")],
                 ["data", "convert", str(tmp_path / "sim"), str(tmp_path / "ds")]):
        r = runner.invoke(main, args)  # the second time, an earlier output of its own: replaced
        assert r.exit_code == 0, (args, r.output)


def test_an_output_file_never_replaces_or_joins_the_inputs(runner, district_copy, tmp_path):
    """`--out` naming one of the command's inputs (a data file, the rules or the catalog, a history file)
    or a file their readers would take (CSV, YAML, Parquet) in an input directory is refused, exit 2,
    nothing written; another kind of file beside the inputs is written."""
    import shutil

    catalog = tmp_path / "catalog"
    shutil.copytree(Path(__file__).resolve().parents[2] / "resources_catalog", catalog)
    history = tmp_path / "history.jsonl"
    history.write_text("", encoding="utf-8")
    before = {p: p.read_bytes() for d in (district_copy, catalog) for p in d.iterdir() if p.is_file()}
    diagnose = ["diagnose", "--data", str(district_copy), "--period", "2025-12", "--catalog", str(catalog), "--out"]
    overview = ["overview", "--data", str(district_copy), "--from", "2025-11", "--to", "2025-12", "--out"]
    for args in ([*diagnose, str(district_copy / "members.csv")], [*diagnose, str(district_copy / "new.csv")],
                 [*diagnose, str(catalog / "lecturers.yaml")], [*diagnose, str(history), "--history", str(history)],
                 [*overview, str(district_copy / "branches.csv")],
                 ["catalog", "export", "--catalog", str(catalog), "--out", str(catalog / "lecturers.yaml")],
                 ["model", "train", "--from", str(district_copy), "--out", str(district_copy / "branches.csv")]):
        r = runner.invoke(main, args)
        assert r.exit_code == 2 and "--out" in r.output and "the input" in r.output, (args, r.output)
    assert {p: p.read_bytes() for d in (district_copy, catalog) for p in d.iterdir() if p.is_file()} == before
    assert history.read_text(encoding="utf-8") == "" and not (district_copy / "new.csv").exists()
    r = runner.invoke(main, [*overview, str(district_copy / "overview.html")])
    assert r.exit_code == 0 and (district_copy / "overview.html").read_text(encoding="utf-8").startswith("<!"), r.output


def test_an_output_file_that_cannot_be_written_whole_is_refused_before_any_work(runner, small_district, tmp_path):
    """--out is written to a temporary file and renamed into place: a device (the rename would replace
    /dev/stdout's link), a directory, '-' where nothing is printed instead, or a missing directory is
    refused at once, exit 2, naming the option."""
    import os

    base = ["diagnose", "--data", str(small_district), "--period", "2025-12", "--out"]
    # Stand-ins for /dev/stdout and a device that would do no harm if the check failed: a link like
    # /dev/stdout's (under pytest fd 1 is a regular file) and a named pipe.
    (tmp_path / "stdout").symlink_to("/proc/self/fd/1")
    os.mkfifo(tmp_path / "pipe")
    for out, says in ((str(tmp_path / "stdout"), "not a regular file"), (str(tmp_path / "pipe"), "not a regular file"),
                      (str(tmp_path), "is a directory"), ("-", "'-' (standard output) is not written to"),
                      (str(tmp_path / "nope" / "x.jsonl"), "the directory")):
        r = runner.invoke(main, [*base, out])
        assert r.exit_code == 2 and "--out" in r.output and says in r.output, (out, r.output)
    assert not (tmp_path / "nope").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe", "stdout"]
    assert (tmp_path / "stdout").is_symlink()
    if Path("/dev/shm").is_dir():  # a file on a tmpfs under /dev is a regular file: written as any other
        shm = Path("/dev/shm") / f"diagnose-{os.getpid()}.jsonl"
        try:
            r = runner.invoke(main, [*base, str(shm)])
            assert r.exit_code == 0 and shm.is_file(), r.output
        finally:
            shm.unlink(missing_ok=True)
    (tmp_path / "afile").write_text("x")
    r = runner.invoke(main, ["model", "train", "--out", str(tmp_path / "afile" / "m.json")])
    assert r.exit_code == 2 and "afile is a file, not a directory" in r.output, r.output
    r = runner.invoke(main, ["overview", "--data", str(small_district), "--from", "2025-11", "--to", "2025-12",
                             "--out", "-"])
    assert r.exit_code == 0 and r.stdout.strip(), r.output  # where the command prints anyway: '-' is stdout


def test_a_path_that_is_missing_or_a_file_is_told_apart(runner, tmp_path):
    """`--data` and a log's `--from` name a directory: a missing one and a file in its place get different
    one-line answers, each with the path."""
    afile = tmp_path / "notes.txt"
    afile.write_text("x", encoding="utf-8")
    missing = tmp_path / "nope"
    cases = [(["diagnose", "--data", str(missing), "--period", "2025-12"], f"{missing}: data directory not found"),
             (["diagnose", "--data", str(afile), "--period", "2025-12"], f"{afile}: not a directory"),
             (["model", "train", "--from", str(missing), "--out", str(tmp_path / "m.json")],
              f"{missing}: log directory not found")]
    for args, says in cases:
        r = runner.invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert says in r.stderr and "Traceback" not in r.output, (args, r.stderr)
