"""Building real service instances for tests: a database (SQLite file or a fresh PostgreSQL schema),
migrated, loaded with a small simulated district, diagnosed, with one token per role."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import create_engine, select, text

from diagnosis_service.config import Settings
from diagnosis_service.data.csvdir import write_dir
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.pipeline.ingest import import_source
from diagnosis_service.rules import load_ruleset
from diagnosis_service.service import create_app
from diagnosis_service.simulation.district import SimulationSpec, simulate
from diagnosis_service.store import make_engine
from diagnosis_service.store import tokens as tokens_store
from diagnosis_service.store.migrate import upgrade
from diagnosis_service.store.schema import branches
from tests.support.paths import CATALOG, RULES

PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
SERVICE_DISTRICT = SimulationSpec(branches=24, members=360, months=12, end="2025-12", seed=11)
_PG_STATE: dict[str, str | None] = {}


def postgres_unavailable() -> str | None:
    """Why the PostgreSQL leg cannot run here (None when a server answers)."""
    if "reason" not in _PG_STATE:
        try:
            engine = create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _PG_STATE["reason"] = None
        except Exception as exc:  # any failure to connect: skip with the reason shown
            _PG_STATE["reason"] = f"no PostgreSQL server at 127.0.0.1:5432 ({exc.__class__.__name__})"
    return _PG_STATE["reason"]


class Database:
    """A private database: an SQLite file, or in the local PostgreSQL a schema of its own, or a database
    of its own copied from a seeded template database (``template``)."""

    def __init__(self, backend: str, tmp: Path, template: str | None = None):
        self.backend = backend
        self.schema = None
        self.database = None
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp / 'service.db'}"
        elif template is not None or tmp is None:
            # The creating process's pid in the name: databases of a run that died are found and dropped.
            self.database = f"ds_t_{os.getpid()}_{secrets.token_hex(4)}"
            clause = f" TEMPLATE {template}" if template else ""
            _pg_admin(f"CREATE DATABASE {self.database}{clause}")
            self.url = PG_SERVER.rsplit("/", 1)[0] + f"/{self.database}"
        else:
            self.schema = f"t_{secrets.token_hex(6)}"
            admin = _admin_engine()
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {self.schema}"))
            admin.dispose()
            self.url = f"{PG_SERVER}?options=-csearch_path%3D{self.schema}"

    def drop(self) -> None:
        if self.database:
            _pg_admin(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
        if self.schema:
            admin = _admin_engine()
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
            admin.dispose()


ADMIN_TIMEOUT = 300.0  # CREATE/DROP DATABASE wait for each other across test processes (pytest -n)


def _admin_engine(autocommit: bool = False):
    """An engine for the tests' own housekeeping, with a wait of its own: the service's engines in the
    same process set a short one (1.5 s) for the connections they make, which an admin statement queued
    behind another test process's CREATE DATABASE would exceed."""
    return make_engine(PG_SERVER, autocommit=autocommit, timeout=ADMIN_TIMEOUT, statement_timeout=ADMIN_TIMEOUT)


def _pg_admin(statement: str) -> None:
    """CREATE or DROP DATABASE: outside a transaction, on the server's own database."""
    admin = _admin_engine(autocommit=True)
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


@dataclass
class Service:
    app: object
    client: object
    engine: object
    db: Database
    data_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def h(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def close(self) -> None:
        runtime = self.app.extensions["diagnosis"]
        runtime.jobs.stop()  # its worker thread would poll a database about to be dropped
        for engine in {id(e): e for e in (runtime.engine, runtime.read_engine, self.engine)}.values():
            engine.dispose()
        self.db.drop()


def settings_for(tmp: Path) -> Settings:
    """A test service's settings. The model's monthly routine is off (a service test that serves lists and
    then diagnoses a later month would train models in a child process); tests/service/test_model_routine.py
    turns it on."""
    return Settings(rules_dir=RULES, catalog_dir=CATALOG, models_dir=tmp / "models",
                    var_dir=tmp / "var", secret_key="test-secret", log_level="WARNING", model_routine="off")


def make_service(backend: str, tmp: Path, *, spec: SimulationSpec = SERVICE_DISTRICT, diagnose: tuple = ("2025-11",
                 "2025-12"), extra_config: dict | None = None, settings: dict | None = None) -> Service:
    """``settings``: Settings fields to change (e.g. cookie_secure), as the environment would."""
    if backend == "sqlite":
        db, data_dir, tokens = _sqlite_copy(tmp, spec, diagnose)
        engine = make_engine(db.url)
        return _serve(db, engine, data_dir, tokens, tmp, (), extra_config, settings)
    db, data_dir, tokens = _postgresql_copy(tmp, spec, diagnose)
    engine = make_engine(db.url)
    return _serve(db, engine, data_dir, tokens, tmp, (), extra_config, settings)


def _fill(engine, tmp: Path, spec: SimulationSpec) -> tuple[Path, dict[str, str]]:
    """Schema, a simulated district and one token per role."""
    upgrade(engine)
    ruleset = load_ruleset(RULES)
    data_dir = tmp / "district"
    write_dir(simulate(spec, ruleset.registry), data_dir, ruleset.registry)
    import_source(engine, ruleset.registry, CsvDir(data_dir), actor="test")
    tokens = {}
    with engine.begin() as conn:
        tokens["platform"] = tokens_store.create(conn, "platform", "platform")
        tokens["admin"] = tokens_store.create(conn, "admin", "admin")
        tokens["secretary"] = tokens_store.create(conn, "sec-B00002", "secretary", "B00002")
        tokens["other_secretary"] = tokens_store.create(conn, "sec-B00003", "secretary", "B00003")
        street = conn.execute(select(branches.c.street).where(branches.c.branch_id == "B00002")).scalar_one()
        tokens["street"] = tokens_store.create(conn, "street-of-B00002", "street", street=street)
    return data_dir, tokens


def _serve(db: Database, engine, data_dir: Path, tokens: dict, tmp: Path, diagnose: tuple,
           extra_config: dict | None, settings: dict | None = None) -> Service:
    app = create_app({"SETTINGS": replace(settings_for(tmp), **(settings or {})), "DATABASE_URL": db.url, "TESTING": True, **(extra_config or {})})
    service = Service(app, app.test_client(), engine, db, data_dir, tokens)
    for period in diagnose:
        r = service.client.post("/v1/diagnoses?wait=true", json={"period": period}, headers=service.h("platform"))
        assert r.status_code == 201, r.get_json()
    return service


_TEMPLATES: dict[tuple, tuple[Database, Path, dict]] = {}  # (backend, spec, periods) -> seeded template


def _template(backend: str, spec: SimulationSpec, diagnose: tuple) -> tuple[Database, Path, dict]:
    """A seeded database (district, tokens, months diagnosed), built once per session for each backend,
    district and months: seeding takes seconds, a copy of it a millisecond (an SQLite file) or half a
    second (CREATE DATABASE ... TEMPLATE on PostgreSQL). PostgreSQL templates are dropped at exit."""
    key = (backend, spec, tuple(diagnose))
    if key not in _TEMPLATES:
        if backend == "postgresql" and not any(k[0] == "postgresql" for k in _TEMPLATES):
            _drop_orphans()
        home = Path(tempfile.mkdtemp(prefix="service-template-"))
        db = Database(backend, home if backend == "sqlite" else None)
        engine = make_engine(db.url)
        data_dir, tokens = _fill(engine, home, spec)
        template = _serve(db, engine, data_dir, tokens, home, diagnose, None)
        runtime = template.app.extensions["diagnosis"]
        for e in {id(e): e for e in (runtime.engine, runtime.read_engine, engine)}.values():
            e.dispose()
        if backend == "sqlite":
            with sqlite3.connect(home / "service.db") as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            atexit.register(db.drop)
        _TEMPLATES[key] = (db, template.data_dir, template.tokens)
    return _TEMPLATES[key]


def _drop_orphans() -> None:
    """Drop the test databases of runs whose process is gone (killed before its exit handlers ran)."""
    admin = _admin_engine()
    with admin.connect() as conn:
        names = list(conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE 'ds\\_t\\_%'")).scalars())
    admin.dispose()
    for name in names:
        parts = name.split("_")
        if len(parts) != 4 or not parts[2].isdigit() or _alive(int(parts[2])):
            continue
        _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sqlite_copy(tmp: Path, spec: SimulationSpec, diagnose: tuple) -> tuple[Database, Path, dict]:
    template, data_dir, tokens = _template("sqlite", spec, diagnose)
    db = Database("sqlite", tmp)
    shutil.copyfile(template.url.removeprefix("sqlite:///"), tmp / "service.db")
    shutil.copytree(data_dir, tmp / "district")
    return db, tmp / "district", dict(tokens)


def _postgresql_copy(tmp: Path, spec: SimulationSpec, diagnose: tuple) -> tuple[Database, Path, dict]:
    template, data_dir, tokens = _template("postgresql", spec, diagnose)
    db = Database("postgresql", tmp, template=template.database)
    shutil.copytree(data_dir, tmp / "district")
    return db, tmp / "district", dict(tokens)
