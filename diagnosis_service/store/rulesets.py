"""Rule-set versions: every published set of rule files (``store.versions``, table ``rule_versions``)."""

from __future__ import annotations

from .schema import rule_versions
from .versions import VersionTable

RULE_SETS = VersionTable(rule_versions, "rule set", "GET /v1/rules")
active, active_version, get, listing = RULE_SETS.active, RULE_SETS.active_version, RULE_SETS.get, RULE_SETS.listing
publish, activate = RULE_SETS.publish, RULE_SETS.activate

__all__ = ["RULE_SETS", "activate", "active", "active_version", "get", "listing", "publish"]
