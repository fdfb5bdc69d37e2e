"""A refit in service (`model promote --refit`): what passed is the recipe, activated fitted on every month;
later decisions are judged only on months neither ranking learned from."""

from __future__ import annotations

import json

import pytest

from diagnosis_service.cli import main
from diagnosis_service.learning.persist import load
from diagnosis_service.learning.rollout import judged_after


def test_a_refit_activates_the_validated_recipe_fitted_on_every_month(runner, loop, tmp_path):
    models = tmp_path / "models"
    candidate = models / "candidate.json"
    assert runner.invoke(main, ["model", "train", "--lang", "en", "--from", str(loop), "--out", str(candidate),
                                "--holdout-months", "3"]).exit_code == 0  # promoted on them (above)
    _, card = load(candidate)
    done = runner.invoke(main, ["model", "promote", "--lang", "en", "--refit", "--candidate", str(candidate), "--from", str(loop),
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
    again = runner.invoke(main, ["model", "evaluate", "--lang", "en", "--json", "--candidate", str(candidate), "--from", str(loop),
                                 "--active", str(models / "effectiveness.json")])
    assert again.exit_code == 0, again.output
    seen = json.loads(again.stdout, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert seen["months"] == [] and seen["decisions"] == 0
    assert f"no month is left to judge on: the model in service (learned:{active['fingerprint']}) learned from every " \
           f"month to {active['data_window']['to']}" in seen["reason"]
    assert seen["difference"] is None and seen["bounds"] == [None, None]
    said = runner.invoke(main, ["model", "evaluate", "--lang", "en", "--candidate", str(candidate), "--from", str(loop),
                                "--active", str(models / "effectiveness.json")]).stdout
    assert "no month is left to judge on" in said and "nan" not in said
    # `model train` says so at once, of the model where a service reads it (DIAGNOSIS_MODELS).
    retrained = runner.invoke(main, ["model", "train", "--lang", "en", "--from", str(loop), "--out",
                                     str(tmp_path / "next.json")], env={"DIAGNOSIS_MODELS": str(models)})
    assert retrained.exit_code == 0 and (f"note: the model in service (learned:{active['fingerprint']}) learned from "
                                         f"every month to {active['data_window']['to']}") in retrained.stderr
    first = runner.invoke(main, ["model", "train", "--lang", "en", "--from", str(loop), "--out", str(tmp_path / "n.json")],
                          env={"DIAGNOSIS_MODELS": str(tmp_path / "empty")})
    assert first.exit_code == 0 and "note:" not in first.stderr  # no model in service: nothing to say


def test_decisions_are_judged_after_both_rankings_training_months():
    def card(to):
        return {"data_window": {"from": "2025-01", "to": to}}

    assert judged_after(card("2025-06"), None) == "2025-06"  # the prior learned nothing
    assert judged_after(card("2025-06"), card("2025-08")) == "2025-08"  # a refit in service: its months
    assert judged_after(card("2025-07"), card("2025-05")) == "2025-07"
    assert judged_after(card("2025-07"), {"data_window": None}) == "2025-07"
    assert judged_after({"data_window": None}, card("2025-05")) is None
