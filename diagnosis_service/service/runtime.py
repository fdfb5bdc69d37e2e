"""What a running service holds: the active rule-set version, the catalog and the ranker, and the one
``Snapshot`` of them a request works with.

Rule-set versions live in the store (``rule_versions``); version 1 is the bundled ``rules/``
directory, stored on first start. The indicator registry and the points file come with the
deployment. ``RuleVersions.active()`` checks, at most once a second, which version is active, so a
version published through any process is served by every process without a restart; ``Runtime.
snapshot()`` reads the active version once, so a request sees one version from start to end.
``RankerLoader`` follows the model file: a retrained model is picked up within seconds; without a
usable one the documented prior ranks, and ``/readyz`` says why. Problems at start (no schema yet,
broken rules, a broken catalog) are kept for ``/readyz``: the process still starts and answers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import Engine

from ..config import MODEL_FILE, Settings
from ..engine.references import PeriodReferences
from ..engine.subject import SubjectEngine
from ..errors import Conflict, DiagnosisError, ModelError, Problem, RuleError, Unavailable
from ..learning.persist import load as load_model
from ..learning.policy import LearnedRanker
from ..pipeline.common import in_transaction
from ..pipeline.publish import bundled_files, check_files, unified_diff
from ..pipeline.snapshot import Snapshot
from ..remedies.catalog import Catalog
from ..remedies.catalog_files import collect_texts, read_files
from ..remedies.ranking import PriorRanker, Ranker
from ..rules import load_ruleset
from ..rules.model import Registry, RuleSet
from ..store import make_engine
from ..store import rulesets as versions_store

CHECK_EVERY = 1.0  # seconds between checks of the active version
MODEL_CHECK_EVERY = 5.0  # seconds between checks of the model file (a retrained model is picked up)
DOWN_FOR = 1.0  # seconds calls answer 503 at once after the database did not answer (then they try again)

log = logging.getLogger("diagnosis_service.runtime")


@dataclass(frozen=True)
class Version:
    """One rule-set version, compiled: replaced whole, never changed in place."""

    version: int
    files: dict[str, str]
    ruleset: RuleSet
    subject_engine: SubjectEngine


class RuleVersions:
    """The store's active rule-set version, compiled once per version and shared by the threads."""

    def __init__(self, rules_dir: Path, engine: Engine):
        self.rules_dir = rules_dir
        self.engine = engine
        self._active: Version | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def ensure_initial(self) -> None:
        """Store the bundled rules as version 1 when the store has no version yet (two processes starting
        at once: the second finds the first's)."""

        def store_bundled(conn) -> None:
            if versions_store.active_version(conn) is None and not versions_store.listing(conn):
                files = bundled_files(self.rules_dir)
                ruleset, problems = check_files(self.rules_dir, files, run_rule_tests=False)
                if ruleset is None:
                    raise RuleError(problems)
                versions_store.publish(conn, files, ruleset.version, comment="bundled rules", author="system",
                                       based_on=None, diff=unified_diff({}, files))

        with contextlib.suppress(Conflict):  # another process stored them between our look and our write
            in_transaction(self.engine, store_bundled)

    def active(self, force: bool = False) -> Version:
        """The active version, reloaded when another process (or this one) switched it."""
        active = self._active
        if active is not None and not force and time.monotonic() - self._checked < CHECK_EVERY:
            return active
        with self._lock:
            active = self._active
            if active is not None and not force and time.monotonic() - self._checked < CHECK_EVERY:
                return active
            with self.engine.connect() as conn:
                version = versions_store.active_version(conn)
                if version is None:
                    raise RuleError(Problem("the store has no active rule set",
                                            suggestion="run `diagnosis-service db upgrade`, then start the service "
                                                       "once to store the bundled rules"))
                if active is None or active.version != version:
                    row = versions_store.get(conn, version)
                    active = self._compile(row["version"], row["files"])
                    self._active = active
            self._checked = time.monotonic()
            return active

    def cached(self) -> Version | None:
        """The version this process serves, without asking the store."""
        return self._active

    def switch_to(self, version: int, files: dict[str, str]) -> Version:
        """Serve ``version`` from now on in this process (after it was committed as active)."""
        active = self._compile(version, files)
        with self._lock:
            self._active = active
            self._checked = time.monotonic()
        return active

    def _compile(self, version: int, files: dict[str, str]) -> Version:
        ruleset, problems = check_files(self.rules_dir, files, run_rule_tests=False)
        if ruleset is None:
            raise RuleError(problems)
        # A fresh engine per version: calls still running on the old one finish with it.
        return Version(version, files, ruleset, SubjectEngine(ruleset))


class RankerLoader:
    """The ranker: the trained effectiveness model when a usable one is present, else the prior."""

    def __init__(self, models_dir: Path, registry: Registry | None):
        self.path = models_dir / MODEL_FILE
        self.names = {t: (n.name_zh, n.name_en) for t, n in registry.topics.items()} if registry else {}
        self._ranker: Ranker = PriorRanker()
        self.status: dict = {"ranker": "prior", "fallback": "not loaded yet"}
        self._stamp: int | None = None
        self._checked = time.monotonic()

    def _file_stamp(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def load(self) -> None:
        """Use the model file if it is usable; else the documented prior, saying why (log and /readyz)."""
        self._stamp = self._file_stamp()
        try:
            model, card = load_model(self.path)
        except ModelError as exc:
            self._ranker = PriorRanker()
            self.status = {"ranker": "prior", "fallback": str(exc.problems[0])}
            log.warning("ranking with the prior: %s", exc.problems[0])
            return
        self._ranker = LearnedRanker(model, topic_names=self.names)
        self.status = {"ranker": "learned", "model": self.path.name, "trained_at": card.get("trained_at"),
                       "data_window": card.get("data_window"), "fingerprint": card.get("fingerprint")}
        log.info("ranking with the learned model %s", card.get("fingerprint"))

    def ranker(self) -> Ranker:
        now = time.monotonic()
        if now - self._checked > MODEL_CHECK_EVERY:
            self._checked = now
            if self._file_stamp() != self._stamp:
                self.load()
        return self._ranker


class Runtime:
    """Shared by every request of a process (thread-safe)."""

    def __init__(self, settings: Settings, engine: Engine, read_engine: Engine | None = None):
        self.settings = settings
        self.engine = engine  # transactions
        self.read_engine = read_engine or engine  # single reads, autocommit
        self.problems: dict[str, str] = {}  # what failed at start, for /readyz
        self.registry: Registry | None = None
        self.catalog: Catalog | None = None
        self.catalog_files: dict[str, str] = {}  # the catalog's YAML texts by file name
        self.catalog_error: list[Problem] = []
        try:
            self.registry = load_ruleset(settings.rules_dir).registry
        except DiagnosisError as exc:
            self.problems["rules"] = "; ".join(str(p) for p in exc.problems[:5])
        self.versions = RuleVersions(settings.rules_dir, engine)
        self.rankers = RankerLoader(settings.models_dir, self.registry)
        self.references: dict[tuple[str, str], PeriodReferences] = {}  # shared by this process's snapshots
        self._start_lock = threading.Lock()
        self._down_until = 0.0
        self._start_tried = -CHECK_EVERY
        self._rules_ready = False

    def start(self) -> None:
        """Load the catalog, the model and the active rule set (storing the bundled rules as version 1 if the
        store has none). Errors are kept for /readyz, not raised: the process starts and answers whatever
        the database does, and tries again (at most once a second) when a request needs the rules."""
        if self.registry is not None:
            files, problems = read_files(self.settings.catalog_dir)
            catalog = None if problems else collect_texts(files, self.registry, problems,
                                                          str(self.settings.catalog_dir))
            self.catalog, self.catalog_files, self.catalog_error = catalog, files, problems
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
            return True

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
        return Snapshot(active.ruleset, self.catalog, self.rankers.ranker(), active.version, active.files,
                        active.subject_engine, self.references)

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


def init_app(app: Flask, settings: Settings) -> Runtime:
    """Create the process's runtime for ``app`` (its database engines, rules, catalog and ranker)."""
    url = app.config["DATABASE_URL"]
    timeouts = {"timeout": settings.db_timeout, "statement_timeout": settings.db_statement_timeout}
    runtime = Runtime(settings, make_engine(url, **timeouts), read_engine=make_engine(url, autocommit=True, **timeouts))
    app.extensions["diagnosis"] = runtime
    return runtime


__all__ = ["RankerLoader", "RuleVersions", "Runtime", "Version", "init_app"]
