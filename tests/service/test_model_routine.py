"""The model's monthly routine run by the service (DIAGNOSIS_MODEL_ROUTINE, service/model_routine.py): before
a new month's diagnosis it trains a candidate and judges it as `model promote --refit --cross-fit` does, in
a child process; the month's answer says what it did; it runs once a month; a failure of it never fails
the diagnosis."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
from sqlalchemy import select

from diagnosis_service.config import Settings
from diagnosis_service.service.model_routine import COMMAND, confidence_args
from diagnosis_service.simulation.loop import LoopSpec
from diagnosis_service.simulation.served import run_served_loop
from diagnosis_service.store import served as served_store
from diagnosis_service.store.schema import webhook_events
from tests.support.served import ClientService
from tests.support.service import make_service


class _Subscribed(ClientService):
    """The served loop's service with a webhook subscription to diagnosis.completed (never delivered here:
    the events are read from the outbox)."""

    def start(self, *args) -> None:
        super().start(*args)
        self._call("POST", "/v1/webhooks", "admin", {"url": "http://127.0.0.1:9/", "events": ["diagnosis.completed"]},
                   201)


SPEC = LoopSpec(policy="prior", seed=3, branches=30, members=300, months=2, history=2, world="project")


def test_the_setting_is_read_from_the_environment_and_on_by_default():
    assert Settings.from_env({}).model_routine == "monthly"
    assert Settings.from_env({"DIAGNOSIS_MODEL_ROUTINE": "off"}).model_routine == "off"
    assert Settings.from_env({}).model_routine_confidence == 0.8
    assert Settings.from_env({"DIAGNOSIS_MODEL_ROUTINE_CONFIDENCE": "0.95"}).model_routine_confidence == 0.95
    for bad in ("0.3", "1", "high"):
        with pytest.raises(Exception, match="DIAGNOSIS_MODEL_ROUTINE_CONFIDENCE"):
            Settings.from_env({"DIAGNOSIS_MODEL_ROUTINE_CONFIDENCE": bad})
    with pytest.raises(Exception, match="DIAGNOSIS_MODEL_ROUTINE"):
        Settings.from_env({"DIAGNOSIS_MODEL_ROUTINE": "weekly"})


def test_a_month_with_nothing_served_before_it_learns_nothing_and_says_so(tmp_path):
    svc = make_service("sqlite", tmp_path, settings={"model_routine": "monthly"})
    try:
        done = svc.client.post("/v1/diagnoses?wait=true", json={"period": "2025-12"}, headers=svc.h("platform"))
        assert done.status_code == 201, done.get_json()
        assert done.get_json()["model"] == {"state": "nothing to learn", "reason": "no list served before 2025-12"}
        assert not (tmp_path / "models" / "routine.json").exists()  # nothing ran: the next month looks again
        unknown = svc.client.post("/v1/diagnoses?wait=true", json={"period": "2031-01"}, headers=svc.h("platform"))
        assert unknown.status_code == 404  # a month without data: no routine, the diagnosis says why
    finally:
        svc.close()
    (tmp_path / "off").mkdir()
    off = make_service("sqlite", tmp_path / "off")  # the tests' default: off, and the answer says so
    try:
        done = off.client.post("/v1/diagnoses?wait=true", json={"period": "2025-12"}, headers=off.h("platform"))
        assert done.status_code == 201 and done.get_json()["model"]["state"] == "off", done.get_json()
        assert "administrator runs `model train`" in done.get_json()["model"]["reason"]
        assert not (tmp_path / "off" / "models" / "routine.json").exists()
    finally:
        off.close()


@pytest.mark.slow  # a closed loop against the service, and `model train` and `model promote` in child processes
def test_the_service_runs_the_routine_once_a_month_records_every_verdict_and_survives_its_failure(
        tmp_path, ruleset, catalog):
    service = _Subscribed(tmp_path, ruleset, model_routine="monthly", webhook_allowed_hosts=("127.0.0.1",))
    run_served_loop(SPEC, ruleset, catalog, service)
    models = tmp_path / "models"
    said = [d["model"] for d in service.diagnosed]
    periods = [d["period"] for d in service.diagnosed]
    # The first month had no list before it; from the second on a candidate was trained and judged.
    assert said[0]["state"] == "nothing to learn"
    judged = said[1:]
    assert judged and all(s["state"] in ("promoted", "on trial", "kept") for s in judged), said
    assert all(s["candidate"].startswith("learned:") and s["reason"] for s in judged)
    records = [json.loads(line) for line in (models / "promotions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(judged)  # every verdict recorded, one a month
    for period, s, record in zip(periods[1:], judged, records, strict=True):
        key = {"promoted": "promoted", "on trial": "trial", "kept": "refused"}[s["state"]]
        assert key in record and record["by"] == f"the service's monthly routine, for {period}"
        if record["comparison"]["reason"].startswith("no held-out decisions"):  # said for a platform
            assert s["reason"].endswith("the routine judges again next month")
        else:
            assert record["comparison"]["reason"] == s["reason"]
        if s["state"] == "promoted":  # the refit of the candidate serves, and is named
            assert s["promoted"] == record["promoted"] != s["candidate"]
    marker = json.loads((models / "routine.json").read_text(encoding="utf-8"))
    assert marker["period"] == periods[-1] and marker["state"] == judged[-1]["state"]
    # A platform reads no server path (a promotion's verdict named the active model's file).
    assert str(tmp_path) not in json.dumps(said, ensure_ascii=False)
    assert all("models/effectiveness.json" in s["verdict"] for s in judged if s["state"] == "promoted")
    # The ranker the month's lists name is the verdict's: a model once one is promoted, else the prior.
    ready = service.client.get("/readyz", headers={"Authorization": f"Bearer {service.tokens['admin']}"})
    ranking = ready.get_json()["checks"]["ranking"]["ranker"]
    assert ready.get_json()["checks"]["ranking"]["routine_last"] == {
        "period": periods[-1], "at": marker["at"], "state": marker["state"], "promoted": marker.get("promoted")}
    if any(s["state"] == "promoted" for s in judged):  # reloaded at once, not after the file's next look
        assert ranking.startswith("learned:")
    elif judged[-1]["state"] == "on trial":
        assert ranking == f"prior+{judged[-1]['candidate']}"
    else:
        assert ranking.split("+")[0] == "prior"
    # An administrator reads the same verdicts, newest first, and what ranks now (GET /v1/model).
    state = service._call("GET", "/v1/model", "admin", None, 200)
    assert state["ranking"]["ranker"] == ranking and state["routine"]["routine_last"]["period"] == periods[-1]
    assert state["verdicts"]["total"] == len(records) and state["verdicts"]["problems"] == []
    assert [v["verdict"] for v in state["verdicts"]["items"]] == [s["state"].replace("kept", "refused")
                                                                  for s in reversed(judged)]
    assert [v["candidate"] for v in state["verdicts"]["items"]] == [s["candidate"] for s in reversed(judged)]
    assert [v["by"] for v in state["verdicts"]["items"]] == [r["by"] for r in reversed(records)]
    assert str(tmp_path) not in json.dumps(state, ensure_ascii=False)
    page = service.client.get("/model", headers={"Authorization": f"Bearer {service.tokens['admin']}"})
    said_zh = {"promoted": "已启用", "on trial": "试用", "kept": "未启用"}[judged[-1]["state"]]
    assert f"月度例程：开启；最近一次为 {periods[-1]}，结果：{said_zh}" in page.get_data(as_text=True)
    # A platform is told with each month's diagnosis.completed what the routine did: when the ranking changed.
    with service.engine.connect() as conn:
        told = [json.loads(b)["data"] for b in conn.execute(
            select(webhook_events.c.body).where(webhook_events.c.type == "diagnosis.completed")
            .order_by(webhook_events.c.id)).scalars()]
    assert [t["period"] for t in told] == periods
    assert [t["model"] for t in told] == [{k: s[k] for k in ("state", "candidate", "promoted") if k in s} for s in said]

    # The same month diagnosed again: the routine does not run again.
    last = periods[-1]
    again = service._call("POST", "/v1/diagnoses?wait=true", "platform", {"period": last}, 201)
    assert again["model"] == {**judged[-1], "at": marker["at"], "repeated": True}  # what that month's run did
    assert len((models / "promotions.jsonl").read_text(encoding="utf-8").splitlines()) == len(records)
    earlier = service._call("POST", "/v1/diagnoses?wait=true", "platform", {"period": periods[-2]}, 201)
    assert earlier["model"] == {"state": "skipped", "reason": f"the routine ran for a later month ({last}) already"}

    # Another routine running (a job of the month, another process: it holds the models directory's lock):
    # this one waits for it, at most the routine's time, then goes on without.
    (models / "routine.json").unlink()
    routine = service.app.extensions["diagnosis"].model_routine
    routine.settings = replace(routine.settings, model_routine_timeout=1.0)
    with open(models / ".routine.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        busy = service._call("POST", "/v1/diagnoses?wait=true", "platform", {"period": last}, 201)
    assert time.monotonic() - started >= 1.0
    assert busy["model"] == {"state": "skipped", "reason": "another routine was running (a job's, or another "
                                                            "process's); this diagnosis went on without waiting "
                                                            "longer for it"}
    routine.settings = replace(routine.settings, model_routine_timeout=3600.0)
    # ... and when that one finishes the month while this one waits, this one answers what it did.
    held, finished = threading.Event(), {"at": "2026-01-01T00:00:00Z", "state": "kept", "reason": "another's verdict"}

    def another() -> None:
        with open(models / ".routine.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            held.set()
            time.sleep(0.8)
            (models / "routine.json").write_text(json.dumps({"period": last, **finished}), encoding="utf-8")

    other = threading.Thread(target=another)
    other.start()
    assert held.wait(10)
    waited = service._call("POST", "/v1/diagnoses?wait=true", "platform", {"period": last}, 201)
    other.join(10)
    assert waited["model"] == {**finished, "repeated": True}
    (models / "routine.json").unlink()

    # A routine that fails (its candidate's place taken by a directory) leaves the diagnosis whole.
    (models / "routine-candidate.json").unlink()
    (models / "routine-candidate.json").mkdir()
    broken = service._call("POST", "/v1/diagnoses?wait=true", "platform", {"period": last}, 201)
    assert broken["model"]["state"] == "failed" and "model train ended with status" in broken["model"]["reason"]
    assert broken["branches"] == again["branches"] > 0 and broken["run_id"] != again["run_id"]
    assert not (models / "routine.json").exists()  # failed: the next diagnosis tries again


def test_a_job_carries_what_the_routine_did(tmp_path):
    svc = make_service("sqlite", tmp_path, settings={"model_routine": "monthly"})
    try:
        posted = svc.client.post("/v1/diagnoses", json={"period": "2025-12"}, headers=svc.h("platform"))
        assert posted.status_code == 202
        deadline, job = time.monotonic() + 60, {}
        while time.monotonic() < deadline and job.get("state") not in ("succeeded", "failed"):
            time.sleep(0.05)
            job = svc.client.get(posted.headers["Location"], headers=svc.h("platform")).get_json()
        assert job["state"] == "succeeded", job
        assert job["result"]["model"] == {"state": "nothing to learn", "reason": "no list served before 2025-12"}
    finally:
        svc.close()


CRASHES_AFTER_ITS_COMPARISON = """
import json, sys
args = sys.argv[1:]
if args[:2] == ["model", "train"]:
    sys.exit(0)
import os, pathlib
(pathlib.Path(os.environ["DIAGNOSIS_MODELS"]) / "promote-args.json").write_text(json.dumps(args))
print(json.dumps({"candidate": "learned:c", "active": "prior", "promote": True, "trial": False,
                  "reason": "better with confidence"}))
# while activating: a traceback naming the server's file, exit status 1
raise OSError(28, "No space left on device", os.path.join(os.environ["DIAGNOSIS_MODELS"], ".effectiveness.json.tmp"))
"""


def test_a_promote_that_crashes_after_printing_its_comparison_is_a_failure_not_a_verdict(tmp_path):
    """Exit status 1 is a refusal only with its verdict line: a crash exits 1 too, and must not be recorded as
    "kept" with the month marked done (it would never be tried again). The confidence it is asked for is
    the service's setting."""
    svc = make_service("sqlite", tmp_path, settings={"model_routine": "monthly", "model_routine_confidence": 0.75})
    try:
        rt = svc.app.extensions["diagnosis"]
        with rt.engine.begin() as conn:  # one list served before the month: there is something to learn
            served_store.log_list(conn, "B0001", "2025-11", "prior", "api", "test", [])
        rt.model_routine.command = (sys.executable, "-c", CRASHES_AFTER_ITS_COMPARISON)
        done = svc.client.post("/v1/diagnoses?wait=true", json={"period": "2025-12"}, headers=svc.h("platform"))
        assert done.status_code == 201, done.get_json()
        said = done.get_json()["model"]
        assert said["state"] == "failed" and "No space left on device" in said["reason"], said
        # Said without the server's paths (a platform reads it; the log keeps the whole).
        assert "models/.effectiveness.json.tmp" in said["reason"] and str(tmp_path) not in said["reason"], said
        assert not (tmp_path / "models" / "routine.json").exists()  # the next diagnosis tries again
        args = json.loads((tmp_path / "models" / "promote-args.json").read_text(encoding="utf-8"))
        assert args[:2] == ["model", "promote"] and args[args.index("--confidence") + 1] == "0.75"  # a first model
        assert "--refit" in args and "--cross-fit" in args
    finally:
        svc.close()


TELLS_WHAT_IT_WAS_GIVEN = """
import json, os, pathlib, sys
catalog, rules = pathlib.Path(os.environ["DIAGNOSIS_CATALOG"]), pathlib.Path(os.environ["DIAGNOSIS_RULES"])
(pathlib.Path(os.environ["DIAGNOSIS_MODELS"]) / "given.json").write_text(json.dumps({
    "catalog": "".join(p.read_text(encoding="utf-8") for p in sorted(catalog.glob("*.yaml"))),
    "rules": sorted(p.name for p in rules.glob("*.yaml")), "tests": sorted(p.name for p in rules.glob("tests/*.yaml"))}))
print("no served prescription has a measurable outcome yet (a month after it is needed)", file=sys.stderr)
sys.exit(2)
"""


def test_the_routine_trains_with_the_catalog_and_rules_the_service_serves(tmp_path):
    """A resource added through the API (catalog version 2) is in the catalog the commands read, and the
    rules directory they read holds the registry beside the active version's rule files."""
    svc = make_service("sqlite", tmp_path, settings={"model_routine": "monthly"})
    try:
        c, h, rt = svc.client, svc.h, svc.app.extensions["diagnosis"]
        lec = next(r for r in c.get("/v1/catalog/resources?kind=lecturer", headers=h("admin")).get_json()["resources"]
                   if r["id"] == "LEC001")
        new = {**{k: v for k, v in lec.items() if v is not None}, "id": "LEC999", "title_zh": "新来的讲师"}
        added = c.put("/v1/catalog/resources/LEC999", json={"resource": new, "comment": "a new lecturer"},
                      headers=h("admin"))
        assert added.status_code in (200, 201) and added.get_json()["created"] is True, added.get_json()
        with rt.engine.begin() as conn:
            served_store.log_list(conn, "B0001", "2025-11", "prior", "api", "test", [])
        rt.model_routine.command = (sys.executable, "-c", TELLS_WHAT_IT_WAS_GIVEN)
        done = c.post("/v1/diagnoses?wait=true", json={"period": "2025-12"}, headers=h("platform"))
        assert done.status_code == 201 and done.get_json()["model"]["state"] == "nothing to learn"
        given = json.loads((tmp_path / "models" / "given.json").read_text(encoding="utf-8"))
        assert "id: LEC999" in given["catalog"] and "新来的讲师" in given["catalog"]
        assert given["rules"] == ["branch_lamps.yaml", "branch_weaknesses.yaml", "indicators.yaml", "member_lamps.yaml",
                                  "points.yaml"]
        assert "defaults.yaml" in given["tests"]
    finally:
        svc.close()


def test_a_routine_s_command_ends_with_the_thread_that_started_it():
    """A service stopped (or killed) mid-routine leaves no command running on (it would hold the lock and
    could promote behind the back of the service started again): the child asks for SIGTERM when the
    thread that started it ends, and one whose parent is gone already stops at once."""
    prelude = COMMAND[2].split("from diagnosis_service.cli import run")[0]
    sleeper = [COMMAND[0], "-c", prelude + "print('asked', flush=True)\nimport time\ntime.sleep(30)\n"]
    started: list[subprocess.Popen] = []
    env = {"DIAGNOSIS_ROUTINE_PARENT": str(os.getpid())}

    def start() -> None:  # as a routine's thread does, alive at least until the child has asked
        child = subprocess.Popen(sleeper, env=env, stdout=subprocess.PIPE, text=True)
        started.append(child)
        assert child.stdout.readline() == "asked\n"

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(20)
    child = started[0]
    assert child.wait(timeout=20) == -signal.SIGTERM  # not the 30 s of its sleep
    child.stdout.close()
    orphan = subprocess.run(sleeper, env={"DIAGNOSIS_ROUTINE_PARENT": "1"}, timeout=20)
    assert orphan.returncode == 143


def test_what_the_routine_says_names_no_server_path(tmp_path):
    """A promotion's verdict named the active model's file, a failure the file it could not write: in the
    answer a platform reads they are said without the server's directories; the API's paths stay."""
    from diagnosis_service.service.model_routine import ModelRoutine

    models = tmp_path / "srv" / "models"
    routine = ModelRoutine(replace(Settings.from_env({}), models_dir=models), None, lambda: None)
    said = routine._no_paths(f"promoted learned:1 (was prior), the refit of learned:0: {models}/effectiveness.json; "
                             f"the trial of learned:9 is over")
    assert said == ("promoted learned:1 (was prior), the refit of learned:0: models/effectiveness.json; the trial "
                    "of learned:9 is over")
    assert routine._no_paths(f"ModelError: {tmp_path}/rules/branch.yaml line 3: bad; see file://{tmp_path}/x.txt "
                             "or POST /v1/diagnoses (ratio 2/3)") == (
        "ModelError: branch.yaml line 3: bad; see x.txt or POST /v1/diagnoses (ratio 2/3)")
    # A month's marker (it keeps the whole line, as the log does) is repeated without the path.
    models.mkdir(parents=True)
    (models / "routine.json").write_text(json.dumps({
        "period": "2025-06", "state": "promoted", "verdict": f"promoted learned:1 (was prior): {models}/effectiveness.json",
        "reason": "better with confidence"}), encoding="utf-8")
    again = routine("2025-06")
    assert again["verdict"] == "promoted learned:1 (was prior): models/effectiveness.json" and again["repeated"]


def test_less_confidence_is_asked_of_a_first_model_only(tmp_path):
    settings = replace(Settings.from_env({}), models_dir=tmp_path, model_routine_confidence=0.7)
    assert confidence_args(tmp_path, settings) == ["--confidence", "0.7"]  # the prior ranks: a first model
    (tmp_path / "effectiveness.json").write_text("{}", encoding="utf-8")
    assert confidence_args(tmp_path, settings) == []  # a model serves: model promote's own confidence
