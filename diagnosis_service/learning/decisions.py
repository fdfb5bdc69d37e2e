"""What one decision is: the served log as the effectiveness model reads it.

One decision per weakness of a branch in a month: the first recommendation for that weakness (its
rule). A list shown again is the same decision, not a new one. When a later showing put another
resource first (a retrained model), the showing the secretary answered is the decision; with no
answer, the latest showing. Feedback on any showing of the same recommendation counts, and the
latest answer wins; no answer at all is ``ignored``. The store gives the rows; this module decides.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import pandas as pd

from ..periods import parse_period
from .outcomes import LOG_COLUMNS


def decisions(first_items: Iterable[tuple], feedback: Iterable[tuple],
              branches: Mapping[str, tuple[str, str | None]]) -> pd.DataFrame:
    """The decisions (``outcomes.LOG_COLUMNS``, ``kinds``, ``catalog_version`` and the showing's
    ``list_id``), sorted by branch, period and rule.

    ``first_items``: (list_id, branch_id, period, topic, rule, resource_id, kind, propensity, body,
    catalog_version) of each shown list's first item per rule, in the order shown
    (``store.served.first_items``; the catalog version is None for a list from a catalog directory);
    ``feedback``: (branch_id, period, rule, resource_id, status) in the order given;
    ``branches``: branch id -> (type, street).
    """
    status = {tuple(key): st for *key, st in feedback}  # later answers replace earlier ones
    shown: dict[tuple, list[dict]] = {}
    for list_id, branch_id, period, topic, rule, rid, kind, prop, body, catalog_version in first_items:
        need = json.loads(body).get("need", {})
        btype, street = branches.get(branch_id, ("other", None))
        shown.setdefault((branch_id, period, rule), []).append({
            "branch_id": branch_id, "period": period, "pidx": parse_period(period), "topic": topic, "rule": rule,
            "indicator": need.get("indicator"), "resource_id": rid, "kind": kind, "propensity": prop,
            "status": status.get((branch_id, period, rule, rid), "ignored"), "branch_type": btype, "street": street,
            "members": need.get("members", 0), "value": need.get("value"), "reference": need.get("reference"),
            # the kinds the ranker preferred (every finding's on the topic); lists logged before they were
            # kept have none here, and the estimates fall back to the rule's
            "kinds": " ".join(need["kinds"]) if isinstance(need.get("kinds"), list) else None,
            "catalog_version": catalog_version, "list_id": list_id})
    rows = [next((r for r in reversed(shown[k]) if r["status"] != "ignored"), shown[k][-1]) for k in sorted(shown)]
    return pd.DataFrame(rows, columns=[*LOG_COLUMNS, "kinds", "catalog_version", "list_id"])


__all__ = ["decisions"]
