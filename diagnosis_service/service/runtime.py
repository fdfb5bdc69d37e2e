"""What a running service holds: the active rule-set version, its engines, the catalog and the ranker.

Rule-set versions live in the store (``rule_versions``); version 1 is the bundled ``rules/``
directory, stored on first start. A version is a set of rule files (plus, optionally, rule tests under
``tests/``); the indicator registry and the points file come with the deployment (the store's tables
follow them). ``Runtime.current()`` checks, at most once a second, which version is active, so a
version published through any process is served by every process without a restart; swapping is a
single reference assignment, so a request sees one version from start to end.
"""

from __future__ import annotations

import difflib
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from ..config import MODEL_FILE, Settings
from ..engine.durable import compile_problems
from ..engine.subject import SubjectEngine
from ..errors import Problem, RuleError
from ..remedies.catalog import Catalog, load_catalog
from ..remedies.prescribe import Prescriber
from ..remedies.ranking import PriorRanker, Ranker
from ..rules import POINTS_FILE, REGISTRY_FILE, load_ruleset, rule_files
from ..rules.model import RuleSet
from ..store import rulesets as versions_store

MAX_RULE_BYTES = 1_000_000
CHECK_EVERY = 1.0  # seconds between checks of the active version
MODEL_CHECK_EVERY = 5.0  # seconds between checks of the model file (a retrained model is picked up)

log = logging.getLogger("diagnosis_service.runtime")


@dataclass(frozen=True)
class Active:
    """One rule-set version, compiled: replaced whole, never changed in place."""

    version: int
    digest: str
    files: dict[str, str]
    ruleset: RuleSet
    subject_engine: SubjectEngine


def bundled_files(rules_dir: Path) -> dict[str, str]:
    """The rule files (and rule tests) of a rules directory, as name -> text."""
    files = {p.name: p.read_text(encoding="utf-8") for p in rule_files(rules_dir)}
    tests = rules_dir / "tests"
    if tests.is_dir():
        files.update({f"tests/{p.name}": p.read_text(encoding="utf-8") for p in sorted(tests.glob("*.yaml"))})
    return files


def check_files(rules_dir: Path, files: dict[str, str], run_rule_tests: bool = True) -> tuple[RuleSet | None,
                                                                                              list[Problem]]:
    """Validate a complete set of rule files against the deployment's registry: parse, compile for
    durable_rules, run the included rule tests. Problems name the files as given (not temp paths)."""
    problems = _file_name_problems(files)
    if problems:
        return None, problems
    tmp = Path(tempfile.mkdtemp(prefix="rules-"))
    try:
        for name in (REGISTRY_FILE, POINTS_FILE):
            shutil.copy(rules_dir / name, tmp / name)
        (tmp / "tests").mkdir()
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        try:
            ruleset = load_ruleset(tmp)
        except RuleError as exc:
            return None, [_relative(p, tmp) for p in exc.problems]
        problems = [_relative(p, tmp) for p in compile_problems(ruleset)]
        if not problems and run_rule_tests and any(n.startswith("tests/") for n in files):
            from ..pipeline.rule_tests import run_tests  # temporary: pipeline imports this module

            report = run_tests(tmp, ruleset=ruleset)
            problems += [_relative(p, tmp) for p in report.problems]
            for case in report.results:
                if not case.passed:
                    problems.append(Problem(f"rule test '{case.name}' failed: {case.error or case.diff}".strip(),
                                            file=_strip(case.file, tmp), line=case.line))
        return (None if problems else ruleset), problems
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _file_name_problems(files: dict[str, str]) -> list[Problem]:
    problems = []
    if not isinstance(files, dict) or not files:
        return [Problem("files must be a non-empty object of file name -> YAML text", column="files")]
    total = 0
    for name, text in files.items():
        if not isinstance(text, str):
            problems.append(Problem("file content must be text", file=str(name), column="files"))
            continue
        total += len(text.encode("utf-8"))
        base = name[len("tests/"):] if name.startswith("tests/") else name
        if (not base.endswith(".yaml") or "/" in base or "\\" in base or base.startswith(".")
                or base in (REGISTRY_FILE, POINTS_FILE) or len(base) > 100):
            problems.append(Problem(f"bad rule file name '{name}'", file=str(name), column="files",
                                    suggestion="NAME.yaml or tests/NAME.yaml; the registry and points files "
                                               "come with the deployment"))
    if total > MAX_RULE_BYTES:
        problems.append(Problem(f"rule files total {total} bytes, over the limit of {MAX_RULE_BYTES}", column="files"))
    if not any(not n.startswith("tests/") for n in files):
        problems.append(Problem("no rule file", column="files"))
    return problems


def _strip(file: str | None, tmp: Path) -> str | None:
    if file is None:
        return None
    prefix = str(tmp) + "/"
    return file[len(prefix):] if file.startswith(prefix) else file


def _relative(p: Problem, tmp: Path) -> Problem:
    return Problem(p.message, file=_strip(p.file, tmp), line=p.line, column=p.column, rule_id=p.rule_id,
                   suggestion=p.suggestion)


def unified_diff(old: dict[str, str], new: dict[str, str]) -> str:
    out = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name, ""), new.get(name, "")
        if a != b:
            out += difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                        fromfile=f"a/{name}" if name in old else "/dev/null",
                                        tofile=f"b/{name}" if name in new else "/dev/null")
    return "".join(out)


class Runtime:
    """Shared by every request of a process (thread-safe)."""

    def __init__(self, settings: Settings, engine: Engine, ranker: Ranker | None = None,
                 read_engine: Engine | None = None):
        self.settings = settings
        self.engine = engine  # transactions
        self.read_engine = read_engine or engine  # single reads, autocommit
        self.catalog: Catalog | None = None
        self.catalog_error: list[Problem] = []
        self.ranker: Ranker = ranker or PriorRanker()
        self._active: Active | None = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self.references_cache: dict[tuple[str, str], object] = {}  # (period, rules digest) -> references
        self.model_status: dict = {"ranker": "prior", "fallback": "not loaded yet"}
        self._model_stamp: int | None = None
        self._model_checked = time.monotonic()
        self.registry = load_ruleset(settings.rules_dir).registry

    # ---------------------------------------------------------------- start

    def start(self) -> None:
        """Load the catalog and the active rule set (storing the bundled rules as version 1 if the
        store has none). Errors are kept for /readyz, not raised: health stays reachable."""
        try:
            self.catalog = load_catalog(self.settings.catalog_dir, self.registry)
        except Exception as exc:  # a CatalogError, or an unreadable directory
            self.catalog_error = list(getattr(exc, "problems", [Problem(str(exc))]))
        self.load_model()
        self.ensure_initial_version()
        self.current(force=True)

    def ensure_initial_version(self) -> None:
        with self.engine.begin() as conn:
            if versions_store.active_version(conn) is None and not versions_store.listing(conn):
                files = bundled_files(self.settings.rules_dir)
                ruleset, problems = check_files(self.settings.rules_dir, files, run_rule_tests=False)
                if ruleset is None:
                    raise RuleError(problems)
                versions_store.publish(conn, files, ruleset.version, comment="bundled rules", author="system",
                                       based_on=None, diff=unified_diff({}, files))

    # ---------------------------------------------------------------- the active version

    def current(self, force: bool = False) -> Active:
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
                    raise RuleError(Problem("the store has no active rule set", suggestion="run db upgrade, "
                                            "then start the service once to store the bundled rules"))
                if active is None or active.version != version:
                    row = versions_store.get(conn, version)
                    active = self._compile(row["version"], row["files"])
                    self._active = active
            self._checked = time.monotonic()
            return active

    def _compile(self, version: int, files: dict[str, str]) -> Active:
        ruleset, problems = check_files(self.settings.rules_dir, files, run_rule_tests=False)
        if ruleset is None:
            raise RuleError(problems)
        # A fresh engine per version: calls still running on the old one finish with it.
        return Active(version, ruleset.version, files, ruleset, SubjectEngine(ruleset))

    def switch_to(self, version: int, files: dict[str, str]) -> Active:
        """Serve ``version`` from now on in this process (after it was committed as active)."""
        active = self._compile(version, files)
        with self._lock:
            self._active = active
            self._checked = time.monotonic()
        return active

    # ---------------------------------------------------------------- the ranking model

    def load_model(self) -> None:
        """Use the trained effectiveness model if there is a usable one; else the documented prior,
        saying why (log and /readyz). Called at start and whenever the model file changes."""
        from ..learning.estimator import LearnedRanker, ModelError, load

        path = self.settings.models_dir / MODEL_FILE
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        self._model_stamp = stamp
        try:
            model, card = load(path)
        except ModelError as exc:
            self.ranker = PriorRanker()
            self.model_status = {"ranker": "prior", "fallback": str(exc.problems[0])}
            log.warning("ranking with the prior: %s", exc.problems[0])
            return
        names = {t: (n.name_zh, n.name_en) for t, n in self.registry.topics.items()}
        self.ranker = LearnedRanker(model, topic_names=names)
        self.model_status = {"ranker": "learned", "model": str(path), "trained_at": card.get("trained_at"),
                             "data_window": card.get("data_window"), "fingerprint": card.get("fingerprint")}
        log.info("ranking with the learned model %s", card.get("fingerprint"))

    def prescriber(self, ruleset: RuleSet) -> Prescriber | None:
        if self.catalog is None:
            return None
        now = time.monotonic()
        if now - self._model_checked > MODEL_CHECK_EVERY:
            self._model_checked = now
            try:
                stamp = (self.settings.models_dir / MODEL_FILE).stat().st_mtime_ns
            except OSError:
                stamp = None
            if stamp != self._model_stamp:
                self.load_model()
        return Prescriber(self.catalog, ruleset, self.ranker)


__all__ = ["Active", "Runtime", "bundled_files", "check_files", "unified_diff"]
