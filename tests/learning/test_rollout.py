"""Champion and challenger: `model train` writes a candidate, `model promote` activates it only when it
is better than the active ranking with confidence on months it did not learn from; a deliberately bad
model is never promoted, and the active model stays byte for byte."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.cli import main
from diagnosis_service.learning.persist import load, model_card, save
from diagnosis_service.learning.rollout import (
    MIN_DECISIONS,
    Comparison,
    cross_fit_folds,
    ends_trial,
    is_refresh,
    judged_after,
    on_trial,
    verdict,
)
from diagnosis_service.learning.train import fit, measurable
from diagnosis_service.pipeline import training
from diagnosis_service.remedies.catalog_files import load_catalog
from diagnosis_service.rules import load_ruleset
from tests.support.paths import CATALOG, RULES

# 12 months served by the prior exploring at 0.5 (the loop's history), then 8 by the plain prior (--epsilon is
# the learned policy's exploration): the held-out months' choices are the prior's own, as a service's are where
# it does not explore.
LOOP = ["--policy", "prior", "--epsilon", "0.5", "--months", "8", "--branches", "200", "--members", "3000"]


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("rollout") / "loop"
    r = CliRunner().invoke(main, ["simulate", "loop", *LOOP, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


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


def test_a_better_candidate_is_promoted_and_a_bad_one_never(runner, loop, tmp_path):
    models = tmp_path / "models"
    common = ["--from", str(loop), "--active", str(models / "effectiveness.json")]
    trained = runner.invoke(main, ["model", "train", "--from", str(loop), "--out", str(models / "candidate.json")])
    assert trained.exit_code == 0, trained.output
    _, card = load(models / "candidate.json")
    assert card["held_out"]["to"] > card["data_window"]["to"] and not (models / "effectiveness.json").exists()

    looked = runner.invoke(main, ["model", "evaluate", "--candidate", str(models / "candidate.json"), "--json",
                                  *common])
    assert looked.exit_code == 0, looked.output
    seen = json.loads(looked.stdout)
    assert seen["active"] == "prior" and seen["months"] == [card["held_out"]["from"], card["held_out"]["to"]]
    assert seen["decisions"] >= MIN_DECISIONS and not (models / "effectiveness.json").exists()
    # `--candidate` alone is the default candidate, $DIAGNOSIS_MODELS/candidate.json.
    alone = runner.invoke(main, ["model", "evaluate", "--candidate", "--json", "--from", str(loop)],
                          env={"DIAGNOSIS_MODELS": str(models)})
    assert alone.exit_code == 0, alone.output
    assert json.loads(alone.stdout) == seen

    promoted = runner.invoke(main, ["model", "promote", "--candidate", str(models / "candidate.json"), *common])
    assert promoted.exit_code == 0, promoted.output
    assert "better with confidence" in promoted.stdout and seen["bounds"][0] > 0 and not seen["refresh"]
    assert (models / "effectiveness.json").read_bytes() == (models / "candidate.json").read_bytes()
    good = (models / "effectiveness.json").read_bytes()

    bad = bad_model(loop, tmp_path / "bad" / "candidate.json")
    refused = runner.invoke(main, ["model", "promote", "--candidate", str(bad), "--json", *common])
    assert refused.exit_code == 1
    result = json.loads(refused.stdout)
    assert result["active"] == f"learned:{card['fingerprint']}" and result["promote"] is False
    # Trained on the same months as the model in service: a challenger, not a retrain of it. Estimated
    # worse; whether "with confidence" depends on how much of the log supports it.
    assert result["refresh"] is False
    assert result["difference"] < 0 and result["bounds"][0] < 0
    assert ("worse than" if result["bounds"][1] < 0 else "not better with confidence") in result["reason"]
    assert "stays active" in refused.stderr
    assert (models / "effectiveness.json").read_bytes() == good  # nothing changed
    # Against the prior as well: the bad model is not promoted over ranking by the documented prior.
    against_prior = runner.invoke(main, ["model", "promote", "--candidate", str(bad), "--from", str(loop),
                                         "--active", str(tmp_path / "none.json")])
    assert against_prior.exit_code == 1 and "not promoted" in against_prior.stderr + against_prior.stdout

    forced = runner.invoke(main, ["model", "promote", "--candidate", str(bad), "--force", *common])
    assert forced.exit_code == 0 and "by --force" in forced.stderr
    records = [json.loads(line) for line in (models / "promotions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["forced"] for r in records] == [False, True]
    assert records[1]["replaced"] == records[0]["promoted"] == f"learned:{card['fingerprint']}"
    kept = models / "history" / f"effectiveness-{card['fingerprint']}.json"
    assert kept.read_bytes() == good  # the previous model, to roll back to


def _fewer_held_out(loop, out, every, months=None):
    """The loop with one in ``every`` of its last two months' decisions: a smaller district's evidence;
    with ``months``, only the decisions of its last ``months`` months."""
    import shutil

    import pandas as pd

    shutil.copytree(loop, out)
    log = pd.read_csv(out / "log.csv", dtype=str, keep_default_na=False)
    periods = sorted(set(log["period"]))
    late = log["period"] >= periods[-2]
    kept = (~late | (pd.RangeIndex(len(log)) % every == 0)) & (log["period"] >= periods[-(months or len(periods))])
    log[kept].to_csv(out / "log.csv", index=False)
    return out


def test_a_candidate_better_without_confidence_goes_on_trial_until_promoted_or_refuted(runner, loop, tmp_path):
    models = tmp_path / "models"
    candidate, challenger = models / "candidate.json", models / "challenger.json"
    assert runner.invoke(main, ["model", "train", "--from", str(loop), "--out", str(candidate)]).exit_code == 0
    small = _fewer_held_out(loop, tmp_path / "small", 8)
    tiny = _fewer_held_out(loop, tmp_path / "tiny", 40)
    common = ["--candidate", str(candidate), "--active", str(models / "effectiveness.json"), "--json"]
    on_trial_at = ["model", "promote", "--from", str(small), "--confidence", "0.99", *common]

    def records():
        return [json.loads(line) for line in (models / "promotions.jsonl").read_text(encoding="utf-8").splitlines()]

    tried = runner.invoke(main, on_trial_at)
    assert tried.exit_code == 1, tried.output
    result = json.loads(tried.stdout)
    assert result["trial"] is True and result["promote"] is False and result["active"] == "prior"
    assert result["difference"] > 0 and result["bounds"][0] <= 0 < min(result["effective_sample"].values()) - 10
    assert challenger.read_bytes() == candidate.read_bytes() and not (models / "effectiveness.json").exists()
    assert "on trial" in tried.stderr and records()[-1]["trial"] == result["candidate"]

    # A comparison that says too little (38 decisions) neither starts nor ends a trial.
    unsure = runner.invoke(main, ["model", "promote", "--from", str(tiny), *common])
    assert unsure.exit_code == 1 and json.loads(unsure.stdout)["decisions"] < MIN_DECISIONS
    assert challenger.read_bytes() == candidate.read_bytes() and "stays on trial" in unsure.stderr
    assert len(records()) == 1

    # A candidate of another recipe estimated worse says nothing of the challenger: the trial stays.
    other = runner.invoke(main, ["model", "promote", "--from", str(loop), *common, "--candidate",
                                 str(bad_model(loop, tmp_path / "other" / "candidate.json"))])
    assert other.exit_code == 1 and json.loads(other.stdout)["difference"] < 0
    assert challenger.read_bytes() == candidate.read_bytes() and "stays on trial" in other.stderr
    # The challenger's recipe retrained and estimated worse than the prior ends it: the newest evidence
    # is against the recipe.
    bad = bad_model(loop, tmp_path / "bad" / "candidate.json", source=str(loop))
    refuted = runner.invoke(main, ["model", "promote", "--from", str(loop), *common, "--candidate", str(bad)])
    assert refuted.exit_code == 1 and json.loads(refuted.stdout)["trial"] is False
    assert not challenger.exists() and records()[-1]["trial_ended"] == result["candidate"]
    assert "the trial of" in refuted.stderr

    # --no-trial: refused, and a trial under way ends.
    assert runner.invoke(main, on_trial_at).exit_code == 1 and challenger.exists()
    kept = runner.invoke(main, [*on_trial_at, "--no-trial"])
    assert kept.exit_code == 1 and json.loads(kept.stdout)["trial"] is False and not challenger.exists()
    assert records()[-1]["trial_ended"] == result["candidate"]

    # On trial again, then promoted on the whole held-out evidence: one record says both.
    assert runner.invoke(main, on_trial_at).exit_code == 1 and challenger.exists()
    before = len(records())
    promoted = runner.invoke(main, ["model", "promote", "--from", str(loop), *common])
    assert promoted.exit_code == 0, promoted.output
    assert not challenger.exists() and (models / "effectiveness.json").read_bytes() == candidate.read_bytes()
    assert len(records()) == before + 1
    assert records()[-1]["promoted"] == result["candidate"] == records()[-1]["trial_ended"]


def test_a_service_that_does_not_explore_gets_no_trial(runner, loop, tmp_path, monkeypatch):
    monkeypatch.setenv("DIAGNOSIS_PRIOR_EXPLORATION", "0")
    models = tmp_path / "models"
    assert runner.invoke(main, ["model", "train", "--from", str(loop), "--out", str(models / "c.json")]).exit_code == 0
    done = runner.invoke(main, ["model", "promote", "--from", str(_fewer_held_out(loop, tmp_path / "small", 8)),
                                "--confidence", "0.99", "--candidate", str(models / "c.json"),
                                "--active", str(models / "effectiveness.json"), "--json"])
    assert done.exit_code == 1 and json.loads(done.stdout)["trial"] is False
    assert not (models / "challenger.json").exists()


def test_only_a_challenger_estimated_better_than_the_prior_on_enough_evidence_goes_on_trial():
    def compared(difference=0.1, decisions=500, ess=(40.0, 500.0), promote=False, refresh=False):
        return Comparison("learned:c", "prior", ["2025-11"], decisions, 0.3, 0.2, difference, (-0.1, 0.3),
                          {"candidate": ess[0], "active": ess[1]}, promote, "", bounds=(-0.05, 0.25),
                          refresh=refresh)

    assert on_trial(compared(), active_is_prior=True) is True
    assert on_trial(compared(), active_is_prior=False) is False  # a model serves: no exploration share to give
    assert not on_trial(compared(difference=-0.01), True) and not on_trial(compared(difference=0.0), True)
    assert on_trial(compared(difference=math.nan), True) is False  # a plain bool: --json prints it
    assert not on_trial(compared(ess=(9.9, 500.0)), True)  # the log says too little of it
    assert not on_trial(compared(decisions=MIN_DECISIONS - 1), True)
    assert not on_trial(compared(promote=True), True) and not on_trial(compared(refresh=True), True)
    # A trial ends on evidence against its recipe, not on a comparison that says nothing.
    recipe = {"features": ["resource"], "params": {"ridge_alpha": 4.0}, "libraries": {"scikit-learn": "1.5"},
              "source": "store"}
    card, challenger = {**recipe, "fingerprint": "new"}, {**recipe, "fingerprint": "c"}
    assert ends_trial(compared(difference=-0.01), card, challenger) is True
    assert ends_trial(compared(difference=0.0), card, challenger)
    assert not ends_trial(compared(), card, challenger)
    assert not ends_trial(compared(difference=-0.2, ess=(3.0, 500.0)), card, challenger)
    assert not ends_trial(compared(difference=-0.2, decisions=50), card, challenger)
    assert not ends_trial(compared(difference=math.nan), card, challenger)
    assert not ends_trial(compared(difference=-0.2), {**card, "params": {"ridge_alpha": 2.0}}, challenger)
    assert not ends_trial(compared(difference=-0.2), card, {}) and not ends_trial(compared(difference=-0.2), {}, {})


def test_the_verdict_needs_enough_decisions_overlap_and_an_interval_above_zero():
    ess = {"candidate": 50.0, "active": 400.0}
    assert verdict(500, 0.2, (0.05, 0.3), ess) == (True, verdict(500, 0.2, (0.05, 0.3), ess)[1])
    assert "better with confidence" in verdict(500, 0.2, (0.05, 0.3), ess)[1]
    assert not verdict(MIN_DECISIONS - 1, 0.2, (0.05, 0.3), ess)[0]
    assert "effective sample" in verdict(500, 0.2, (0.05, 0.3), {"candidate": 3.0, "active": 400.0})[1]
    promote, why = verdict(500, 0.1, (-0.01, 0.2), ess)
    assert not promote and "not better with confidence" in why
    promote, why = verdict(500, -0.1, (-0.2, -0.01), ess)
    assert not promote and "worse than" in why
    assert not verdict(500, math.nan, (math.nan, math.nan), ess)[0]


def test_a_retrain_of_the_model_in_service_is_promoted_unless_worse_with_confidence():
    little = {"candidate": 6.0, "active": 1400.0}  # the model in service chose near-deterministically
    promote, why = verdict(500, 0.05, (-0.2, 0.3), little, refresh=True)
    assert promote and "not worse" in why
    promote, why = verdict(500, -0.3, (-0.5, -0.1), little, refresh=True)
    assert not promote and "worse than the model in service" in why
    promote, why = verdict(500, -0.3, (-0.9, 0.02), {"candidate": 1.3, "active": 400.0}, refresh=True)
    assert not promote and "says little" in why  # no evidence either way, and a loss estimated
    assert verdict(500, -0.3, (-0.9, 0.02), {"candidate": 40.0, "active": 400.0}, refresh=True)[0]
    assert not verdict(MIN_DECISIONS - 1, 0.05, (-0.2, 0.3), little, refresh=True)[0]
    assert not verdict(500, math.nan, (math.nan, math.nan), little, refresh=True)[0]
    # The same figures from a new challenger are not enough.
    assert not verdict(500, 0.05, (-0.2, 0.3), {"candidate": 60.0, "active": 400.0})[0]


def test_a_refresh_is_the_recipe_in_service_on_months_that_end_later():
    recipe = {"features": ["resource", "kind"], "params": {"alpha": 2.0}, "libraries": {"scikit-learn": "1.5"},
              "source": "store"}
    active = {**recipe, "data_window": {"from": "2025-01", "to": "2025-06"}}
    assert is_refresh({**recipe, "data_window": {"from": "2025-01", "to": "2025-07"}}, active)
    assert not is_refresh({**recipe, "data_window": {"from": "2025-01", "to": "2025-06"}}, active)  # no later
    assert not is_refresh({**recipe, "data_window": {"from": "2025-01", "to": "2025-05"}}, active)
    assert not is_refresh({**recipe, "params": {"alpha": 4.0}, "data_window": {"to": "2025-07"}}, active)
    assert not is_refresh({**recipe, "libraries": {"scikit-learn": "1.6"}, "data_window": {"to": "2025-07"}}, active)
    assert not is_refresh({**recipe, "data_window": {"to": "2025-07"}}, None)  # the prior in service
    assert not is_refresh({**recipe, "source": "loop-dir", "data_window": {"to": "2025-07"}}, active)
    bare = {"data_window": {"to": "2025-07"}}
    assert not is_refresh(bare, {"data_window": {"to": "2025-06"}})  # cards that do not say their recipe
    assert not is_refresh({**recipe, "data_window": None}, active)
    # A refit learned from its held-out months too: it counts as trained to where it was validated.
    refit = {**recipe, "data_window": {"from": "2025-01", "to": "2025-08"}, "validated_to": "2025-06"}
    assert is_refresh({**recipe, "data_window": {"from": "2025-01", "to": "2025-07"}}, refit)
    assert not is_refresh({**recipe, "data_window": {"from": "2025-01", "to": "2025-06"}}, refit)


def test_a_refit_activates_the_validated_recipe_fitted_on_every_month(runner, loop, tmp_path):
    models = tmp_path / "models"
    candidate = models / "candidate.json"
    assert runner.invoke(main, ["model", "train", "--from", str(loop), "--out", str(candidate)]).exit_code == 0
    _, card = load(candidate)
    done = runner.invoke(main, ["model", "promote", "--refit", "--candidate", str(candidate), "--from", str(loop),
                                "--active", str(models / "effectiveness.json")])
    assert done.exit_code == 0, done.output
    model, active = load(models / "effectiveness.json")
    assert active["refit_of"] == card["fingerprint"] != active["fingerprint"]
    assert active["validated_to"] == card["data_window"]["to"] < active["data_window"]["to"]
    assert active["data_window"]["to"] == card["held_out"]["to"] and active["held_out"] is None
    assert active["rows"] > card["rows"] and active["metrics"] == card["metrics"]
    record = json.loads((models / "promotions.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert record["validated"] == f"learned:{card['fingerprint']}"
    assert record["promoted"] == f"learned:{active['fingerprint']}" and record["comparison"]["promote"] is True
    assert "the refit of" in done.stderr
    # The refit learned from the candidate's held-out months: judged on them it would be judged on its own
    # training data, so no month is left to compare on.
    again = runner.invoke(main, ["model", "evaluate", "--json", "--candidate", str(candidate), "--from", str(loop),
                                 "--active", str(models / "effectiveness.json")])
    assert again.exit_code == 0, again.output
    seen = json.loads(again.stdout)
    assert seen["months"] == [] and seen["decisions"] == 0 and "no held-out decisions" in seen["reason"]


def test_decisions_are_judged_after_both_rankings_training_months():
    def card(to):
        return {"data_window": {"from": "2025-01", "to": to}}

    assert judged_after(card("2025-06"), None) == "2025-06"  # the prior learned nothing
    assert judged_after(card("2025-06"), card("2025-08")) == "2025-08"  # a refit in service: its months
    assert judged_after(card("2025-07"), card("2025-05")) == "2025-07"
    assert judged_after(card("2025-07"), {"data_window": None}) == "2025-07"
    assert judged_after({"data_window": None}, card("2025-05")) is None


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
    small = _fewer_held_out(loop, tmp_path / "small", 8, months=14)
    models = tmp_path / "models"
    candidate, active = models / "candidate.json", models / "effectiveness.json"
    assert runner.invoke(main, ["model", "train", "--from", str(small), "--out", str(candidate)]).exit_code == 0
    _, card = load(candidate)
    common = ["--from", str(small), "--candidate", str(candidate), "--active", str(active), "--json"]

    plain = json.loads(runner.invoke(main, ["model", "evaluate", *common]).stdout)
    assert plain["months"] == [card["held_out"]["from"], card["held_out"]["to"]] and plain["cross_fitted"] == []

    promoted = runner.invoke(main, ["model", "promote", *common, "--cross-fit"])
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
    against_model = runner.invoke(main, ["model", "evaluate", *common, "--cross-fit"])
    assert "note: not cross-fitted: a model serves" in against_model.stderr
    assert json.loads(against_model.stdout)["cross_fitted"] == []
    # A candidate this version's recipe does not reproduce (the deliberately bad model) is judged on its
    # held-out months only, and refused.
    bad = bad_model(small, tmp_path / "bad" / "candidate.json", source=str(small))
    refused = runner.invoke(main, ["model", "promote", *common, "--candidate", str(bad), "--cross-fit",
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

    # Cross-fitting judges the recipe: one that learns the opposite of what happened is worse with confidence.
    def inverted(rows):
        return ranker(rows, -1.0)

    worse = compared(inverted(outcomes[outcomes["period"] <= trained_to]),
                     cross_fit_folds(outcomes, trained_to, 2, inverted))
    assert worse.cross_fitted == months[:-2] and worse.decisions == len(outcomes)
    assert not worse.promote and worse.difference < 0 and worse.bounds[1] < 0, worse
    assert "worse than" in worse.reason
