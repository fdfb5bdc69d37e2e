"""`diagnose --engine dask --out-parts DIR` and `data merge-parts`: the parts the workers write, their
manifest, the merge back to the `--out` file byte for byte, and what is refused (on a real LocalCluster)."""

from __future__ import annotations

import pytest

from diagnosis_service.data.columnar import ParquetDir, write_dataset
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.errors import InputError
from diagnosis_service.pipeline.partitioned import diagnose_partitioned
from tests.pipeline.test_partitioned import PERIOD, vectorized_bytes


def test_parts_written_by_the_workers_merge_to_the_same_bytes(dask_client, snapshot, runner, small_district, tmp_path,
                                                               monkeypatch):
    """``--out-parts``: each worker writes its part; the manifest says what each holds; the merge gives the
    one file, byte for byte, also in rounds; a second run replaces the directory whole."""
    import hashlib
    import json

    from diagnosis_service.cli import main
    from diagnosis_service.pipeline import keyed_merge
    from diagnosis_service.pipeline.parts_out import FORMAT

    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    expected = vectorized_bytes(dataset, snapshot, PERIOD, tmp_path / "vectorized.jsonl")
    out = tmp_path / "parts"
    run = diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, None, dask_client, part_members=1, out_parts=out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == FORMAT and manifest["period"] == PERIOD and len(manifest["parts"]) == run.parts > 9
    assert (manifest["branches"], manifest["members"]) == (run.branches, run.members) == (
        60, expected.count(b'"subject":"member"'))
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *(e["file"] for e in manifest["parts"])])
    streets = [s for e in manifest["parts"] for s in e["streets"]]
    assert streets == ParquetDir(tmp_path / "ds").describe()["streets"], "each street in one part, in order"
    for entry in manifest["parts"]:
        data = (out / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
        lines = data.splitlines()
        kinds = [json.loads(line)["subject"] for line in lines]
        assert kinds == ["branch"] * entry["branches"] + ["member"] * entry["members"]
        for kind in ("branch", "member"):
            ids = [json.loads(line)["id"] for line, k in zip(lines, kinds, strict=True) if k == kind]
            assert ids == sorted(ids)
    assert sum(run.lamps["member"].values()) == manifest["members"]
    monkeypatch.setattr(keyed_merge, "MERGE_FILES", 3)  # the merge in rounds, as at a province's size
    merged = runner.invoke(main, ["data", "merge-parts", str(out), "--out", str(tmp_path / "merged.jsonl")])
    assert merged.exit_code == 0, merged.output
    assert (tmp_path / "merged.jsonl").read_bytes() == expected
    assert "60 个支部" in merged.output and f"来自 {run.parts} 个分片" in merged.output
    # Again with fewer parts, from the command line: the directory is replaced whole (no part left over).
    again = runner.invoke(main, ["diagnose", "--data", str(tmp_path / "ds"), "--period", PERIOD, "--engine", "dask",
                                 "--scheduler", "local:2", "--part-members", "200", "--out-parts", str(out)])
    assert again.exit_code == 0, again.output
    second = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert 1 < len(second["parts"]) < len(manifest["parts"])
    assert len(list(out.iterdir())) == len(second["parts"]) + 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".parts")], "no temporary directory left"
    assert runner.invoke(main, ["data", "merge-parts", str(out), "--out", str(tmp_path / "m2.jsonl")]).exit_code == 0
    assert (tmp_path / "m2.jsonl").read_bytes() == expected


def test_a_parts_directory_refuses_what_it_cannot_trust(dask_client, snapshot, runner, small_district, tmp_path):
    """Never a directory that is not a parts directory replaced; never a merge of parts that are not the
    manifest's; each told with the file and what to do, nothing written."""
    from diagnosis_service.cli import main

    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError) as info:
        diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, None, dask_client, out_parts=mine)
    assert "is not a parts directory" in str(info.value) and (mine / "keep.txt").read_text(encoding="utf-8") == "mine"
    out = tmp_path / "parts"
    diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, None, dask_client, part_members=150, out_parts=out)
    merge = ["data", "merge-parts", str(out), "--out", str(tmp_path / "m.jsonl")]
    first = sorted(out.glob("part-*.jsonl"))[0]
    original = first.read_bytes()
    for broken, says in ((original[:-40], "cut short"),
                         (original.replace(b'"lamp":"green"', b'"lamp":"red"  ', 1), "is not the one the manifest"),
                         (None, "is missing")):
        if broken is None:
            first.unlink()
        else:
            first.write_bytes(broken)
        r = runner.invoke(main, merge)
        assert r.exit_code == 2 and says in r.output and first.name in r.output, r.output
        assert not (tmp_path / "m.jsonl").exists() and "Traceback" not in r.output
    (out / "manifest.json").unlink()
    r = runner.invoke(main, merge)
    assert r.exit_code == 2 and "no manifest.json" in r.output and "--out-parts" in r.output
    for args, says in ((["--out", str(tmp_path / "x.jsonl")], "not both"),
                       ([], "applies to --engine dask")):
        engine = ["--engine", "dask"] if args else []
        r = runner.invoke(main, ["diagnose", "--data", str(tmp_path / "ds"), "--period", PERIOD, *engine, *args,
                                 "--out-parts", str(tmp_path / "p2")])
        assert r.exit_code == 2 and says in r.output and not (tmp_path / "p2").exists(), r.output


def test_merge_parts_refuses_a_manifest_or_parts_it_cannot_trust(dask_client, snapshot, runner, small_district,
                                                                  tmp_path):
    """Each wrong manifest or part is one error naming the file and what is valid: exit 2, nothing written."""
    import json

    from diagnosis_service.cli import main
    from diagnosis_service.errors import InputError as Refused
    from diagnosis_service.pipeline.parts_out import PartsDir

    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    out = tmp_path / "parts"
    diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, None, dask_client, part_members=150, out_parts=out)
    good = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    first = out / good["parts"][0]["file"]
    original = first.read_bytes()

    def entry0(**changed):
        return {**good, "parts": [{**good["parts"][0], **changed}, *good["parts"][1:]]}

    split = entry0(branches=good["parts"][0]["branches"] + 1, members=good["parts"][0]["members"] - 1)
    split["branches"], split["members"] = good["branches"] + 1, good["members"] - 1
    cases = [([1, 2], "not of format"), (entry0(file="../x"), "part 0's file is '../x'"),
             (entry0(branches=-1), "part 0's 'branches' is -1"), (entry0(bytes=1.5), "'bytes' is 1.5"),
             (entry0(sha256=None), "'sha256' is None"), ({**good, "parts": good["parts"][:-1]}, "add up to"),
             ({**good, "parts": []}, "'parts' is not a list"), ({**good, "period": None}, "'period' is missing"),
             ({k: v for k, v in good.items() if k != "branches"}, "'branches' is None"),
             (split, "is not the one the manifest describes")]
    merge = ["data", "merge-parts", str(out), "--out", str(tmp_path / "m.jsonl")]
    for manifest, says in cases:
        (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        r = runner.invoke(main, merge)
        assert r.exit_code == 2 and says in r.output and "manifest" in r.output, (says, r.output)
        assert r.exception is None or isinstance(r.exception, SystemExit), (says, r.exception)
        assert not (tmp_path / "m.jsonl").exists()
    (out / "manifest.json").write_text(json.dumps(good), encoding="utf-8")
    first.write_bytes(original[:-1])  # the last line without its line break
    r = runner.invoke(main, merge)
    last = original.count(b"\n")
    assert r.exit_code == 2 and "ending with a line break" in r.output and f"{first.name}:{last}" in r.output, r.output
    first.write_bytes(original)
    inside = runner.invoke(main, ["data", "merge-parts", str(out), "--out", str(out / "part-000000.jsonl")])
    assert inside.exit_code == 2 and "lies in the parts directory" in inside.output and first.read_bytes() == original
    assert runner.invoke(main, merge).exit_code == 0
    # A part its worker wrote where this process does not see it: nothing is put in place.
    with pytest.raises(Refused) as info, PartsDir(tmp_path / "new") as target:
        target.commit(PERIOD, [{**good["parts"][0]}])
    assert "is not in" in str(info.value) and "missing" in str(info.value) and not (tmp_path / "new").exists()
    for args, says in ((["--out-parts", str(first)], "is a file"),
                       (["--out-parts", str(tmp_path / "ds" / "parts")], "lies in the input")):
        r = runner.invoke(main, ["diagnose", "--data", str(tmp_path / "ds"), "--period", PERIOD, "--engine", "dask",
                                 *args])
        assert r.exit_code == 2 and says in r.output, r.output


def test_a_part_left_half_written_by_a_killed_worker_is_not_committed(tmp_path, caplog):
    """A worker killed mid-part leaves its temporary in the directory (its task is redone elsewhere): the
    committed directory holds the manifest and the parts only."""
    from collections import Counter

    from diagnosis_service.pipeline.parts_out import PartsDir, write_part

    out = tmp_path / "parts"
    with PartsDir(out) as parts:
        (parts.tmp / ".part-000000.jsonl.tmp-otherhost-4242-abcd1234").write_bytes(b'{"half":')
        (parts.tmp / ".part-000001.jsonl.tmp-otherhost-4243-abcd1235").mkdir()
        entry = write_part(str(parts.tmp), 0, {"branch": ([("B1", '{"subject":"branch"}')], Counter(red=1)),
                                              "member": ([("M1", '{"subject":"member"}')], Counter(green=1))})
        parts.commit("2025-12", [entry])
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "part-000000.jsonl"]
    assert (out / "part-000000.jsonl").read_bytes() == b'{"subject":"branch"}\n{"subject":"member"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["parts"]
    assert sum("a part's temporary left by a worker" in r.getMessage() for r in caplog.records) == 2


def test_merge_parts_stopped_by_sigterm_leaves_nothing_behind(dask_client, snapshot, small_district, tmp_path):
    """SIGTERM (a stopped container, a job runner's timeout) ends `data merge-parts` as Ctrl-C does: its
    temporaries (about twice the output) are removed and the target is untouched. Its default action
    left them beside the target until the next merge there."""
    import os
    import signal
    import subprocess
    import sys

    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, None, dask_client, part_members=100,
                         out_parts=tmp_path / "parts")
    target = tmp_path / "out" / "merged.jsonl"
    target.parent.mkdir()
    target.write_text("the file before\n", encoding="utf-8")
    # The merge is stopped from inside once it has split a part (the same moment every run).
    script = ("import os, signal, sys\n"
              "from diagnosis_service.pipeline import parts_out\n"
              "split = parts_out._split\n"
              "def stopping(*a, **k):\n"
              "    split(*a, **k)\n"
              "    os.kill(os.getpid(), signal.SIGTERM)\n"
              "parts_out._split = stopping\n"
              "from diagnosis_service.cli import main\n"
              "main(['data', 'merge-parts', sys.argv[1], '--out', sys.argv[2]])\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "parts"), str(target)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 128 + signal.SIGTERM, (done.returncode, done.stderr[-2000:])
    assert sorted(p.name for p in target.parent.iterdir()) == ["merged.jsonl"], "no temporaries left"
    assert target.read_text(encoding="utf-8") == "the file before\n"
