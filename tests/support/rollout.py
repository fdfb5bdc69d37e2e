"""A closed loop's log for the promotion tests (tests/learning/test_rollout.py, test_trial.py,
test_cross_fit.py), a deliberately bad model fitted on it, and the same log with less evidence."""

from __future__ import annotations

from diagnosis_service.learning.persist import model_card, save
from diagnosis_service.learning.train import fit, measurable
from diagnosis_service.pipeline import training
from diagnosis_service.remedies.catalog_files import load_catalog
from diagnosis_service.rules import load_ruleset
from tests.support.paths import CATALOG, RULES

# 20 months served by the prior exploring at 0.5, as a service serves before its first model (12 of history,
# then 8 evaluated): every candidate's choices could have been logged (rollout.MIN_SUPPORT).
LOOP = ["--policy", "prior", "--prior-exploration", "0.5", "--months", "8", "--branches", "140", "--members", "2100"]


def bad_model(loop, path, source="inverted"):
    """A model fitted on the opposite of what happened: it prefers what did harm. ``source``: what its card
    says it was trained from (``str(loop)``: the recipe `model train --from loop` makes)."""
    ruleset = load_ruleset(RULES)
    catalog = load_catalog(CATALOG, ruleset.registry)
    log, metrics = training.from_dir(loop)
    outcomes = measurable(log, metrics, ruleset)
    months = sorted(set(outcomes["period"]))
    outcomes = outcomes[outcomes["period"] <= months[-3]].reset_index(drop=True)
    outcomes["improvement"] = -outcomes["improvement"]
    fitted = fit(outcomes, catalog)
    card = model_card(fitted.X, fitted.y, outcomes, fitted.model, source, {})
    save(fitted.model, path, {**card, "held_out": {"from": months[-2], "to": months[-1]}})  # as `model train`'s
    return path


def fewer_held_out(loop, out, every, months=None, last=2):
    """The loop with one in ``every`` of its last ``last`` months' decisions: a smaller district's evidence;
    with ``months``, only the decisions of its last ``months`` months."""
    import shutil

    import pandas as pd

    shutil.copytree(loop, out)
    log = pd.read_csv(out / "log.csv", dtype=str, keep_default_na=False)
    periods = sorted(set(log["period"]))
    late = log["period"] >= periods[-last]
    kept = (~late | (pd.RangeIndex(len(log)) % every == 0)) & (log["period"] >= periods[-(months or len(periods))])
    log[kept].to_csv(out / "log.csv", index=False)
    return out
