"""What a running service holds: the active rule-set and catalog versions, the ranker, and the one
``Snapshot`` of them a request works with.

Rule-set and catalog versions live in the store (``versions``); version 1 of each is the deployed
directory, stored on first start. The indicator registry and the points file come with the
deployment. A version published through any process is served by every process within a second,
without a restart; ``Runtime.snapshot()`` reads the active versions once, so a request sees one
version of each from start to end.
``RankerLoader`` follows the model file: a retrained model is picked up within seconds; without a
usable one the documented prior ranks, and ``/readyz`` says why; a challenger on trial
(``CHALLENGER_FILE``, written by ``model promote``) then makes half the prior's exploring choices.
Problems at start (no schema yet, broken rules, a broken catalog) are kept for ``/readyz``: the process
still starts and answers.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..config import CHALLENGER_FILE, MODEL_FILE, Settings
from ..engine.references import PeriodReferences
from ..errors import DiagnosisError, ModelError, Problem, RuleError, Unavailable
from ..learning.persist import load as load_model
from ..learning.persist import ranker_name
from ..learning.policy import TRIAL_SHARE, ExploringPrior, LearnedRanker
from ..pipeline.jobs import JobConfig, JobWorker
from ..pipeline.snapshot import Snapshot
from ..remedies.ranking import PriorRanker, Ranker
from ..rules import load_ruleset
from ..rules.model import Registry
from ..store import make_engine
from .model_routine import ModelRoutine
from .versions import CHECK_EVERY, CatalogVersion, CatalogVersions, RuleVersions

MODEL_CHECK_EVERY = 5.0  # seconds between checks of the model file (a retrained model is picked up)
DOWN_FOR = 1.0  # seconds calls answer 503 at once after the database did not answer (then they try again)

log = logging.getLogger("diagnosis_service.runtime")


class RankerLoader:
    """The ranker: the trained effectiveness model when a usable one is present, else the prior, exploring
    with the challenger on trial when there is one (``ExploringPrior``)."""

    def __init__(self, models_dir: Path, registry: Registry | None, prior_exploration: float = 0.0,
                 learned_exploration: float = 0.02, routine: bool = False):
        self.path = models_dir / MODEL_FILE
        self.challenger_path = models_dir / CHALLENGER_FILE
        self.names = {t: (n.name_zh, n.name_en) for t, n in registry.topics.items()} if registry else {}
        self.prior_exploration = prior_exploration
        self.learned_exploration = learned_exploration
        self.routine = routine  # the service trains and promotes by itself (DIAGNOSIS_MODEL_ROUTINE)
        # What serves and what /readyz says of it, swapped as one: a request never sees one load's ranker
        # with another's status.
        self._state: tuple[Ranker, dict] = (self._prior(None), {"ranker": "prior", "fallback": "not loaded yet"})
        self._stamp: tuple | None = None
        self._checked = time.monotonic()
        self._loading = threading.Lock()  # one load at a time; the others serve what is there meanwhile

    @property
    def status(self) -> dict:
        return self._state[1]

    def _file_stamp(self) -> tuple:
        def stamp(path: Path) -> tuple[int, int, int] | None:
            try:
                st = path.stat()
            except OSError:
                return None
            return st.st_mtime_ns, st.st_size, st.st_ino  # a rename gives a new inode, whatever the clock's grain
        return stamp(self.path), stamp(self.challenger_path)

    def load(self) -> None:
        """Use the model file if it is usable; else the documented prior, saying why (log and /readyz)."""
        with self._loading:
            self._stamp = self._file_stamp()
            try:
                model, card = load_model(self.path)
            except ModelError as exc:
                challenger, trial = self._challenger()
                prior = self._prior(challenger)
                why = str(exc.problems[0])
                if self.routine and not self.path.exists():  # not a command for the platform to run
                    why = ("no model promoted yet: the service's monthly routine trains and judges one before each "
                           "new month's diagnosis, once lists have outcomes")
                # "none" (no model promoted yet) or "unusable" (a file this version cannot use): for a page to
                # say it in its own words, the detail staying the log's.
                kind = "unusable" if self.path.exists() else "none"
                self._state = (prior, {"ranker": prior.name, "fallback": why, "fallback_kind": kind, **trial})
                # No model yet is how a service starts (info); a model file it cannot use is a warning.
                (log.warning if self.path.exists() else log.info)("ranking with the prior: %s", why)
                return
            # Served lists record this name: which model version ranked them.
            self._state = (LearnedRanker(model, self.learned_exploration, topic_names=self.names,
                                         name=ranker_name(card)),
                           {"ranker": ranker_name(card), "model": self.path.name, "trained_at": card.get("trained_at"),
                            "data_window": card.get("data_window"), "fingerprint": card.get("fingerprint")})
            log.info("ranking with the learned model %s", card.get("fingerprint"))

    def _prior(self, challenger: LearnedRanker | None) -> Ranker:
        """The prior, exploring (``Settings.prior_exploration``; seeded by branch, period and topic: the same
        request, the same list) so that a first model has outcomes of more than the prior's favourites;
        with the ``challenger`` on trial making half the exploring choices (served lists record
        ``prior+learned:<fingerprint>``)."""
        if self.prior_exploration <= 0:
            return PriorRanker()
        return ExploringPrior(self.prior_exploration, 0, name=f"prior+{challenger.name}" if challenger else "prior",
                              challenger=challenger)

    def _challenger(self) -> tuple[LearnedRanker | None, dict]:
        """The challenger on trial, if its file is present and usable and the prior explores, and what
        /readyz says of it."""
        if self.prior_exploration <= 0 or not self.challenger_path.exists():
            return None, {}  # (removed between this look and the load: load_model says "no trained model")
        try:
            model, card = load_model(self.challenger_path)
        except ModelError as exc:
            log.warning("no challenger on trial: %s", exc.problems[0])
            return None, {"challenger_problem": str(exc.problems[0])}
        share = TRIAL_SHARE * self.prior_exploration
        log.info("the challenger %s on trial makes %s of the first choices (half the prior's exploring ones)",
                 card.get("fingerprint"), share)
        return (LearnedRanker(model, self.learned_exploration, topic_names=self.names, name=ranker_name(card)),
                {"challenger": ranker_name(card), "challenger_share": share})

    def ranker(self) -> Ranker:
        now = time.monotonic()
        if now - self._checked > MODEL_CHECK_EVERY:
            self._checked = now
            if self._file_stamp() != self._stamp and not self._loading.locked():
                self.load()
        return self._state[0]


class Runtime:
    """Shared by every request of a process (thread-safe)."""

    def __init__(self, settings: Settings, engine: Engine, read_engine: Engine | None = None):
        self.settings = settings
        self.engine = engine  # transactions
        self.read_engine = read_engine or engine  # single reads, autocommit
        self.problems: dict[str, str] = {}  # what failed at start, for /readyz
        self.registry: Registry | None = None
        self.catalog_error: list[Problem] = []  # why the catalog could not be loaded (for /readyz)
        try:
            self.registry = load_ruleset(settings.rules_dir).registry
        except DiagnosisError as exc:
            self.problems["rules"] = "; ".join(str(p) for p in exc.problems[:5])
        self.versions = RuleVersions(settings.rules_dir, engine)
        self.catalogs = CatalogVersions(settings.catalog_dir, engine, self.registry) if self.registry else None
        self.rankers = RankerLoader(settings.models_dir, self.registry, settings.prior_exploration,
                                    settings.learned_exploration, settings.model_routine != "off")
        self.references: dict[tuple[str, str], PeriodReferences] = {}  # shared by this process's snapshots
        self._start_lock = threading.Lock()
        self._down_until = 0.0
        self._start_tried = -CHECK_EVERY
        self._rules_ready = False
        self._catalog_tried = -CHECK_EVERY
        # The monthly jobs' worker: started by `serve` (to take up jobs a stopped process left) and by
        # the first job submitted here.
        # Before a new month's diagnosis, the model's monthly routine (DIAGNOSIS_MODEL_ROUTINE).
        self.model_routine = ModelRoutine(settings, engine, self.rankers.load, self._served_files)
        self.jobs = JobWorker(engine, self.snapshot, JobConfig(settings.job_lease, settings.job_max_attempts,
                                                                settings.job_poll), self.model_routine)

    def _served_files(self) -> tuple[dict[str, str], dict[str, str] | None]:
        """The active rule set's files and the active catalog's (None while none could be loaded), as
        stored: what the model's routine trains and judges with."""
        catalog = self.catalog()
        return self.versions.active().files, catalog.files if catalog is not None else None

    def start(self) -> None:
        """Load the catalog, the model and the active rule set (storing the bundled rules as version 1 if the
        store has none). Errors are kept for /readyz, not raised: the process starts and answers whatever
        the database does, and tries again (at most once a second) when a request needs the rules."""
        self.rankers.load()
        self.ensure_started()

    def ensure_started(self) -> bool:
        """True once the rules are loaded; else tries (at most once a second) and says whether it worked."""
        if self.registry is None:
            return False
        with self._start_lock:
            if self._rules_ready:
                return True
            if time.monotonic() - self._start_tried < CHECK_EVERY:
                return False
            self._start_tried = time.monotonic()
            try:
                self.versions.ensure_initial()
                self.versions.active(force=True)
            except Exception as exc:  # no schema yet, an unreachable database, broken rules: /readyz says why
                self.problems["start"] = f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:300]}"
                return False
            self.problems.pop("start", None)
            self._rules_ready = True
            self._load_catalog()
            return True

    def _load_catalog(self) -> None:
        """The active catalog (the deployed one stored as version 1 first): a broken one is kept for
        /readyz and prescriptions answer 409; the rest of the service works."""
        if self.catalogs is None or time.monotonic() - self._catalog_tried < CHECK_EVERY:
            return
        self._catalog_tried = time.monotonic()
        try:
            self.catalogs.ensure_initial()
            self.catalogs.active(force=True)
            self.catalog_error = []
        except DiagnosisError as exc:
            self.catalog_error = list(exc.problems)
        except SQLAlchemyError as exc:  # no schema yet, or the database went away: tried again later
            self.catalog_error = [Problem(f"the catalog could not be read from the store ({exc.__class__.__name__})")]

    def catalog(self) -> CatalogVersion | None:
        """The active catalog version (None while none could be loaded)."""
        if self.catalogs is None:
            return None
        if self.catalogs.cached() is None:
            self._load_catalog()
            return self.catalogs.cached()
        try:
            return self.catalogs.active()
        except DiagnosisError as exc:  # a version another process activated does not load here
            self.catalog_error = list(exc.problems)
            return self.catalogs.cached()

    def snapshot(self, force: bool = False) -> Snapshot:
        """The active rules, the catalog and the ranker, read once for one request."""
        if not self._rules_ready and not self.ensure_started():
            reason = self.problems.get("rules") or self.problems.get("start") or "starting"
            raise Unavailable(Problem(f"the service is not ready: {reason}", suggestion="see /readyz"))
        try:
            active = self.versions.active(force)
        except RuleError as exc:
            raise Unavailable(Problem("the service is not ready: " + str(exc.problems[0]),
                                      suggestion="see /readyz")) from None
        catalog = self.catalog()
        return Snapshot(active.ruleset, catalog.catalog if catalog else None, self.rankers.ranker(), active.version,
                        active.files, active.subject_engine, self.references,
                        catalog_version=catalog.version if catalog else None)

    # ---------------------------------------------------------------- a database outage

    def database_down(self) -> None:
        """The database did not answer: for the next DOWN_FOR seconds, calls answer 503 at once instead
        of each waiting out the timeout (a frozen database would otherwise hold every thread)."""
        self._down_until = time.monotonic() + DOWN_FOR

    def database_up(self) -> None:
        self._down_until = 0.0

    def database_seems_down(self) -> bool:
        return time.monotonic() < self._down_until

    def switch_to(self, version: int, files: dict[str, str]) -> None:
        self.versions.switch_to(version, files)

    def switch_catalog(self, version: int, files: dict[str, str]) -> None:
        if self.catalogs is not None:
            self.catalogs.switch_to(version, files)


def init_app(app: Flask, settings: Settings) -> Runtime:
    """Create the process's runtime for ``app`` (its database engines, rules, catalog and ranker)."""
    url = app.config["DATABASE_URL"]
    timeouts = {"timeout": settings.db_timeout, "statement_timeout": settings.db_statement_timeout}
    runtime = Runtime(settings, make_engine(url, **timeouts), read_engine=make_engine(url, autocommit=True, **timeouts))
    app.extensions["diagnosis"] = runtime
    return runtime


__all__ = ["RankerLoader", "Runtime", "init_app"]
