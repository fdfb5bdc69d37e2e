"""A CSV directory checked a chunk at a time (``stream_dir``) finds what ``load_dir`` finds, and its
spilled months are the rows ``load_dir`` gives, bit for bit."""

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from diagnosis_service.data import csvstream
from diagnosis_service.data.csvdir import load_dir
from diagnosis_service.data.csvstream import stream_dir
from diagnosis_service.errors import InputError
from diagnosis_service.pipeline.ingest import _months

ROWS = 240  # metric rows kept of each file: enough for several chunks and months, quick to check twice

BAD_CELLS = ["", "x", "-1", "1.5", "2", "1e400", " 3 ", "2025-13", "2025-3", "B99999", "M99999", "  "]


@pytest.fixture(scope="module")
def base(small_district, tmp_path_factory) -> Path:
    """The small district with its metric files cut to their first ROWS rows, in a shuffled file order
    (rows of many months in each chunk)."""
    target = tmp_path_factory.mktemp("stream") / "data"
    shutil.copytree(small_district, target)
    for name in ("branch_metrics.csv", "member_metrics.csv"):
        lines = (target / name).read_text(encoding="utf-8").splitlines()
        body = lines[1:]
        step = max(1, len(body) // ROWS)
        (target / name).write_text("\n".join([lines[0], *body[::step][:ROWS]]) + "\n", encoding="utf-8")
    return target


def _outcome(load):
    """("ok", months) or ("problems", sorted problem texts)."""
    try:
        return "ok", load()
    except InputError as exc:
        return "problems", sorted(str(p) for p in exc.problems)


def _months_of(directory: Path, registry) -> dict:
    return {p: [(s, f.reset_index(drop=True)) for s, f in frames] for p, frames in _months(load_dir(directory,
                                                                                                     registry))}


def _streamed(directory: Path, registry, chunk_rows: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        spilled = stream_dir(directory, registry, Path(tmp), chunk_rows=chunk_rows)
        return {p: spilled.month(p) for p in spilled.periods}


def _same(streamed: dict, whole: dict) -> None:
    assert list(streamed) == list(whole)
    for period, frames in whole.items():
        assert [s for s, _ in streamed[period]] == [s for s, _ in frames]
        for (_, got), (_, want) in zip(streamed[period], frames, strict=True):
            pd.testing.assert_frame_equal(got, want, check_exact=True)


edits = st.lists(st.one_of(
    st.tuples(st.just("cell"), st.sampled_from(["branch_metrics.csv", "member_metrics.csv"]),
              st.integers(1, ROWS), st.integers(0, 40), st.sampled_from(BAD_CELLS)),
    st.tuples(st.just("copy"), st.sampled_from(["branch_metrics.csv", "member_metrics.csv"]),
              st.integers(1, ROWS), st.integers(1, ROWS), st.just("")),
    st.tuples(st.just("move"), st.sampled_from(["branch_metrics.csv", "member_metrics.csv"]),
              st.integers(1, ROWS), st.integers(1, ROWS), st.just("")),
), max_size=4)


def _apply(directory: Path, changes) -> None:
    for kind, name, row, other, value in changes:
        lines = (directory / name).read_text(encoding="utf-8").splitlines()
        row = min(row, len(lines) - 1)
        if kind == "cell":
            cells = lines[row].split(",")
            cells[other % len(cells)] = value
            lines[row] = ",".join(cells)
        elif kind == "copy":  # a duplicate row, perhaps chunks away from the first
            lines.insert(min(other, len(lines)), lines[row])
        else:  # out of order
            lines.insert(min(other, len(lines) - 1) + 1, lines.pop(row))
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


# Chunks from 8 rows (60 over the two files) to more than a file: still boundaries inside a month and between
# a row and its copy. A chunk costs ~14 ms whatever its size: chunks of 1 row took 7 s an example.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=edits, chunk_rows=st.integers(8, 300), max_open=st.sampled_from([1, 2, 64]))
def test_a_directory_streamed_gives_what_it_gives_read_whole(base, ruleset, changes, chunk_rows, max_open):
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(csvstream._Spill, "MAX_OPEN", max_open)  # months split over parts, as many months at once
        directory = Path(tmp) / "data"
        shutil.copytree(base, directory)
        _apply(directory, changes)
        whole = _outcome(lambda: _months_of(directory, ruleset.registry))
        streamed = _outcome(lambda: _streamed(directory, ruleset.registry, chunk_rows))
    event(whole[0])
    assert whole[0] == streamed[0], (whole, streamed)
    if whole[0] == "ok":
        _same(streamed[1], whole[1])
    else:
        assert streamed[1] == whole[1]  # the same problems, each at the same file, line and column


def test_the_small_district_streamed_is_its_rows_and_organisations(small_district, ruleset):
    whole = load_dir(small_district, ruleset.registry)
    with tempfile.TemporaryDirectory() as tmp:
        spilled = stream_dir(small_district, ruleset.registry, Path(tmp), chunk_rows=1000)
        _same({p: spilled.month(p) for p in spilled.periods}, _months_of(small_district, ruleset.registry))
        assert spilled.rows == {"branch": len(whole.branch_metrics), "member": len(whole.member_metrics)}
        pd.testing.assert_frame_equal(spilled.orgs.branches, whole.branches)
        pd.testing.assert_frame_equal(spilled.orgs.members, whole.members)
        assert len(list(Path(tmp).glob("member-*.arrow"))) == 12  # a file a month: one month is read back at once


def test_a_duplicate_row_chunks_apart_is_found_at_its_line(district_copy, ruleset, tmp_path):
    path = district_copy / "member_metrics.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.append(lines[3])  # the last line repeats line 4, thousands of rows (and many chunks) before
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        stream_dir(district_copy, ruleset.registry, tmp_path, chunk_rows=100)
    period, member = lines[3].split(",")[:2]
    assert [str(p) for p in exc.value.problems] == [
        f"{path}:{len(lines)}:member_id: duplicate row for member_id '{member}' in period {period} "
        "(one row per subject and period)"]


def test_progress_reaches_the_metric_files_size(small_district, ruleset, tmp_path):
    seen = []
    stream_dir(small_district, ruleset.registry, tmp_path, chunk_rows=2000, progress=lambda d, t: seen.append((d, t)))
    total = sum((small_district / f"{s}_metrics.csv").stat().st_size for s in ("branch", "member"))
    assert len(seen) > 5 and all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == total


def _both(directory: Path, registry, tmp_path: Path) -> tuple[list[str], list[str]]:
    """The problems of the whole read and of the streamed one (small chunks)."""
    out = []
    for load in (lambda: load_dir(directory, registry),
                 lambda: stream_dir(directory, registry, Path(tempfile.mkdtemp(dir=tmp_path)), chunk_rows=500)):
        with pytest.raises(InputError) as exc:
            load()
        out.append([str(p) for p in exc.value.problems])
    return out[0], out[1]


def test_ids_that_differ_only_in_spaces_are_one_subject(district_copy, ruleset, tmp_path):
    path = district_copy / "member_metrics.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(",")
    cells[1] += " "  # the same member and month again, with a space after its id
    lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    whole, streamed = _both(district_copy, ruleset.registry, tmp_path)
    assert whole == streamed == [f"{path}:{len(lines)}:member_id: duplicate row for member_id '{cells[1].strip()}' in "
                                 f"period {cells[0]} (one row per subject and period)"]


def test_a_file_written_twice_lists_a_thousand_duplicates_and_counts_the_rest(district_copy, ruleset, tmp_path):
    path = district_copy / "member_metrics.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines + lines[1:]) + "\n", encoding="utf-8")
    whole, streamed = _both(district_copy, ruleset.registry, tmp_path)
    assert len(streamed) == 1001 and streamed == whole
    assert streamed[-1] == f"... and {len(lines) - 1 - 1000} more problems not listed"


def test_lines_are_an_editors_after_blank_lines_and_before_a_byte_that_is_not_utf8(district_copy, ruleset, tmp_path):
    path = district_copy / "member_metrics.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(2, "")  # a blank line 3, which pandas skips
    cells = lines[5].split(",")
    cells[2] = "x"
    lines[5] = ",".join(cells)  # line 6
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    whole, streamed = _both(district_copy, ruleset.registry, tmp_path)
    assert whole == streamed and len(whole) == 1 and whole[0].startswith(f"{path}:6:")
    # A byte that is not UTF-8 thousands of rows further: the stream has read the bad number by then;
    # both name the file's problem, and the stream's map of lines survives it.
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"2025-12,M\xc9,1\n")
    whole, streamed = _both(district_copy, ruleset.registry, tmp_path)
    assert any("not UTF-8 text" in p for p in whole) and any("not UTF-8 text" in p for p in streamed)
    assert streamed[0].startswith(f"{path}:6:") and "bad number 'x'" in streamed[0]
