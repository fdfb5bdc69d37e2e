"""All settings, read from the environment in one place (never ad hoc deep in the code)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


@dataclass(frozen=True)
class Settings:
    rules_dir: Path
    catalog_dir: Path
    models_dir: Path
    var_dir: Path

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            rules_dir=Path(env.get("DIAGNOSIS_RULES", REPO_DIR / "rules")),
            catalog_dir=Path(env.get("DIAGNOSIS_CATALOG", REPO_DIR / "resources_catalog")),
            models_dir=Path(env.get("DIAGNOSIS_MODELS", REPO_DIR / "models")),
            var_dir=Path(env.get("DIAGNOSIS_VAR", REPO_DIR / "var")),
        )
