"""The outsider's face of a running diagnosis-service: its command line and HTTP (``bench_outsider.py``).

Written, like ``outsider_world.py``, from the service's README, docs and answers only.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
from outsider_world import BRANCH_IND, MEMBER_IND

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv" / "bin" / "diagnosis-service")
PROBLEMS: list[dict] = []  # the oddities met with the service, a few of each kind


def note(kind, **what):
    """Keep the first few of each kind of oddity met with the service."""
    if sum(p["kind"] == kind for p in PROBLEMS) < 3:
        PROBLEMS.append({"kind": kind, **what})


class ServiceError(RuntimeError):
    pass


class Service:
    def __init__(self, workdir: Path, policy: str, log):
        self.dir, self.log = workdir, log
        for d in ("var", "models"):
            (workdir / d).mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, DATABASE_URL=f"sqlite:///{workdir / 'service.db'}",
                        DIAGNOSIS_VAR=str(workdir / "var"), DIAGNOSIS_MODELS=str(workdir / "models"),
                        DIAGNOSIS_MODEL_ROUTINE="monthly" if policy == "learned" else "off")
        if policy == "prior0":
            self.env["DIAGNOSIS_PRIOR_EXPLORATION"] = "0"
        self.proc = None
        self.http = requests.Session()

    def cli(self, *args, timeout=900):
        r = subprocess.run([CLI, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise ServiceError(f"diagnosis-service {' '.join(args)}: exit {r.returncode}: {r.stderr[-2000:]}")
        return r.stdout.strip()

    def start(self, timeout=90):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        out = open(self.dir / "serve.log", "ab")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=self.env, stdout=out, stderr=out, start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"serve exited {self.proc.returncode}: {self.tail()}")
            try:
                if self.http.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise ServiceError("serve not ready in time: " + self.tail())

    def tail(self):
        try:
            return (self.dir / "serve.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)  # its own process group: serve and its routine's children
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def call(self, method, path, token, body=None, ok=(200, 201, 202), timeout=180):
        for _attempt in range(10):
            try:
                r = self.http.request(method, self.base + path, json=body, timeout=timeout,
                                      headers={"Authorization": f"Bearer {token}"})
            except requests.RequestException as e:
                raise ServiceError(f"{method} {path}: {e}; {self.tail()}") from e
            if r.status_code == 503:
                note("503", request=f"{method} {path}", answer=r.text[:300])
                time.sleep(min(5.0, float(r.headers.get("Retry-After", "1") or 1)))
                continue
            if r.status_code not in ok:
                note(f"http {r.status_code}", request=f"{method} {path}",
                     body=json.dumps(body, ensure_ascii=False)[:300] if body else None, answer=r.text[:600])
                raise ServiceError(f"{method} {path}: {r.status_code} {r.text[:600]}")
            return r.json()
        raise ServiceError(f"{method} {path}: 503 ten times")


def write_history(world, dirpath: Path, months: int):
    dirpath.mkdir(parents=True, exist_ok=True)
    with open(dirpath / "branches.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["branch_id", "name", "type", "street"])
        for b, bid in enumerate(world.ids):
            w.writerow([bid, f"第{b + 1}党支部", world.type[b], world.street[b]])
    with open(dirpath / "members.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["member_id", "branch_id", "name"])
        for b, bid in enumerate(world.ids):
            for mid in world.members[b]:
                w.writerow([mid, bid, f"党员{mid[1:]}"])
    with (open(dirpath / "branch_metrics.csv", "w", newline="", encoding="utf-8") as fb,
          open(dirpath / "member_metrics.csv", "w", newline="", encoding="utf-8") as fm):
        wb, wm = csv.writer(fb), csv.writer(fm)
        wb.writerow(["period", "branch_id", *BRANCH_IND])
        wm.writerow(["period", "member_id", *MEMBER_IND])
        for t in range(months):
            branches, members = world.metrics(t)
            for r in branches:
                wb.writerow([world.months[t], r["branch_id"], *(r[k] for k in BRANCH_IND)])
            for r in members:
                wm.writerow([world.months[t], r["member_id"], *(r[k] for k in MEMBER_IND)])


def follow_job(svc, token, job, limit):
    deadline = time.monotonic() + limit
    while job["state"] not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            raise ServiceError(f"job {job['job_id']} not done in {limit} s: {job.get('stage')}")
        time.sleep(1.0)
        job = svc.call("GET", f"/v1/jobs/{job['job_id']}", token)
    if job["state"] == "failed":
        raise ServiceError(f"job {job['job_id']} failed: {job.get('error')}")
    return job
