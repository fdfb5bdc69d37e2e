"""The model's monthly routine, run by the service: once a month newer than the last one it ran for is
diagnosed, `model train` and then `model promote --refit --cross-fit`, before the month's diagnosis.

Without it a service learns only where an administrator runs the routine each month (docs/effectiveness.md);
a platform that only speaks HTTP, or an administrator who trains and never promotes (`model train` once
activated the model it wrote; since the guarded rollout it writes a candidate), would keep the prior for
good. The routine is the administrator's very commands, run as a child process: the same code and gate
as `model promote` (a candidate activated only when better with confidence, a retrain unless worse,
every verdict recorded in promotions.jsonl), a year of a district's logs fitted outside the serving
process's memory, and a failure of it never fails the diagnosis (the job's result says it).

The commands read the rule set and the catalog this service serves (the versions published through the
API, written to a temporary directory for them), not the directories it was deployed with: a rule or a
resource added since is known to the candidate as to the lists it learns from.

It runs before the diagnosis so that when the job (or ``?wait=true``) answers, the month's prescriptions
are ranked by what the months before taught, in this process at once (the ranker is reloaded) and in
the others within ``MODEL_CHECK_EVERY``. ``models/routine.json`` records the last month it ran for: a
job run again, or an earlier month diagnosed again, does not train again. A lock on the models
directory keeps two from running it at the same time: the second (a job and a ``?wait=true`` request of the
month, another serving process) waits for the first and answers what it did.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from ..config import MODEL_FILE, Settings
from ..data.files import LockBusy, waited_lock, write_atomic
from ..periods import months_ahead, this_month
from ..rules import rule_files
from ..store import metrics as metrics_store
from ..store import served as served_store
from .routine_said import ROUTINE_ASKER, for_a_platform

log = logging.getLogger("diagnosis_service.model_routine")

MARKER = "routine.json"
CANDIDATE = "routine-candidate.json"  # not candidate.json: an administrator's own `model train` is left alone
LOCK = ".routine.lock"
# The console script's entry, run by this interpreter (a service started without the venv's bin on PATH).
# On Linux the child asks to be sent SIGTERM when the thread that started it ends (the service stopped or
# killed): a routine left running by a stopped service would hold the lock and could promote behind the
# back of the one restarted. It exits at once if that thread is gone already.
COMMAND = (sys.executable, "-c", """\
import os, signal, sys
if sys.platform.startswith("linux"):
    try:
        import ctypes
        asked = ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM) == 0  # PR_SET_PDEATHSIG
    except (ImportError, OSError, AttributeError):  # no ctypes, no prctl (a static build): go on without
        asked = False
    if asked and os.getppid() != int(os.environ.get("DIAGNOSIS_ROUTINE_PARENT", os.getppid())):
        sys.exit(143)
from diagnosis_service.cli import run
run()
""")
LOCK_WAIT_POLL = 0.5
# A ``?wait=true`` request waits this long at most for a routine another holds (a job's, another process's);
# then it goes on without it (its request thread is one of a few). A job waits up to the routine's time.
REQUEST_WAIT = 60.0


class ModelRoutine:
    """``routine(period, tell)`` -> what it did, for the job's result (None when it is off)."""

    def __init__(self, settings: Settings, engine: Engine, reload: Callable[[], None],
                 served: Callable[[], tuple[dict[str, str], dict[str, str] | None]] | None = None,
                 command: tuple[str, ...] = COMMAND):
        self.settings = settings
        self.engine = engine
        self.reload = reload
        # The rule set's and the catalog's files as served now (None: the deployed directories).
        self.served = served
        self.models_dir = settings.models_dir
        self.command = command  # what runs `diagnosis-service ARGS...`

    def __call__(self, period: str, tell: Callable[[str, float], None] | None = None,
                 wait: float | None = None) -> dict | None:
        """What the routine did for ``period`` (None when the month has no data), as a platform reads it:
        without the server's file paths; ``wait``: how long to wait for a routine another holds (default:
        the routine's time, as a job does)."""
        said = self._said_for(period, tell, wait)
        return None if said is None else {k: self._no_paths(v) if k in ("verdict", "reason") and isinstance(v, str)
                                          else v for k, v in said.items()}

    def _said_for(self, period: str, tell: Callable[[str, float], None] | None, wait: float | None) -> dict | None:
        if self.settings.model_routine == "off":  # said all the same: a platform need not tell absence apart
            return dict(OFF)
        if months_ahead(period) > 1:  # one month of slack: the platform's clock (UTC+8) may be ahead of ours
            # Not run, and not marked: a mistyped year (2062 for 2026) would otherwise keep it from every real
            # month after (``_done_for`` skips a month before the last one run for).
            return {"state": "skipped", "reason": f"{period} is after this month ({this_month()}, UTC): the routine "
                                                  "learns for months up to the next one",
                    "reason_zh": f"{period} 晚于本月（{this_month()}，UTC）：例行任务只为截至下个月的月份训练"}
        said = self._done_for(period)
        if said is not None:
            return said
        with self.engine.connect() as conn:
            if period not in metrics_store.periods(conn):
                return None  # the diagnosis says it (404); a month without data is not one to learn for
            if not served_store.served_before(conn, period):
                return {"state": "nothing to learn", "reason": f"no list served before {period}"}
        def told(stage: str, fraction: float) -> None:
            try:
                (tell or (lambda _stage, _fraction: None))(stage, fraction)
            except Exception as exc:  # the job's own (its lease lost, say): not the routine's failure
                raise _Told(exc) from exc

        limit = self.settings.model_routine_timeout
        try:
            with self._locked(time.monotonic() + (limit if wait is None else min(wait, limit)), told) as (lock, waited):
                # Again: another request or process may have run it for this month while this one waited.
                said = self._done_for(period)
                if said is not None:
                    if waited:  # its verdict may be seconds old: rank this month by it, not by the file's last look
                        self.reload()
                    return said
                return self._run(period, told, lock, time.monotonic() + limit)  # the wait is not its time
        except _Told as exc:
            raise exc.exc from None
        except _Busy as exc:
            log.warning("model routine for %s skipped: %s", period, exc)
            return {"state": "skipped", "reason": str(exc)}
        except _Stopped as exc:  # the service is stopping: not a failure of the routine's
            log.warning("model routine for %s stopped: %s", period, exc)
            return {"state": "failed", "reason": str(exc)}
        except Exception as exc:  # the diagnosis goes on; the job's result and the log say why
            log.exception("model routine for %s failed", period)
            return {"state": "failed", "reason": f"{exc.__class__.__name__}: {str(exc)[:300]}"}

    def _no_paths(self, text: str) -> str:
        """``text`` (a command's line) without the server's file paths: the answer goes to a platform (the
        log and ``models/routine.json`` keep the whole). The models directory is said as ``models``, any other absolute path by its
        last part; the API's own paths (``/v1/...``) stay."""
        text = text.replace("file://", "")
        for directory in {str(self.models_dir.resolve()), str(self.models_dir)}:
            text = text.replace(directory + os.sep, "models" + os.sep)
        return _ABSOLUTE.sub(lambda m: m.group(1), text)

    def status(self) -> dict:
        """For /readyz: the setting and what the last run did."""
        last = self.last_run()
        return {"routine": self.settings.model_routine,
                **({"routine_last": {k: last.get(k) for k in ("period", "at", "state", "promoted")}} if last else {})}

    def last_run(self) -> dict:
        """``models/routine.json``: the month it last ran for and what it did ({} before its first run)."""
        try:
            marker = json.loads((self.models_dir / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return marker if isinstance(marker, dict) and isinstance(marker.get("period"), str) else {}

    def _done_for(self, period: str) -> dict | None:
        """What to answer without running: the month's own run again (a job run a second time, its first
        attempt having run the routine), or a skip for a month before the last one run for."""
        last = self.last_run()
        if last.get("period") == period:
            return {**{k: v for k, v in last.items() if k != "period"}, "repeated": True}
        if last and last["period"] > period:
            return {"state": "skipped", "reason": f"the routine ran for a later month ({last['period']}) already"}
        return None

    @contextlib.contextmanager
    def _locked(self, deadline: float, tell: Callable[[str, float], None]) -> Iterator[tuple[int, bool]]:
        """The models directory's lock and its file descriptor, which the child commands inherit (they
        hold it as long as they run), and whether it had to wait. Held by another routine (a job and a
        ``?wait=true`` request for the same month, another serving process): waited for until ``deadline``
        (_Busy), so that the month's lists are ranked by its verdict."""
        def waiting() -> None:
            log.info("model routine: waiting for another routine in %s", self.models_dir)
            tell("model routine: waiting for another routine", 0.01)

        try:
            with waited_lock(self.models_dir / LOCK, deadline, waiting, LOCK_WAIT_POLL) as held:
                yield held
        except LockBusy:
            raise _Busy("another routine was running (a job's, or another process's); this diagnosis went on "
                        "without waiting longer for it") from None

    def _run(self, period: str, tell: Callable[[str, float], None], lock: int, deadline: float) -> dict:
        log.info("model routine for %s: training a candidate", period)
        with tempfile.TemporaryDirectory(prefix="diagnosis-routine-") as work:
            return self._run_in(period, tell, lock, deadline, self._sources(Path(work)))

    def _sources(self, work: Path) -> tuple[Path, Path]:
        """(rules directory, catalog directory) for the commands: the served versions' files written under
        ``work`` (the rules over a copy of the deployed directory, which holds the registry and the
        tests' row defaults that a version does not), or the deployed directories."""
        s = self.settings
        if self.served is None:
            return s.rules_dir, s.catalog_dir
        rule_texts, catalog_texts = self.served()
        rules = work / "rules"
        shutil.copytree(s.rules_dir, rules)
        for path in [*rule_files(rules), *(rules / "tests").glob("*_test.yaml")]:
            path.unlink()  # the version's own rule files and tests only
        for name, text in rule_texts.items():
            (rules / name).parent.mkdir(parents=True, exist_ok=True)
            (rules / name).write_text(text, encoding="utf-8")
        if catalog_texts is None:
            return rules, s.catalog_dir
        catalog = work / "catalog"
        catalog.mkdir()
        for name, text in catalog_texts.items():
            (catalog / name).write_text(text, encoding="utf-8")
        return rules, catalog

    def _run_in(self, period: str, tell: Callable[[str, float], None], lock: int, deadline: float,
                sources: tuple[Path, Path]) -> dict:
        start = time.perf_counter()
        candidate = self.models_dir / CANDIDATE
        tell("model routine: training a candidate", 0.01)
        # --lang en: what follows reads their English lines (the records and --json are English either way).
        trained = self._command(["model", "train", "--lang", "en", "--out", str(candidate)], lock, deadline, sources)
        if trained.returncode == 2 and "no served prescription has a measurable outcome" in trained.stderr:
            out = {"state": "nothing to learn", "reason": "no served list has a measurable outcome yet"}
        elif trained.returncode != 0:
            raise RuntimeError(f"model train ended with status {trained.returncode}: {_last(trained.stderr)}")
        else:
            tell("model routine: judging the candidate", 0.03)
            judged = self._command(["model", "promote", "--lang", "en", "--candidate", str(candidate), "--refit",
                                    "--cross-fit", *confidence_args(self.models_dir, self.settings),
                                    "--json", "--by", f"{ROUTINE_ASKER}{period}"],
                                   lock, deadline, sources)
            verdict = _last(judged.stderr)
            # Its verdict, not its exit status alone: a crash after the comparison was printed exits 1 too.
            promoted = judged.returncode == 0 and verdict.startswith("promoted ")
            if not (promoted or judged.returncode == 1 and verdict.startswith("not promoted: ")):
                raise RuntimeError(f"model promote ended with status {judged.returncode}: {verdict}")
            comparison = json.loads(judged.stdout.strip().splitlines()[-1])
            out = {"state": "promoted" if promoted else "on trial" if comparison.get("trial") else "kept",
                   "candidate": comparison.get("candidate"), "active_before": comparison.get("active"),
                   "verdict": verdict}
            out["reason"], out["reason_zh"] = for_a_platform(comparison.get("reason"), comparison.get("reason_zh"))
            served = re.match(r"promoted (\S+)", verdict)  # the refit of the candidate, when it passed
            if served:
                out["promoted"] = served.group(1)
            ended = re.search(r"the trial of (\S+) is over|\(in place of (\S+)\)", verdict)
            if ended:
                out["trial_ended"] = ended.group(1) or ended.group(2)
            self.reload()  # this process ranks by the verdict at once
        out["seconds"] = round(time.perf_counter() - start, 2)
        write_atomic(self.models_dir / MARKER, (json.dumps({
            "period": period, "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **out},
            ensure_ascii=False, sort_keys=True), "\n"))
        log.info("model routine for %s: %s (%s) in %.1f s", period, out["state"], out.get("reason"), out["seconds"])
        return out

    def _command(self, args: list[str], lock: int, deadline: float,
                 sources: tuple[Path, Path]) -> subprocess.CompletedProcess:
        s = self.settings
        # The database this service uses (its engine's: a test or a `serve --db` may name another than the
        # settings'), given to the child in its environment, never on its command line (a password).
        url = self.engine.url.render_as_string(hide_password=False)
        env = {**os.environ, "DATABASE_URL": url, "DIAGNOSIS_MODELS": str(s.models_dir),
               "DIAGNOSIS_ROUTINE_PARENT": str(os.getpid()),
               "DIAGNOSIS_RULES": str(sources[0]), "DIAGNOSIS_CATALOG": str(sources[1]),
               "DIAGNOSIS_VAR": str(s.var_dir), "DIAGNOSIS_PRIOR_EXPLORATION": repr(s.prior_exploration),
               "DIAGNOSIS_LEARNED_EXPLORATION": repr(s.learned_exploration)}
        try:
            done = subprocess.run([*self.command, *args], env=env, capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=max(deadline - time.monotonic(), 0.01),
                                  pass_fds=(lock,))
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"`{' '.join(args[:2])}` was stopped: the routine ran past "
                               f"DIAGNOSIS_MODEL_ROUTINE_TIMEOUT_SECONDS ({s.model_routine_timeout:g} s)") from None
        if done.returncode == -signal.SIGKILL:  # most likely the kernel's out-of-memory killer
            raise RuntimeError(f"`{' '.join(args[:2])}` was killed (SIGKILL: out of memory? its peak is about "
                               f"1.6 GiB on a whole district's year)")
        if done.returncode in (-signal.SIGTERM, -signal.SIGINT, 143, 130):
            raise _Stopped(f"`{' '.join(args[:2])}` was stopped by a signal (the service stopping?); the next "
                           f"diagnosis of a new month runs the routine again")
        return done


class _Busy(Exception):
    """Another routine held the models directory past the wait."""


class _Stopped(Exception):
    """A child command ended by a signal: the service is being stopped, or someone stopped the child."""


class _Told(Exception):
    def __init__(self, exc: Exception):
        super().__init__(str(exc))
        self.exc = exc


OFF = {"state": "off", "reason": "DIAGNOSIS_MODEL_ROUTINE=off: the service does not train its model itself; an "
                                 "administrator runs `model train` and `model promote`",
       "reason_zh": "DIAGNOSIS_MODEL_ROUTINE=off：服务不自行训练模型，由管理员运行 `model train` 和 `model promote`"}
_ABSOLUTE = re.compile(r"(?<![\w.~/:])/(?!v1/)(?:[^\s:;,'\"()/]+/)+([^\s:;,'\"()/]+)")


def confidence_args(models_dir: Path, settings: Settings) -> list[str]:
    """What the routine's `model promote` is told of confidence: DIAGNOSIS_MODEL_ROUTINE_CONFIDENCE for a
    first model (no model in service: the prior ranks), nothing for a model that would replace a model
    (`model promote`'s own: a retrain is refused more readily at less confidence, and the project's served
    loops lost 2-3% in two seeds of `all` so, docs/effectiveness.md)."""
    if (models_dir / MODEL_FILE).exists():  # `model promote`'s default --active: none, the prior ranks
        return []
    return ["--confidence", f"{settings.model_routine_confidence:g}"]


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else ""


__all__ = ["ModelRoutine"]
