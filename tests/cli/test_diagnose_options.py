"""diagnose's options that do not go together, or a bad value among them, said as such before any work."""

from __future__ import annotations

from diagnosis_service.cli import main


def test_out_parts_says_which_mistake_it_is(runner, small_district, tmp_path):
    common = ["diagnose", "--data", str(small_district), "--period", "2025-12", "--out-parts", str(tmp_path / "p")]
    both = runner.invoke(main, [*common, "--engine", "dask", "--out", str(tmp_path / "x.jsonl")])
    assert both.exit_code == 2 and "give --out or --out-parts, not both" in both.output
    vectorized = runner.invoke(main, common)
    assert vectorized.exit_code == 2 and "--out-parts applies to --engine dask only" in vectorized.output
    assert not (tmp_path / "p").exists() and not (tmp_path / "x.jsonl").exists()


def test_a_bad_period_with_history_files_is_said_as_such(runner, small_district, tmp_path):
    history = tmp_path / "earlier.jsonl"
    history.write_text('{"subject":"branch","id":"B00001","period":"2025-11","prescriptions":[]}\n', encoding="utf-8")
    for engine in ("vectorized", "dask"):
        r = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-13", "--engine", engine,
                                 "--history", str(history), "--out", str(tmp_path / "o.jsonl")])
        assert r.exit_code == 2 and "bad period '2025-13'" in r.output, (engine, r.output)
        assert isinstance(r.exception, SystemExit) and not (tmp_path / "o.jsonl").exists()  # no traceback
