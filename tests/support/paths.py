"""Where the shipped rules and catalog are (tests read them; a test that changes them copies them first)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"
CATALOG = REPO / "resources_catalog"
