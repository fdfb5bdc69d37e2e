"""Settings come from the environment in one place, with the shipped rules, catalog and an embedded
database as defaults; the database URL is never shown with its password."""

import os
import stat

from diagnosis_service.config import Settings
from tests.support.paths import CATALOG, RULES


def test_defaults_are_the_shipped_data_and_an_embedded_database(tmp_path):
    s = Settings.from_env({"DIAGNOSIS_VAR": str(tmp_path)})
    assert s.rules_dir.resolve() == RULES.resolve() and s.catalog_dir.resolve() == CATALOG.resolve()
    assert s.db_url() == f"sqlite:///{tmp_path.resolve() / 'diagnosis.db'}"
    assert s.max_body_bytes == 64 * 1024 * 1024 and s.log_level == "INFO"
    assert s.prior_exploration == 0.5 and s.learned_exploration == 0.02


def test_the_environment_overrides_each_setting(tmp_path):
    s = Settings.from_env({"DIAGNOSIS_RULES": str(tmp_path / "r"), "DIAGNOSIS_CATALOG": str(tmp_path / "c"),
                           "DATABASE_URL": "postgresql+psycopg2://u:secret@127.0.0.1/test",
                           "DIAGNOSIS_MAX_BODY_MB": "0.5", "DIAGNOSIS_LOG_LEVEL": "debug",
                           "DIAGNOSIS_PRIOR_EXPLORATION": "0", "DIAGNOSIS_LEARNED_EXPLORATION": "0.1"})
    assert s.rules_dir == tmp_path / "r" and s.catalog_dir == tmp_path / "c"
    assert s.max_body_bytes == 512 * 1024 and s.log_level == "DEBUG" and s.prior_exploration == 0
    assert s.learned_exploration == 0.1
    assert "secret" not in s.safe_db_url() and "u:***@127.0.0.1" in s.safe_db_url()


def test_the_secret_is_made_once_and_kept_private(tmp_path):
    s = Settings.from_env({"DIAGNOSIS_VAR": str(tmp_path)})
    first = s.secret()
    assert len(first) == 64 and s.secret() == first
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600
    assert Settings.from_env({"DIAGNOSIS_VAR": str(tmp_path), "DIAGNOSIS_SECRET_KEY": "given"}).secret() == "given"
