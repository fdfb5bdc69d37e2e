"""A first candidate on trial: estimated better than the prior, not yet with confidence, it makes half
the exploring prior's exploring choices until a promotion or its recipe's newest evidence ends it."""

from __future__ import annotations

import json
import math

from diagnosis_service.cli import main
from diagnosis_service.learning.rollout import MIN_DECISIONS, Comparison, ends_trial, on_trial
from tests.support.rollout import bad_model, fewer_held_out


def test_a_candidate_better_without_confidence_goes_on_trial_until_promoted_or_refuted(runner, loop, tmp_path):
    models = tmp_path / "models"
    candidate, challenger = models / "candidate.json", models / "challenger.json"
    # Three held-out months, as in test_rollout: on all their decisions it is promoted with confidence.
    assert runner.invoke(main, ["model", "train", "--lang", "en", "--from", str(loop), "--out", str(candidate),
                                "--holdout-months", "3"]).exit_code == 0
    small = fewer_held_out(loop, tmp_path / "small", 2, last=3)
    tiny = fewer_held_out(loop, tmp_path / "tiny", 40, last=3)
    common = ["--candidate", str(candidate), "--active", str(models / "effectiveness.json"), "--json"]
    on_trial_at = ["model", "promote", "--lang", "en", "--from", str(small), "--confidence", "0.99", *common]

    def records():
        return [json.loads(line) for line in (models / "promotions.jsonl").read_text(encoding="utf-8").splitlines()]

    tried = runner.invoke(main, on_trial_at)
    assert tried.exit_code == 1, tried.output
    result = json.loads(tried.stdout)
    assert result["trial"] is True and result["promote"] is False and result["active"] == "prior"
    assert result["difference"] > 0 and result["bounds"][0] <= 0 < min(result["effective_sample"].values()) - 10
    assert challenger.read_bytes() == candidate.read_bytes() and not (models / "effectiveness.json").exists()
    assert "on trial" in tried.stderr and records()[-1]["trial"] == result["candidate"]
    # Printed for a person, the verdict on stdout names the trial too (not only "keep the active ranking").
    plain = runner.invoke(main, [arg for arg in on_trial_at if arg != "--json"])
    assert plain.exit_code == 1 and "keep the active ranking, the candidate on trial: " in plain.stdout, plain.output
    assert challenger.read_bytes() == candidate.read_bytes() and records()[-1]["trial"] == result["candidate"]

    # A comparison that says too little (fewer than MIN_DECISIONS decisions) neither starts nor ends a trial.
    unsure = runner.invoke(main, ["model", "promote", "--lang", "en", "--from", str(tiny), *common])
    assert unsure.exit_code == 1 and json.loads(unsure.stdout)["decisions"] < MIN_DECISIONS
    assert challenger.read_bytes() == candidate.read_bytes() and "stays on trial" in unsure.stderr
    # Recorded as refused (every verdict is), the trial untouched.
    assert len(records()) == 3 and records()[-1]["refused"] == result["candidate"]
    assert "trial" not in records()[-1] and "trial_ended" not in records()[-1]

    # A candidate of another recipe estimated worse says nothing of the challenger: the trial stays.
    other = runner.invoke(main, ["model", "promote", "--lang", "en", "--from", str(loop), *common, "--candidate",
                                 str(bad_model(loop, tmp_path / "other" / "candidate.json"))])
    assert other.exit_code == 1 and json.loads(other.stdout)["difference"] < 0
    assert challenger.read_bytes() == candidate.read_bytes() and "stays on trial" in other.stderr
    # The challenger's recipe retrained and estimated worse than the prior ends it: the newest evidence
    # is against the recipe.
    bad = bad_model(loop, tmp_path / "bad" / "candidate.json", source=str(loop))
    refuted = runner.invoke(main, ["model", "promote", "--lang", "en", "--from", str(loop), *common, "--candidate", str(bad)])
    assert refuted.exit_code == 1 and json.loads(refuted.stdout)["trial"] is False
    assert not challenger.exists() and records()[-1]["trial_ended"] == result["candidate"]
    assert records()[-1]["refused"] == json.loads(refuted.stdout)["candidate"] != result["candidate"]
    assert "the trial of" in refuted.stderr

    # --no-trial: refused, and a trial under way ends.
    assert runner.invoke(main, on_trial_at).exit_code == 1 and challenger.exists()
    kept = runner.invoke(main, [*on_trial_at, "--no-trial"])
    assert kept.exit_code == 1 and json.loads(kept.stdout)["trial"] is False and not challenger.exists()
    assert records()[-1]["trial_ended"] == result["candidate"]

    # On trial again, then promoted on the whole held-out evidence: one record says both.
    assert runner.invoke(main, on_trial_at).exit_code == 1 and challenger.exists()
    before = len(records())
    promoted = runner.invoke(main, ["model", "promote", "--lang", "en", "--from", str(loop), *common])
    assert promoted.exit_code == 0, promoted.output
    assert not challenger.exists() and (models / "effectiveness.json").read_bytes() == candidate.read_bytes()
    assert len(records()) == before + 1
    assert records()[-1]["promoted"] == result["candidate"] == records()[-1]["trial_ended"]


def test_a_service_that_does_not_explore_gets_no_trial(runner, loop, tmp_path, monkeypatch):
    monkeypatch.setenv("DIAGNOSIS_PRIOR_EXPLORATION", "0")
    models = tmp_path / "models"
    assert runner.invoke(main, ["model", "train", "--lang", "en", "--from", str(loop), "--out", str(models / "c.json")]).exit_code == 0
    done = runner.invoke(main, ["model", "promote", "--lang", "en", "--from", str(fewer_held_out(loop, tmp_path / "small", 10)),
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
