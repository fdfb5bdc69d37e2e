"""All settings, read from the environment in one place (never ad hoc deep in the code)."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
MODEL_FILE = "effectiveness.json"  # the trained effectiveness model, in the models directory


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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        var_dir = Path(env.get("DIAGNOSIS_VAR", REPO_DIR / "var"))
        return cls(
            rules_dir=Path(env.get("DIAGNOSIS_RULES", REPO_DIR / "rules")),
            catalog_dir=Path(env.get("DIAGNOSIS_CATALOG", REPO_DIR / "resources_catalog")),
            models_dir=Path(env.get("DIAGNOSIS_MODELS", REPO_DIR / "models")),
            var_dir=var_dir,
            database_url=env.get("DATABASE_URL", ""),
            secret_key=env.get("DIAGNOSIS_SECRET_KEY", ""),
            max_body_bytes=int(float(env.get("DIAGNOSIS_MAX_BODY_MB", "64")) * 1024 * 1024),
            log_level=env.get("DIAGNOSIS_LOG_LEVEL", "INFO").upper(),
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
