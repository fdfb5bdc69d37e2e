"""Reading the promotion verdicts (``learning.verdict_log``): newest first, each summed up without file
paths, a line that is not a verdict skipped and named, a large record read from its end."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnosis_service.learning import verdict_log
from diagnosis_service.learning.verdict_log import read_verdicts
from tests.support.verdicts import record


def test_no_record_is_no_verdict(tmp_path):
    read = read_verdicts(tmp_path / "models")
    assert (read.items, read.total, read.problems, read.partial) == ([], 0, [], False)


def test_each_verdict_summed_up_newest_first_without_the_servers_paths(tmp_path):
    models = tmp_path / "models"
    record(models, "refused", "learned:aaa", "2025-11-01T00:00:00Z", difference=-0.01, reason="estimated worse")
    record(models, "on trial", "learned:bbb", "2025-12-01T00:00:00Z", trial_ended="learned:aaa")
    record(models, "promoted", "learned:ccc", "2026-01-01T00:00:00Z", name="learned:ddd", forced=False,
           previous_kept_at=str(models / "history" / "effectiveness-bbb.json"), trial_ended="learned:bbb")
    read = read_verdicts(models)
    assert read.total == 3 and read.problems == [] and not read.partial
    promoted, trial, refused = read.items
    assert [v["verdict"] for v in read.items] == ["promoted", "on trial", "refused"]
    assert promoted["candidate"] == "learned:ccc" and promoted["promoted"] == "learned:ddd"  # the refit serves
    assert promoted["forced"] is False and promoted["trial_ended"] == "learned:bbb"
    assert trial["trial_ended"] == "learned:aaa" and "promoted" not in trial
    assert refused["difference"] == -0.01 and refused["reason"] == "estimated worse" and refused["active"] == "prior"
    assert promoted["months"] == ["2025-11", "2025-12"] and promoted["cross_fitted"] == 2
    assert promoted["effective_sample"] == {"candidate": 9.6, "active": 240.0} and len(promoted["bounds"]) == 2
    assert str(tmp_path) not in json.dumps(read.as_dict())  # where the previous model was kept is not said
    assert [v["verdict"] for v in read_verdicts(models, 1).items] == ["promoted"]
    assert read_verdicts(models, 0).items == [] and read_verdicts(models, 0).total == 3


def test_a_line_that_is_not_a_verdict_is_skipped_and_named(tmp_path):
    models = tmp_path / "models"
    record(models, "refused", "learned:aaa", "2025-11-01T00:00:00Z")
    with (models / "promotions.jsonl").open("ab") as f:
        f.write(b'{"at": "2025-11-02T00:00:00Z", "comparison": {}\n')  # cut off mid-record
        f.write(b'["a list"]\n\n\xff\xfe not text\n{"at": "x", "by": "someone"}\n')
    record(models, "promoted", "learned:bbb", "2025-12-01T00:00:00Z")
    read = read_verdicts(models)
    assert [v["candidate"] for v in read.items] == ["learned:bbb", "learned:aaa"] and read.total == 2
    assert [p.split(":")[0] for p in read.problems] == [f"promotions.jsonl line {n}" for n in (2, 3, 5, 6)]
    assert "not a JSON record" in read.problems[0] and "not a verdict" in read.problems[1]


def test_a_record_past_the_bound_is_read_from_its_end(tmp_path, monkeypatch):
    models = tmp_path / "models"
    for month in range(1, 10):
        record(models, "refused", f"learned:{month:03d}", f"2025-{month:02d}-01T00:00:00Z")
    size = (models / "promotions.jsonl").stat().st_size
    monkeypatch.setattr(verdict_log, "MAX_BYTES", size // 3)
    read = read_verdicts(models, 100)
    assert read.partial and read.problems == []  # the line cut where the read began is left out, not blamed
    assert 1 <= read.total < 9 and read.items[0]["candidate"] == "learned:009"
    assert [v["candidate"] for v in read.items] == [f"learned:{m:03d}" for m in range(9, 9 - read.total, -1)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["promoted", "on trial", "refused", "junk"]), max_size=12), st.integers(0, 15))
def test_the_latest_verdicts_in_any_record(tmp_path_factory, kinds, limit):
    models = tmp_path_factory.mktemp("models")
    written = []
    for n, kind in enumerate(kinds):
        if kind == "junk":
            with (models / "promotions.jsonl").open("a", encoding="utf-8") as f:
                f.write("not json\n")
        else:
            record(models, kind, f"learned:{n:03d}", f"2025-01-{n + 1:02d}T00:00:00Z")
            written.append((kind, f"learned:{n:03d}"))
    read = read_verdicts(models, limit)
    assert read.total == len(written) and len(read.problems) == kinds.count("junk")
    assert [(v["verdict"], v["candidate"]) for v in read.items] == written[::-1][:limit]


def test_a_broken_record_file_never_stops_a_verdict_being_recorded(tmp_path):
    """`model promote` rewrites the record whole: a line that is not UTF-8, or the last one cut short
    without its newline, made it fail after the comparison (UnicodeDecodeError). It stays as it was."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "promotions.jsonl").write_bytes(b'\xff\xfe not text\n{"at": "cut short"')
    record(models, "refused", "learned:aaa", "2025-11-01T00:00:00Z")
    data = (models / "promotions.jsonl").read_bytes()
    assert data.startswith(b'\xff\xfe not text\n{"at": "cut short"\n{')
    read = read_verdicts(models)
    assert [v["candidate"] for v in read.items] == ["learned:aaa"] and len(read.problems) == 2


def test_a_line_edited_by_hand_reads_as_far_as_it_can(tmp_path):
    """Each field of its documented type or null, whatever a hand put there: the readers (the page, the
    command, the API's JSON) format them without a second look."""
    models = tmp_path / "models"
    models.mkdir()
    odd = {"at": 5, "by": ["x"], "refused": "learned:odd", "forced": "yes",
           "comparison": {"candidate": 7, "active": None, "months": 3, "decisions": 2.5, "difference": "big",
                          "bounds": 1, "confidence": "high", "effective_sample": ["a"], "cross_fitted": 4,
                          "reason": {"why": "?"}, "refresh": "true"}}
    lines = [json.dumps(odd), '{"promoted": "learned:nan", "comparison": {"difference": NaN, "bounds": [-Infinity, 1]}}']
    (models / "promotions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_verdicts(models)
    assert read.problems == [] and read.total == 2
    nan, odd_read = read.items
    assert nan["difference"] is None and nan["bounds"] == [None, 1] and nan["forced"] is False
    assert odd_read == {"at": None, "by": None, "verdict": "refused", "candidate": "learned:odd", "active": None,
                        "months": [], "decisions": None, "difference": None, "bounds": None, "confidence": None,
                        "effective_sample": {}, "refresh": False, "cross_fitted": 0, "reason": None, "reason_zh": None}
    json.loads(json.dumps(read.as_dict(), allow_nan=False))  # strict JSON: no NaN reaches an answer


def test_a_record_that_cannot_be_read_is_said_not_raised(tmp_path):
    (tmp_path / "models" / "promotions.jsonl").mkdir(parents=True)  # a directory in its place
    read = read_verdicts(tmp_path / "models")
    assert read.items == [] and read.problems == ["promotions.jsonl cannot be read (IsADirectoryError)"]


def test_a_window_that_starts_at_a_line_keeps_it_and_junk_is_named_up_to_a_bound(tmp_path, monkeypatch):
    models = tmp_path / "models"
    for month in range(1, 5):
        record(models, "refused", f"learned:{month:03d}", f"2025-{month:02d}-01T00:00:00Z")
    lines = (models / "promotions.jsonl").read_bytes().splitlines(keepends=True)
    monkeypatch.setattr(verdict_log, "MAX_BYTES", sum(len(line) for line in lines[1:]))  # the last three exactly
    read = read_verdicts(models)
    assert read.partial and [v["candidate"] for v in read.items] == ["learned:004", "learned:003", "learned:002"]
    monkeypatch.undo()
    (models / "promotions.jsonl").write_text("junk\n" * 50, encoding="utf-8")
    junk = read_verdicts(models)
    assert len(junk.problems) == verdict_log.MAX_PROBLEMS + 1 and junk.problems[-1].startswith("30 more lines")
    assert junk.skipped == 50 and junk.total == 0


def test_who_asked_is_said_in_chinese_where_the_service_or_a_command_line_wrote_it():
    from diagnosis_service.learning.verdict_log import asker_said

    assert asker_said("root (command line)", "zh") == "root（命令行）"
    assert asker_said("the service's monthly routine, for 2025-12", "zh") == "服务的月度例程（2025-12）"
    assert asker_said("the service's monthly routine, for 2025-12", "en") == "the service's monthly routine, for 2025-12"
    assert asker_said("王书记", "zh") == "王书记" and asker_said(None, "zh") == "?"  # `--by` as written
