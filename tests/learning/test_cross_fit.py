"""Cross-fitting a first candidate: against the prior, its training months ranked by its recipe fitted on
the other months, so that it is judged on every month with outcomes; the recipe is what gets promoted."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.cli import main
from diagnosis_service.learning.persist import load
from diagnosis_service.learning.rollout import cross_fit_folds
from diagnosis_service.learning.train import fit, measurable
from diagnosis_service.pipeline import training
from diagnosis_service.remedies.catalog_files import load_catalog
from diagnosis_service.rules import load_ruleset
from tests.support.paths import CATALOG, RULES
from tests.support.rollout import bad_model, fewer_held_out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 14), st.integers(0, 3), st.integers(1, 4), st.integers(1, 6))
def test_cross_fit_folds_rank_each_training_month_by_a_fit_without_it(training_months, later, block, rows_a_month):
    import pandas as pd

    months = [f"2025-{m:02d}" if m <= 12 else f"2026-{m - 12:02d}" for m in range(1, training_months + later + 1)]
    outcomes = pd.DataFrame({"period": [m for m in months for _ in range(rows_a_month)]})
    seen = []
    folds = cross_fit_folds(outcomes, months[training_months - 1], block,
                            lambda rows: seen.append(sorted(set(rows["period"]))) or len(seen))
    covered = [sorted(set(outcomes.loc[mask, "period"])) for mask, _ in folds]
    # Blocks of `block` months from the latest training month back, each once; the later months in none.
    assert sorted(m for c in covered for m in c) == months[:training_months]
    assert all(len(c) == block for c in covered[:-1]) and 1 <= len(covered[-1]) <= block
    assert [c[-1] for c in covered] == sorted((c[-1] for c in covered), reverse=True)
    assert all(list(mask) == list(outcomes["period"].isin(c)) for (mask, _), c in zip(folds, covered, strict=True))
    # Each block's ranker is fitted on every other month, the candidate's held-out months included.
    assert [r for _, r in folds] == list(range(1, len(folds) + 1))
    assert all(fitted == sorted(set(months) - set(c)) for fitted, c in zip(seen, covered, strict=True))


def test_cross_fitting_judges_a_first_candidate_on_every_month_and_activates_its_recipe(runner, loop, tmp_path):
    # A smaller district's evidence in the held-out months, and 14 months of decisions: 6 folds to fit.
    small = fewer_held_out(loop, tmp_path / "small", 8, months=14)
    models = tmp_path / "models"
    candidate, active = models / "candidate.json", models / "effectiveness.json"
    assert runner.invoke(main, ["model", "train", "--lang", "en", "--from", str(small), "--out", str(candidate)]).exit_code == 0
    _, card = load(candidate)
    common = ["--from", str(small), "--candidate", str(candidate), "--active", str(active), "--json"]

    plain = json.loads(runner.invoke(main, ["model", "evaluate", "--lang", "en", *common]).stdout)
    assert plain["months"] == [card["held_out"]["from"], card["held_out"]["to"]] and plain["cross_fitted"] == []

    promoted = runner.invoke(main, ["model", "promote", "--lang", "en", *common, "--cross-fit"])
    assert promoted.exit_code == 0, promoted.output
    crossed = json.loads(promoted.stdout)
    assert crossed["cross_fitted"][0] == card["data_window"]["from"]
    assert crossed["cross_fitted"][-1] == card["data_window"]["to"] and crossed["months"][-1] == plain["months"][-1]
    assert crossed["decisions"] > 5 * plain["decisions"]
    assert crossed["effective_sample"]["candidate"] > 3 * plain["effective_sample"]["candidate"]
    assert crossed["bounds"][1] - crossed["bounds"][0] < plain["bounds"][1] - plain["bounds"][0]
    assert crossed["promote"] is True and "fold 1 of" in promoted.stderr and "the refit of" in promoted.stderr
    _, refit = load(active)  # what was judged is the recipe: it is activated fitted on every month
    assert refit["refit_of"] == card["fingerprint"] and refit["data_window"]["to"] == card["held_out"]["to"]
    record = json.loads((models / "promotions.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert record["comparison"]["cross_fitted"] == crossed["cross_fitted"]

    # Against a model in service, a fold would judge that model on its own training months: not cross-fitted.
    against_model = runner.invoke(main, ["model", "evaluate", "--lang", "en", *common, "--cross-fit"])
    assert "note: not cross-fitted: a model serves" in against_model.stderr
    assert json.loads(against_model.stdout)["cross_fitted"] == []
    # A candidate this version's recipe does not reproduce (the deliberately bad model) is judged on its
    # held-out months only, and refused.
    bad = bad_model(small, tmp_path / "bad" / "candidate.json", source=str(small))
    refused = runner.invoke(main, ["model", "promote", "--lang", "en", *common, "--candidate", str(bad), "--cross-fit",
                                   "--active", str(tmp_path / "none.json")])
    assert refused.exit_code == 1 and "not cross-fitted (this version's recipe" in refused.stderr
    assert json.loads(refused.stdout)["cross_fitted"] == [] and json.loads(refused.stdout)["difference"] < 0


def test_folds_stand_for_the_candidate_on_their_months_and_a_worse_recipe_cross_fitted_is_refused(loop):
    from diagnosis_service.learning.policy import LearnedRanker
    from diagnosis_service.learning.rollout import compare
    from diagnosis_service.remedies.ranking import PriorRanker

    ruleset = load_ruleset(RULES)
    catalog = load_catalog(CATALOG, ruleset.registry)
    log, metrics = training.from_dir(loop)
    outcomes = measurable(log, metrics, ruleset)
    months = sorted(set(outcomes["period"]))[-6:]
    outcomes = outcomes[outcomes["period"] >= months[0]].reset_index(drop=True)
    served, trained_to = training.served_of(log, None), months[-3]

    def ranker(rows, sign=1.0):
        rows = rows.assign(improvement=sign * rows["improvement"]).reset_index(drop=True)
        return LearnedRanker(fit(rows, catalog).model, 0.05, name="learned")

    def compared(candidate, folds=(), rows=outcomes):
        return compare(rows, catalog, ruleset, candidate, PriorRanker(), served=served, folds=folds)

    # A fold ranked by the candidate itself is the plain comparison, to the last digit; another ranker on
    # a fold changes the candidate's estimate only.
    candidate = ranker(outcomes.iloc[::3])
    recent = outcomes[outcomes["period"] >= months[-3]].reset_index(drop=True)
    early = (recent["period"] == months[-3]).to_numpy()
    plain = compared(candidate, rows=recent)
    assert compared(candidate, [(early, candidate)], recent).as_dict() == {**plain.as_dict(),
                                                                         "cross_fitted": [months[-3]]}
    other = compared(candidate, [(early, PriorRanker())], recent)
    assert other.active_value == plain.active_value and other.candidate_value != plain.candidate_value
    assert other.effective_sample["active"] == plain.effective_sample["active"]

    # Cross-fitting judges the recipe: one that learns the opposite of what happened is estimated worse and
    # refused (worse "with confidence" where the log holds enough of its choices).
    def inverted(rows):
        return ranker(rows, -1.0)

    worse = compared(inverted(outcomes[outcomes["period"] <= trained_to]),
                     cross_fit_folds(outcomes, trained_to, 2, inverted))
    assert worse.cross_fitted == months[:-2] and worse.decisions == len(outcomes)
    assert not worse.promote and worse.difference < 0, worse
    assert ("worse than" if worse.bounds[1] < 0 else "not better with confidence") in worse.reason


def test_the_holdout_learns_nothing_from_its_held_out_months(loop):
    """Whether a branch never answers is judged on the training months alone: answers given only in the
    held-out months change no part of the holdout's fit, so its figures stay the same to the digit."""
    from diagnosis_service.learning.train import HOLDOUT_SHARE, holdout

    ruleset = load_ruleset(RULES)
    catalog = load_catalog(CATALOG, ruleset.registry)
    log, metrics = training.from_dir(loop)
    kept = sorted(set(log["branch_id"]))[:60]  # a third of the loop's branches: the same test, a third of the fits
    outcomes = measurable(log[log["branch_id"].isin(kept)], metrics[metrics["branch_id"].isin(kept)], ruleset)
    periods = sorted(set(outcomes["period"]))
    held = outcomes["period"] >= periods[int(len(periods) * (1 - HOLDOUT_SHARE))]
    # Every other branch never answers; then the same, except that they answer in the held-out months.
    branches = sorted(set(outcomes["branch_id"]))
    quiet = outcomes["branch_id"].isin(branches[::2])
    silenced = outcomes.assign(status=outcomes["status"].where(~quiet, "ignored"))
    answered = silenced.assign(status=silenced["status"].where(~(held & quiet), "adopted"))
    assert len(periods) >= 3 and (held & quiet).any() and (~held & quiet).any()
    figures = holdout(answered, catalog)
    assert holdout(silenced, catalog) == figures and np.isfinite(figures["correlation"])
