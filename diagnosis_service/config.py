"""All settings, read from the environment in one place (never ad hoc deep in the code)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import Problem, SetupError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
MODEL_FILE = "effectiveness.json"  # the trained effectiveness model, in the models directory
CANDIDATE_FILE = "candidate.json"  # what `model train` writes; `model promote` makes it MODEL_FILE
# A candidate estimated better than the prior, not yet with confidence: `model promote` puts it on trial
# here, and a service ranking with the prior lets it make the exploring choices (learning.rollout.on_trial).
CHALLENGER_FILE = "challenger.json"


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    text = env.get(name)
    if text is None or text == "":
        return float(default)
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise SetupError(Problem(f"must be a number from {low:g} to {high:g}, got {text!r}"[:200],
                                 field=(name,)))
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    """The setting, upper-cased, one of ``choices`` (given upper-case; said in the default's case)."""
    value = (env.get(name) or default).upper()
    if value not in choices:
        shown = [c.lower() if default.islower() else c for c in choices]
        raise SetupError(Problem(f"must be one of {', '.join(shown)}, got {(env.get(name) or '')[:40]!r}",
                                 field=(name,), suggestion=f"e.g. {name}={default}"))
    return value


_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$|^\[[0-9a-f:.]+\](:[0-9]{1,5})?$")


def _hosts(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of host patterns: ``host``, ``host:port``, ``*.domain`` (any subdomain)."""
    out = []
    for item in (env.get(name) or "").split(","):
        item = item.strip().lower()
        if not item:
            continue
        if not _HOST.match(item):
            raise SetupError(Problem(f"{item!r} is not a host pattern"[:200], field=(name,),
                                     suggestion="comma-separated hosts: receiver.example.org, 10.0.0.5:8443, "
                                                "*.example.org"))
        out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    rules_dir: Path
    catalog_dir: Path
    models_dir: Path
    var_dir: Path
    database_url: str = ""  # empty: an SQLite file under var_dir
    secret_key: str = ""  # empty: kept in var_dir/secret_key (signs the report page's login cookie)
    max_body_bytes: int = 64 * 1024 * 1024
    log_level: str = "INFO"
    db_timeout: float = 1.5  # seconds the service waits on a silent database (then 503 with Retry-After)
    db_statement_timeout: float = 30.0  # seconds a statement of the service may run on PostgreSQL
    session_hours: float = 8.0  # a page login lasts at most this long
    session_idle_minutes: float = 30.0  # ... and ends sooner after this long without a page opened
    cookie_secure: bool = False  # send the login cookie over HTTPS only (set it when served over HTTPS)
    # The district's clock, hours from UTC (China's: +8, no summer time): a secretary's "today" on the pages.
    district_utc_offset: float = 8.0
    # Webhooks (docs/webhooks.md). Empty allow-list: no subscription can be made.
    webhook_allowed_hosts: tuple[str, ...] = ()  # host, host:port or *.domain patterns a target may name
    webhook_max_attempts: int = 12  # then the delivery is dead-lettered
    webhook_retry_base: float = 10.0  # seconds before the 2nd attempt; doubles each time, with jitter
    webhook_retry_max: float = 3600.0  # ... up to this long between two attempts
    webhook_timeout: float = 5.0  # seconds to connect and to answer, each
    webhook_lease: float = 60.0  # seconds a worker owns a subscription's queue without renewing it
    webhook_poll: float = 0.2  # seconds an idle worker waits before looking for due deliveries again
    webhook_deliver_in_serve: bool = False  # `serve` runs a delivery worker thread beside the HTTP server
    # Jobs (POST /v1/diagnoses answers 202 and a worker thread of a serving process does the work).
    job_lease: float = 120.0  # seconds a worker owns a job without renewing it (then another takes it over)
    job_max_attempts: int = 3  # a job whose worker stopped this many times is failed
    job_poll: float = 0.5  # seconds an idle job worker waits before looking for work again
    # Before a model exists, the first recommendation of a list is drawn uniformly this often (the rest of
    # the time it is the prior's best), the probability logged: the outcomes a first model learns from
    # then cover the catalog, not only the prior's favourites (docs/effectiveness.md). 0: the plain prior.
    prior_exploration: float = 0.5
    # Once a model serves, the first recommendation is drawn uniformly this often (else by Thompson draws over
    # the model's uncertainty). Smaller serves better now; larger keeps the log telling more about other
    # rankings, which a challenger's evaluation needs. 2%, as the closed loop: measured against 5% in the
    # loop against a running service, it served better in 5 of 6 seeds (docs/effectiveness.md).
    learned_exploration: float = 0.02
    # The model's monthly routine (`model train`, then `model promote --refit --cross-fit`), run by the service
    # itself when a month newer than the last one it ran for is diagnosed: "monthly", or "off" (an
    # administrator runs it, as docs/effectiveness.md shows). It runs before the month's diagnosis, so the
    # month's lists are ranked by what the months before taught; at most this many seconds.
    model_routine: str = "monthly"
    model_routine_timeout: float = 3600.0
    # The one-sided confidence the routine's `model promote --confidence` asks of a first model before it
    # replaces the prior (a model replacing a model: `model promote`'s own, 0.9). 0.8: in the outsider's
    # district the gate at 0.9 kept a model 1.7x as good out of service for a year in one seed of three
    # (docs/effectiveness.md, "An outsider's district").
    model_routine_confidence: float = 0.8

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Every setting from the environment; SetupError naming the variable when one is malformed."""
        env = os.environ if env is None else env
        var_dir = Path(env.get("DIAGNOSIS_VAR", REPO_DIR / "var"))
        return cls(
            rules_dir=Path(env.get("DIAGNOSIS_RULES", REPO_DIR / "rules")),
            catalog_dir=Path(env.get("DIAGNOSIS_CATALOG", REPO_DIR / "resources_catalog")),
            models_dir=Path(env.get("DIAGNOSIS_MODELS", REPO_DIR / "models")),
            var_dir=var_dir,
            database_url=env.get("DATABASE_URL", ""),
            secret_key=env.get("DIAGNOSIS_SECRET_KEY", ""),
            max_body_bytes=int(_number(env, "DIAGNOSIS_MAX_BODY_MB", 64, 0.001, 4096) * 1024 * 1024),
            log_level=_choice(env, "DIAGNOSIS_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            db_timeout=_number(env, "DIAGNOSIS_DB_TIMEOUT", 1.5, 0.1, 600),
            db_statement_timeout=_number(env, "DIAGNOSIS_DB_STATEMENT_TIMEOUT", 30, 1, 86400),
            session_hours=_number(env, "DIAGNOSIS_SESSION_HOURS", 8, 0.01, 720),
            session_idle_minutes=_number(env, "DIAGNOSIS_SESSION_IDLE_MINUTES", 30, 1, 43200),
            cookie_secure=_choice(env, "DIAGNOSIS_COOKIE_SECURE", "false", ("TRUE", "FALSE", "1", "0"))
            in ("TRUE", "1"),
            district_utc_offset=_number(env, "DIAGNOSIS_DISTRICT_UTC_OFFSET", 8, -12, 14),
            webhook_allowed_hosts=_hosts(env, "WEBHOOK_ALLOWED_HOSTS"),
            webhook_max_attempts=int(_number(env, "WEBHOOK_MAX_ATTEMPTS", 12, 1, 100)),
            webhook_retry_base=_number(env, "WEBHOOK_RETRY_BASE_SECONDS", 10, 0.01, 86400),
            webhook_retry_max=_number(env, "WEBHOOK_RETRY_MAX_SECONDS", 3600, 0.01, 7 * 86400),
            webhook_timeout=_number(env, "WEBHOOK_TIMEOUT_SECONDS", 5, 0.1, 120),
            webhook_lease=_number(env, "WEBHOOK_LEASE_SECONDS", 60, 1, 3600),
            webhook_poll=_number(env, "WEBHOOK_POLL_SECONDS", 0.2, 0.01, 60),
            webhook_deliver_in_serve=_choice(env, "WEBHOOK_DELIVER_IN_SERVE", "false", ("TRUE", "FALSE", "1", "0"))
            in ("TRUE", "1"),
            job_lease=_number(env, "DIAGNOSIS_JOB_LEASE_SECONDS", 120, 1, 86400),
            job_max_attempts=int(_number(env, "DIAGNOSIS_JOB_MAX_ATTEMPTS", 3, 1, 100)),
            job_poll=_number(env, "DIAGNOSIS_JOB_POLL_SECONDS", 0.5, 0.01, 60),
            prior_exploration=_number(env, "DIAGNOSIS_PRIOR_EXPLORATION", 0.5, 0, 1),
            learned_exploration=_number(env, "DIAGNOSIS_LEARNED_EXPLORATION", 0.02, 0, 1),
            model_routine=_choice(env, "DIAGNOSIS_MODEL_ROUTINE", "monthly", ("MONTHLY", "OFF")).lower(),
            model_routine_timeout=_number(env, "DIAGNOSIS_MODEL_ROUTINE_TIMEOUT_SECONDS", 3600, 10, 86400),
            model_routine_confidence=_number(env, "DIAGNOSIS_MODEL_ROUTINE_CONFIDENCE", 0.8, 0.5, 0.999),
        )

    def db_url(self) -> str:
        """DATABASE_URL, or the embedded default: an SQLite file in the var directory."""
        return self.database_url or f"sqlite:///{self.var_dir.resolve() / 'diagnosis.db'}"

    def safe_db_url(self) -> str:
        """The database URL as it may be shown or logged: without its password."""
        url = self.db_url()
        try:
            from sqlalchemy.engine import make_url

            return make_url(url).render_as_string(hide_password=True)
        except Exception:  # not a URL SQLAlchemy can read: hide anything between ':' and '@'
            return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)

    def secret(self) -> str:
        """The configured secret, or one created once in var_dir (mode 0600) and reused after."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if not path.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".secret_key.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)  # atomic, and never replaces a key another process made first
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()
