"""The closed loop and the model's command line, on a tiny district (the figures are the benchmark's)."""

import json

import pytest

from diagnosis_service.cli import main
from diagnosis_service.config import Settings
from diagnosis_service.simulation.loop import LoopSpec, run_loop
from diagnosis_service.simulation.truth import Truth

pytestmark = pytest.mark.slow  # closed loops

TINY = ["--branches", "30", "--members", "300", "--months", "2"]


def test_loop_json_has_the_promised_fields_and_is_deterministic(runner):
    first = runner.invoke(main, ["simulate", "loop", "--policy", "prior", "--seed", "3", "--json", *TINY])
    assert first.exit_code == 0, first.output
    obj = json.loads(first.stdout)
    assert {"policy", "seed", "months", "true_improvement", "weaknesses_resolved"} <= set(obj)
    assert obj["policy"] == "prior" and obj["seed"] == 3 and obj["months"] == 2 and len(obj["cumulative"]) == 2
    again = runner.invoke(main, ["simulate", "loop", "--policy", "prior", "--seed", "3", "--json", *TINY])
    assert again.stdout == first.stdout
    assert runner.invoke(main, ["simulate", "loop", "--policy", "best", *TINY]).exit_code == 2
    # An option the policy does not use is refused, not ignored (a log was taken for an exploring one).
    ignored = runner.invoke(main, ["simulate", "loop", "--policy", "prior", "--epsilon", "0.5", *TINY])
    assert ignored.exit_code == 2 and "its exploration is --prior-exploration" in ignored.output
    ignored = runner.invoke(main, ["simulate", "loop", "--policy", "learned", "--prior-exploration", "0.5", *TINY])
    assert ignored.exit_code == 2 and "--prior-exploration applies to --policy prior" in ignored.output
    # The plain simulate command still works beside its new subcommand.
    assert "Missing option '--out'" in runner.invoke(main, ["simulate"]).output
    # The command explores as the documented loop (and the service, by default) does.
    epsilon = next(p for p in main.commands["simulate"].commands["loop"].params if p.name == "epsilon")
    assert epsilon.default == LoopSpec.epsilon == Settings.from_env({}).learned_exploration


def test_the_oracle_is_an_upper_bound(ruleset, catalog):
    spec = dict(seed=5, branches=40, members=500, months=2, history=2)
    runs = {p: run_loop(LoopSpec(policy=p, **spec), ruleset, catalog) for p in ("oracle", "random")}
    for p in ("oracle", "random"):
        assert [m["weaknesses"] for m in runs[p].monthly] and runs[p].true_improvement >= 0
    # Per decision, the oracle's first recommendation has the highest true value among the candidates.
    truth = runs["oracle"].truth
    assert (runs["oracle"].log["truth_value"].mean() >= runs["random"].log["truth_value"].mean())
    assert isinstance(truth, Truth)
    # That no production module reads the truth (imports `simulation`) is an import-linter contract.


def test_the_learned_policy_learns_only_from_months_that_have_happened(ruleset, catalog, monkeypatch):
    # The world's frame holds the months ahead (drawn in advance, with the effects of what was adopted so
    # far): a loop that trained on them would measure outcomes no service can yet, and flatter the model.
    from diagnosis_service.simulation import loop

    seen: list[tuple[str, str]] = []
    real = loop.train_from_log

    def recording(log, branch_metrics, *args, **kwargs):
        seen.append((max(log["period"]), max(branch_metrics["period"])))
        return real(log, branch_metrics, *args, **kwargs)

    monkeypatch.setattr(loop, "train_from_log", recording)
    result = run_loop(LoopSpec(policy="learned", seed=2, branches=30, members=300, months=2, history=2),
                      ruleset, catalog)
    assert len(seen) == 3  # after the last month of history and after each counted month
    assert all(logged == measured for logged, measured in seen), seen
    assert max(result.branch_metrics["period"]) > seen[-1][1]  # the frame did hold later months


def test_cross_fitting_never_ranks_a_month_with_a_model_that_saw_it(ruleset, catalog):
    import numpy as np

    from diagnosis_service.engine.derive import derive_own
    from diagnosis_service.learning.estimator import EffectivenessModel
    from diagnosis_service.learning.features import training_frame
    from diagnosis_service.learning.ope import cross_fitted_probabilities
    from diagnosis_service.learning.outcomes import HORIZON, compute
    from diagnosis_service.learning.policy import LearnedRanker

    result = run_loop(LoopSpec(policy="prior", seed=2, branches=40, members=500, months=1, history=6), ruleset, catalog)
    outcomes = compute(result.log, derive_own(result.branch_metrics, "branch", ruleset), ruleset, HORIZON)
    outcomes = outcomes[np.isfinite(outcomes["improvement"])].reset_index(drop=True)
    seen: list[set] = []

    def fit(rows):
        seen.append(set(rows["period"]))
        return EffectivenessModel().fit(*training_frame(rows, catalog))

    def make(model):
        return LearnedRanker(model, epsilon=0.0, thompson=False)

    probs = cross_fitted_probabilities(outcomes, make, fit, lambda _p: catalog, ruleset)
    months = set(outcomes["period"])
    # Each model learned from one half of the months and ranked the other: no month in both.
    assert len(seen) == 2 and seen[0] | seen[1] == months and not seen[0] & seen[1]
    assert probs.shape == (len(outcomes),) and ((probs == 0) | (probs == 1)).all() and probs.any()
    # The contexts are replayed once for both folds: each fold's decisions get what a replay of that fold
    # alone, with everything served, gives them.
    from diagnosis_service.learning.ope import served_from_log, target_probabilities

    served = served_from_log(result.log)
    probs = cross_fitted_probabilities(outcomes, make, fit, lambda _p: catalog, ruleset, served)
    half = (outcomes["period"] < sorted(months)[len(months) // 2]).to_numpy()
    for rows, model in ((half, fit(outcomes[~half])), (~half, fit(outcomes[half]))):
        alone = target_probabilities(outcomes[rows], make(model), lambda _p: catalog, ruleset, served)
        assert (alone == probs[rows]).all()
    with pytest.raises(ValueError, match="two months"):
        one = outcomes[outcomes["period"] == min(months)]
        cross_fitted_probabilities(one, make, fit, lambda _p: catalog, ruleset)


def test_train_info_and_evaluate_from_a_loop_directory(runner, tmp_path):
    out = tmp_path / "loop"
    r = runner.invoke(main, ["simulate", "loop", "--policy", "learned", "--out", str(out), *TINY])
    assert r.exit_code == 0, r.output
    assert {"log.csv", "truth.csv", "branch_metrics.csv", "summary.json"} <= {p.name for p in out.iterdir()}
    assert "truth" not in (out / "log.csv").read_text(encoding="utf-8").split("\n")[0]
    # A model written into it (as the README's commands do) makes it more than a loop's log: it is not
    # replaced, and the refusal names that file, not the loop's own.
    (out / "candidate.json").write_text("{}", encoding="utf-8")
    kept = runner.invoke(main, ["simulate", "loop", "--policy", "learned", "--out", str(out), *TINY])
    assert kept.exit_code == 2 and "holds files that are not a loop's log (candidate.json)" in kept.output
    assert (out / "candidate.json").exists() and (out / "log.csv").exists()
    (out / "candidate.json").unlink()
    model = tmp_path / "models" / "effectiveness.json"
    r = runner.invoke(main, ["model", "train", "--lang", "en", "--from", str(out), "--out", str(model)])
    assert r.exit_code == 0, r.output
    assert "trained on" in r.stdout and model.exists() and (tmp_path / "models" / "effectiveness.card.json").exists()
    info = runner.invoke(main, ["model", "info", "--lang", "en", "--model", str(model)])
    card = json.loads(info.stdout)
    assert info.exit_code == 0 and card["features"] and card["libraries"]["scikit-learn"]
    assert card["data_window"]["from"] <= card["data_window"]["to"]
    ev = runner.invoke(main, ["model", "evaluate", "--lang", "en", "--from", str(out), "--model", str(model), "--json",
                              "--policy", "prior", "--policy", "random"])
    assert ev.exit_code == 0, ev.output
    res = json.loads(ev.stdout)
    assert [e["policy"] for e in res["estimates"]] == ["prior", "random"]
    for e in res["estimates"]:
        assert e["ips_ci95"][0] <= e["ips"] <= e["ips_ci95"][1] and e["decisions"] > 0
    # Policies built on a model: cross-fitted by default; the model file as it is on request, with a
    # warning when it was trained on the evaluated months.
    cross = runner.invoke(main, ["model", "evaluate", "--lang", "en", "--from", str(out), "--json", "--policy", "greedy"])
    assert cross.exit_code == 0, cross.output
    (greedy,) = json.loads(cross.stdout)["estimates"]
    assert greedy["fit"] == "cross" and greedy["effective_sample_size"] > 0
    as_is = runner.invoke(main, ["model", "evaluate", "--lang", "en", "--from", str(out), "--json", "--policy", "greedy",
                                 "--fit", "file", "--model", str(model)])
    assert as_is.exit_code == 0 and "overlaps the evaluated months" in as_is.stderr
    assert json.loads(as_is.stdout)["estimates"][0]["fit"] == "file"
    # The learned policy is evaluated as the service serves it: with DIAGNOSIS_LEARNED_EXPLORATION=1 every
    # first choice is uniform, so its estimate is the random policy's to the digit.
    uniform = runner.invoke(main, ["model", "evaluate", "--lang", "en", "--from", str(out), "--json", "--policy", "learned",
                                   "--policy", "random", "--fit", "file", "--model", str(model)],
                            env={"DIAGNOSIS_LEARNED_EXPLORATION": "1"})
    learned, random_ = json.loads(uniform.stdout)["estimates"]
    assert learned["snips"] == random_["snips"] and learned["ips"] == random_["ips"], uniform.stdout
    missing = runner.invoke(main, ["model", "info", "--lang", "en", "--model", str(tmp_path / "none.json")])
    assert missing.exit_code == 1 and "no trained model" in missing.stderr and "prior" not in missing.stderr
    # The file the service reads (no --model): what the service does without it is said too.
    active = runner.invoke(main, ["model", "info", "--lang", "en"], env={"DIAGNOSIS_MODELS": str(tmp_path / "none")})
    assert active.exit_code == 1 and "the service ranks with the documented prior" in active.stderr
