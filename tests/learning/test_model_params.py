"""`model train --param NAME=VALUE`: a candidate fitted with other parameters, told as a new recipe, judged
and refitted with its own parameters by `model promote`."""

from __future__ import annotations

import json

import pytest

from diagnosis_service.cli import main
from diagnosis_service.cli.model import PARAM_HELP
from diagnosis_service.errors import InputError
from diagnosis_service.learning.params import (
    _shown,
    changed,
    defaults,
    describe,
    parse_params,
    recipe_model,
    shown,
)
from diagnosis_service.learning.persist import load
from tests.support.rollout import fewer_held_out


def test_parameters_are_typed_as_their_defaults():
    assert parse_params(["weakness_flags=TRUE", " ridge_alpha = 2 ", "log_ridge_alpha=none", "adoption_offsets=0",
                         "blend=1"]) == {"weakness_flags": True, "ridge_alpha": 2.0, "log_ridge_alpha": None,
                                         "adoption_offsets": False, "blend": 1.0}
    assert parse_params(["log_ridge_alpha=CV"]) == {"log_ridge_alpha": "cv"}
    assert parse_params(["log_ridge_alpha=0.5", "adoption_strength=0"]) == {"log_ridge_alpha": 0.5,
                                                                            "adoption_strength": 0.0}
    model = recipe_model(parse_params(["weakness_flags=yes", "prior_strength=3"]), from_card=False)
    assert model.weakness_flags is True and model.prior_strength == 3.0 and not hasattr(model, "coef_")
    assert changed(model.get_params()) == {"prior_strength": 3.0, "weakness_flags": True}
    assert shown(changed(model.get_params())) == "prior_strength=3, weakness_flags=true"


@pytest.mark.parametrize(("text", "said"), [
    ("weakness_flags", "is not NAME=VALUE"), ("=1", "is not NAME=VALUE"),
    ("ridge=2", "unknown model parameter 'ridge' (one of: adoption_offsets, adoption_strength, blend,"),
    ("blend=2", "blend takes a number ≥ 0 and ≤ 1; its default is 0.5"), ("ridge_alpha=0", "a number > 0"),
    ("prior_strength=-1", "prior_strength takes a number > 0; its default is 5"), ("ridge_alpha=nan", "a number > 0"),
    ("adoption_strength=inf", "a number ≥ 0"), ("weakness_flags=maybe", "true or false; its default is false"),
    ("log_ridge_alpha=auto", "log_ridge_alpha takes cv/none or a number > 0; its default is cv"),
])
def test_a_parameter_that_is_not_one_says_what_would_be(text, said):
    with pytest.raises(InputError) as raised:
        parse_params([text])
    assert said in str(raised.value.problems[0]) and str(raised.value.problems[0]).startswith("--param: ")


def test_every_bad_parameter_is_told_at_once():
    with pytest.raises(InputError) as raised:
        parse_params(["blend=0.3", "blend=0.4", "x=1", "ridge_alpha=-2", "weakness_flags=1"])
    assert [p.message for p in raised.value.problems] == [
        "model parameter 'blend' given twice", "unknown model parameter 'x'",
        "model parameter ridge_alpha='-2' is not valid"]


def test_the_help_names_every_parameter_as_the_estimator_has_it():
    assert tuple((name, f"{describe(name, default)}, default {_shown(default)}")
                               for name, default in sorted(defaults().items())) == PARAM_HELP


def test_a_card_from_another_version_is_told():
    with pytest.raises(ValueError, match="parameters this version does not know: gamma"):
        recipe_model({"gamma": 1.0, "blend": 0.5})
    assert recipe_model(None).get_params() == defaults()
    # A card written before a parameter was added was made without it: refitted so, not with today's default.
    before = {k: v for k, v in defaults().items() if k != "noise_weights"}
    assert recipe_model(before).noise_weights is False and defaults()["noise_weights"] is True
    assert recipe_model({**before, "noise_weights": True}).noise_weights is True


def test_a_candidate_with_other_parameters_is_a_new_recipe_judged_and_refitted_with_them(runner, loop, tmp_path):
    small = fewer_held_out(loop, tmp_path / "small", 1, months=8)  # 6 training months: 3 folds to fit
    models = tmp_path / "models"
    candidate, active = models / "candidate.json", models / "effectiveness.json"

    wrong = runner.invoke(main, ["model", "train", "--lang", "en", "--from", str(small), "--out", str(candidate),
                                 "--param", "weakness_flags=sometimes", "--param", "ridge=1"])
    assert wrong.exit_code == 2 and not candidate.exists()
    assert "--param: model parameter weakness_flags='sometimes' is not valid" in wrong.stderr
    assert "--param: unknown model parameter 'ridge'" in wrong.stderr

    trained = runner.invoke(main, ["model", "train", "--lang", "en", "--from", str(small), "--out", str(candidate),
                                   "--param", "weakness_flags=true", "--param", "ridge_alpha=2"])
    assert trained.exit_code == 0, trained.output
    assert "parameters: ridge_alpha=2, weakness_flags=true (the others the defaults)" in trained.stdout
    model, card = load(candidate)
    assert card["params"]["weakness_flags"] is True and card["params"]["ridge_alpha"] == 2.0
    assert model.weakness_flags and any(k.startswith("weakness_") for k in model.coef_)  # the loop has them

    common = ["--from", str(small), "--candidate", str(candidate), "--active", str(active), "--json"]
    promoted = runner.invoke(main, ["model", "promote", "--lang", "en", *common, "--cross-fit"])
    assert promoted.exit_code == 0, promoted.output
    # Cross-fitted: this version's recipe with the candidate's parameters gives the candidate itself.
    assert "not cross-fitted" not in promoted.stderr and json.loads(promoted.stdout)["cross_fitted"]
    refit, refit_card = load(active)
    assert refit_card["refit_of"] == card["fingerprint"] and refit_card["params"] == card["params"]
    assert refit.ridge_alpha == 2.0 and refit.weakness_flags is True


def test_evaluate_cross_fits_the_learned_policy_with_the_parameters_given(runner, loop, tmp_path):
    small = fewer_held_out(loop, tmp_path / "small", 1, months=6)  # its last 6 months: two halves to fit

    def learned(*params):
        r = runner.invoke(main, ["model", "evaluate", "--lang", "en", "--from", str(small), "--policy", "learned", "--json",
                                 *(a for p in params for a in ("--param", p))])
        assert r.exit_code == 0, r.output
        return next(e for e in json.loads(r.stdout)["estimates"] if e["policy"] == "learned")

    default, heavy = learned(), learned("ridge_alpha=1000", "blend=0")
    assert default["ips"] != heavy["ips"]  # a ridge that learns next to nothing ranks otherwise
    bad = runner.invoke(main, ["model", "evaluate", "--lang", "en", "--from", str(small), "--param", "blend=-1"])
    assert bad.exit_code == 2 and "--param: model parameter blend='-1' is not valid" in bad.stderr
