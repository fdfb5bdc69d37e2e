"""The store's active versions of what administrators publish: the rule set and the remedy catalog.

Version 1 of each is the deployment's directory (``rules/``, ``resources_catalog/``), stored on the
first start. ``active()`` checks, at most once a second, which version is active, so a version
published through any process is served by every process without a restart; each version is built
(parsed, checked, compiled) once and replaced whole, never changed in place.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine

from ..engine.subject import SubjectEngine
from ..errors import CatalogError, Conflict, Problem, RuleError
from ..pipeline import catalog_admin
from ..pipeline.common import in_transaction
from ..pipeline.publish import bundled_files, check_files, unified_diff
from ..remedies.catalog import Catalog
from ..remedies.catalog_files import read_files
from ..rules.model import Registry, RuleSet
from ..store.catalogs import CATALOGS
from ..store.rulesets import RULE_SETS
from ..store.versions import VersionTable

CHECK_EVERY = 1.0  # seconds between checks of the active version


@dataclass(frozen=True)
class Version:
    """One rule-set version, compiled."""

    version: int
    files: dict[str, str]
    ruleset: RuleSet
    subject_engine: SubjectEngine


@dataclass(frozen=True)
class CatalogVersion:
    """One catalog version, checked and loaded."""

    version: int
    files: dict[str, str]
    catalog: Catalog


V = TypeVar("V", Version, CatalogVersion)


class StoredVersions(ABC, Generic[V]):
    """The active version of one kind, shared by the threads of a process."""

    store: VersionTable
    error: type[RuleError] | type[CatalogError] = RuleError

    def __init__(self, engine: Engine):
        self.engine = engine
        self._active: V | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    @abstractmethod
    def bundled(self) -> tuple[dict[str, str], str]:
        """The deployment's files and their digest (checked): version 1."""

    @abstractmethod
    def build(self, version: int, files: dict[str, str]) -> V:
        """One stored version, checked and built (parsed, compiled) for serving."""

    def ensure_initial(self) -> None:
        """Store the deployment's files as version 1 when the store has no version yet (two processes
        starting at once: the second finds the first's)."""

        def store_bundled(conn) -> None:
            if self.store.active_version(conn) is None and not self.store.listing(conn):
                files, digest = self.bundled()
                self.store.publish(conn, files, digest, comment=f"bundled {self.store.what}", author="system",
                                   based_on=None, diff=unified_diff({}, files))

        with contextlib.suppress(Conflict):  # another process stored them between our look and our write
            in_transaction(self.engine, store_bundled)

    def active(self, force: bool = False) -> V:
        """The active version, reloaded when another process (or this one) switched it."""
        active = self._active
        if active is not None and not force and time.monotonic() - self._checked < CHECK_EVERY:
            return active
        with self._lock:
            active = self._active
            if active is not None and not force and time.monotonic() - self._checked < CHECK_EVERY:
                return active
            with self.engine.connect() as conn:
                version = self.store.active_version(conn)
                if version is None:
                    raise self.error(Problem(f"the store has no active {self.store.what}",
                                             suggestion="run `diagnosis-service db upgrade`, then start the service "
                                                        "once to store the deployed one"))
                if active is None or active.version != version:
                    row = self.store.get(conn, version)
                    active = self.build(row["version"], row["files"])
                    self._active = active
            self._checked = time.monotonic()
            return active

    def cached(self) -> V | None:
        """The version this process serves, without asking the store."""
        return self._active

    def switch_to(self, version: int, files: dict[str, str]) -> V:
        """Serve ``version`` from now on in this process (after it was committed as active)."""
        active = self.build(version, files)
        with self._lock:
            self._active = active
            self._checked = time.monotonic()
        return active


class RuleVersions(StoredVersions[Version]):
    store = RULE_SETS

    def __init__(self, rules_dir: Path, engine: Engine):
        super().__init__(engine)
        self.rules_dir = rules_dir

    def bundled(self) -> tuple[dict[str, str], str]:
        files = bundled_files(self.rules_dir)
        ruleset, problems = check_files(self.rules_dir, files, run_rule_tests=False)
        if ruleset is None:
            raise RuleError(problems)
        return files, ruleset.version

    def build(self, version: int, files: dict[str, str]) -> Version:
        ruleset, problems = check_files(self.rules_dir, files, run_rule_tests=False)
        if ruleset is None:
            raise RuleError(problems)
        # A fresh engine per version: calls still running on the old one finish with it.
        return Version(version, files, ruleset, SubjectEngine(ruleset))


class CatalogVersions(StoredVersions[CatalogVersion]):
    store = CATALOGS
    error = CatalogError

    def __init__(self, catalog_dir: Path, engine: Engine, registry: Registry):
        super().__init__(engine)
        self.catalog_dir = catalog_dir
        self.registry = registry

    def bundled(self) -> tuple[dict[str, str], str]:
        files, problems = read_files(self.catalog_dir)
        catalog, more = (None, []) if problems else catalog_admin.check(files, self.registry, str(self.catalog_dir))
        if catalog is None:
            raise CatalogError(problems + more)
        return files, catalog.version

    def build(self, version: int, files: Mapping[str, str]) -> CatalogVersion:
        catalog, problems = catalog_admin.check(files, self.registry)
        if catalog is None:
            raise CatalogError(problems)
        return CatalogVersion(version, dict(files), catalog)


__all__ = ["CHECK_EVERY", "CatalogVersion", "CatalogVersions", "RuleVersions", "StoredVersions", "Version"]
