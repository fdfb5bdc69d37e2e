"""The closed loop and the model's command line, on a tiny district (the figures are the benchmark's)."""

import json
from pathlib import Path

import pytest

from diagnosis_service.catalog import load_catalog
from diagnosis_service.cli import main
from diagnosis_service.simloop import LoopSpec, Truth, run_loop

from .conftest import REPO

TINY = ["--branches", "30", "--members", "300", "--months", "2"]


@pytest.fixture(scope="module")
def catalog(ruleset):
    return load_catalog(REPO / "resources_catalog", ruleset.registry)


def test_loop_json_has_the_promised_fields_and_is_deterministic(runner):
    first = runner.invoke(main, ["simulate", "loop", "--policy", "prior", "--seed", "3", "--json", *TINY])
    assert first.exit_code == 0, first.output
    obj = json.loads(first.stdout)
    assert {"policy", "seed", "months", "true_improvement", "weaknesses_resolved"} <= set(obj)
    assert obj["policy"] == "prior" and obj["seed"] == 3 and obj["months"] == 2 and len(obj["cumulative"]) == 2
    again = runner.invoke(main, ["simulate", "loop", "--policy", "prior", "--seed", "3", "--json", *TINY])
    assert again.stdout == first.stdout
    assert runner.invoke(main, ["simulate", "loop", "--policy", "best", *TINY]).exit_code == 2
    # The plain simulate command still works beside its new subcommand.
    assert "Missing option '--out'" in runner.invoke(main, ["simulate"]).output


def test_the_oracle_is_an_upper_bound_and_the_service_never_reads_the_truth(ruleset, catalog):
    spec = dict(seed=5, branches=40, members=500, months=2, history=2)
    runs = {p: run_loop(LoopSpec(policy=p, **spec), ruleset, catalog) for p in ("oracle", "random")}
    for p in ("oracle", "random"):
        assert [m["weaknesses"] for m in runs[p].monthly] and runs[p].true_improvement >= 0
    # Per decision, the oracle's first recommendation has the highest true value among the candidates.
    truth = runs["oracle"].truth
    assert (runs["oracle"].log["truth_value"].mean() >= runs["random"].log["truth_value"].mean())
    assert isinstance(truth, Truth)
    import diagnosis_service.effectiveness as eff
    import diagnosis_service.prescribe as pre
    import diagnosis_service.workflows as wf

    for module in (eff, pre, wf):
        assert "Truth" not in vars(module)
        assert "simloop" not in Path(module.__file__).read_text(encoding="utf-8")


def test_train_info_and_evaluate_from_a_loop_directory(runner, tmp_path):
    out = tmp_path / "loop"
    r = runner.invoke(main, ["simulate", "loop", "--policy", "learned", "--out", str(out), *TINY])
    assert r.exit_code == 0, r.output
    assert {"log.csv", "truth.csv", "branch_metrics.csv", "summary.json"} <= {p.name for p in out.iterdir()}
    assert "truth" not in (out / "log.csv").read_text(encoding="utf-8").split("\n")[0]
    model = tmp_path / "models" / "effectiveness.json"
    r = runner.invoke(main, ["model", "train", "--from", str(out), "--out", str(model)])
    assert r.exit_code == 0, r.output
    assert "trained on" in r.stdout and model.exists() and (tmp_path / "models" / "effectiveness.card.json").exists()
    info = runner.invoke(main, ["model", "info", "--model", str(model)])
    card = json.loads(info.stdout)
    assert info.exit_code == 0 and card["features"] and card["libraries"]["scikit-learn"]
    assert card["data_window"]["from"] <= card["data_window"]["to"]
    ev = runner.invoke(main, ["model", "evaluate", "--from", str(out), "--model", str(model), "--json",
                              "--policy", "prior", "--policy", "random"])
    assert ev.exit_code == 0, ev.output
    res = json.loads(ev.stdout)
    assert [e["policy"] for e in res["estimates"]] == ["prior", "random"]
    for e in res["estimates"]:
        assert e["ips_ci95"][0] <= e["ips"] <= e["ips_ci95"][1] and e["decisions"] > 0
    missing = runner.invoke(main, ["model", "info", "--model", str(tmp_path / "none.json")])
    assert missing.exit_code == 1 and "no trained model" in missing.stderr and "prior" in missing.stderr
