"""The repeat feature: a resource the branch had as its first recommendation lately. The flags at training
time and at ranking time say the same thing, and a world where repeats work less teaches a penalty that
moves a repeated resource down the list."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.learning.estimator import EffectivenessModel
from diagnosis_service.learning.features import adopted_repeats, kind_repeats, repeat_flags, repeats
from diagnosis_service.learning.policy import LearnedRanker
from diagnosis_service.periods import parse_period, period_str
from diagnosis_service.remedies.catalog import Catalog, Resource
from diagnosis_service.remedies.history import History
from diagnosis_service.remedies.prescribe import recent_kinds
from diagnosis_service.remedies.ranking import REPEAT_WINDOW, Scored
from tests.support.learning import frame, need

BASE = parse_period("2025-01")


KINDS = {"R1": "video", "R2": "video", "R3": "base", "R4": "lecturer"}
KIND_CATALOG = Catalog(tuple(Resource(r, k, r, r, ("theory_study",), "online", 60, (), (), True)
                             for r, k in sorted(KINDS.items()) if r != "R4"), (), "v", "test")  # R4: retired


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["B1", "B2"]), st.sampled_from(["R1", "R2", "R3"]),
                          st.integers(min_value=0, max_value=14)), max_size=40))
def test_training_flags_are_what_the_history_tells_the_ranker(served):
    log = pd.DataFrame({"branch_id": [b for b, _, _ in served], "resource_id": [r for _, r, _ in served],
                        "kind": [KINDS[r] for _, r, _ in served], "period": [period_str(BASE + m) for _, _, m in served]},
                       columns=["branch_id", "resource_id", "kind", "period"])
    flags, kind_flags = repeat_flags(log), repeat_flags(log, by="kind")
    for i, (b, r, m) in enumerate(served):
        # Brute force: an earlier month (not the same one) within the window, same branch and resource.
        want = any(b2 == b and r2 == r and 1 <= m - m2 <= REPEAT_WINDOW for b2, r2, m2 in served)
        want_kind = any(b2 == b and KINDS[r2] == KINDS[r] and 1 <= m - m2 <= REPEAT_WINDOW for b2, r2, m2 in served)
        history = History()  # what the ranker would know in month m: what was served before it
        for b2, r2, m2 in served:
            if m2 < m:
                history.add_month(b2, BASE + m2, "theory_study", r2, first=True)
        recent = history.first_before(b, period_str(BASE + m), REPEAT_WINDOW)
        assert flags[i] == float(want) == float(r in dict(recent)), (i, served)
        told = dataclasses.replace(need(), recent_first=recent, recent_kinds=recent_kinds(KIND_CATALOG, recent))
        assert kind_flags[i] == float(want_kind) == kind_repeats(told, [KIND_CATALOG.get(r)])[0], (i, served)


def test_the_kinds_told_come_from_the_catalog_and_the_prescriber_tells_them(ruleset, catalog):
    assert recent_kinds(KIND_CATALOG, (("R3", 1), ("R1", 2), ("R2", 5), ("R4", 1))) == ("base", "video")
    history = History()
    lecturer = next(r for r in catalog.resources if r.kind == "lecturer")
    history.add("B1", "2025-04", "dues", lecturer.id, first=True)
    assert [n.recent_kinds for n in _needs_told(ruleset, catalog, history)] == [("lecturer",)]


def _needs_told(ruleset, catalog, history: History) -> list:
    """The needs a Prescriber tells its ranker for B1's theory-study weakness in 2025-06, given ``history``."""
    from diagnosis_service.engine.findings import Finding, SubjectResult
    from diagnosis_service.remedies.prescribe import Prescriber

    told = []

    class Listening:
        name = "listening"

        def rank(self, need, resources):
            told.append(need)
            return [Scored(r, 1.0) for r in resources]

        def cache_key(self, need):
            return None

    rule = next(r for r in ruleset.for_subject("branch") if r.topic == "theory_study" and r.severity != "reminder")
    result = SubjectResult("branch", "B1", "2025-06", "yellow", [Finding(rule.id, rule.indicator, rule.severity,
                           rule.topic, 1.0, 2.0, "zh", "en")], branch_type="village", weaknesses=["theory_study"])
    Prescriber(catalog, ruleset, Listening()).for_branch(result, None, history)
    return told


def test_only_a_lists_first_recommendation_counts_as_a_repeat():
    history = History()
    line = {"subject": "branch", "id": "B1", "period": "2025-03",
            "prescriptions": [{"topic": "dues", "resource_id": "R1"}, {"topic": "dues", "resource_id": "R2"},
                              {"topic": "theory_study", "resource_id": "R3"}]}
    history.update(History.from_lines([json.dumps(line)], "earlier.jsonl"))
    assert history.first_before("B1", "2025-05", REPEAT_WINDOW) == (("R1", 2), ("R3", 2))
    assert history.first_before("B1", "2025-03", REPEAT_WINDOW) == ()  # not before its own month
    assert history.first_before("B1", "2025-10", REPEAT_WINDOW) == ()  # past the window
    assert history.recent("B1", "dues", "2025-04", 3) == {"R1", "R2"}  # the repeat filter sees every item


def taught(column: str, share: float, n: int, seed: int, rate: float):
    """A world where a list with ``column`` set (``rate`` of them) gets ``share`` of its remedy's effect:
    the frame, the model fitted on it, its greedy ranker, two candidates and their scores with nothing
    recommended lately (the better one, BASE01, first)."""
    X, y, true = frame(n=n, seed=seed)
    rng = np.random.default_rng(seed + 2)
    X[column] = (rng.random(len(X)) < rate).astype(float)
    y = np.where(X["adopted"].to_numpy(), [true[r] for r in X["resource_id"]] * np.where(X[column] > 0, share, 1.0),
                 0.0) + rng.normal(0, 0.05, len(X))
    model = EffectivenessModel().fit(X, y)
    ranker = LearnedRanker(model, epsilon=0.0, thompson=False)
    resources = [Resource(r, k, r, r, ("theory_study",), "on_site", 60, (), (), True)
                 for r, k in (("BASE01", "base"), ("LEC001", "lecturer"))]
    fresh = {s.resource.id: s.score for s in ranker.rank(need(), resources)}
    assert fresh["BASE01"] > fresh["LEC001"]
    return X, y, model, ranker, resources, fresh


def test_a_world_where_repeats_work_less_teaches_a_penalty_that_moves_a_repeat_down():
    # Adopted again within the window, a remedy does 30% of its effect.
    X, y, model, ranker, resources, _ = taught("repeat", 0.3, n=600, seed=3, rate=0.3)
    assert model.coef_["repeat"] < -0.1
    again = dataclasses.replace(need(), recent_first=(("BASE01", 2),))
    assert repeats(again, resources) == [1.0, 0.0]
    repeated = {s.resource.id: s.score for s in ranker.rank(again, resources)}
    assert repeated["BASE01"] < repeated["LEC001"]  # 0.5 x 0.3 < 0.3: the other one first now
    # Without the column (a frame from before the feature), the fit is the one it always was.
    old = EffectivenessModel().fit(X.drop(columns=["repeat"]), y)
    assert "repeat" not in old.coef_


def test_a_world_where_a_kind_tires_teaches_a_kind_penalty_that_moves_that_kind_down():
    # A branch that had a remedy of the same kind lately gets 40% of the effect of any of that kind.
    _, _, model, ranker, resources, fresh = taught("repeat_kind", 0.4, n=800, seed=4, rate=0.4)
    assert model.coef_["repeat_kind"] < -0.1 and "repeat" not in model.coef_
    # Another base (not BASE01 itself) was recommended lately: bases as a kind move down.
    tired = dataclasses.replace(need(), recent_first=(("BASE02", 1),), recent_kinds=("base",))
    assert repeats(tired, resources) == [0.0, 0.0] and kind_repeats(tired, resources) == [1.0, 0.0]
    after = {s.resource.id: s.score for s in ranker.rank(tired, resources)}
    assert after["LEC001"] == fresh["LEC001"] and after["BASE01"] < fresh["BASE01"] - 0.05


def test_a_first_recommendation_without_a_measurable_outcome_still_makes_a_later_one_a_repeat(ruleset):
    from diagnosis_service.learning.train import measurable
    from tests.support.learning import log_row, metrics

    early = {**log_row("B1", "adopted"), "period": "2025-01", "pidx": parse_period("2025-01")}  # nothing measured after
    later = log_row("B1", "declined")  # 2025-06, measured over the months after
    out = measurable(pd.DataFrame([early, later]), metrics({"B1": [1, 1, 2, 2]}), ruleset, derived=True)
    assert out["period"].tolist() == ["2025-06"] and out["repeat"].tolist() == [1.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["B1", "B2"]), st.sampled_from(["R1", "R2"]),
                          st.integers(min_value=0, max_value=14),
                          st.sampled_from(["adopted", "completed", "declined", "ignored"])), max_size=40))
def test_adopted_repeats_at_training_are_what_the_history_tells_the_ranker(served):
    """``repeat_adopted``: the branch said it adopted (or completed) the same resource in an earlier month
    within the window; a list declined or never answered does not count."""
    log = pd.DataFrame({"branch_id": [b for b, *_ in served], "resource_id": [r for _, r, *_ in served],
                        "period": [period_str(BASE + m) for _, _, m, _ in served], "status": [s for *_, s in served]},
                       columns=["branch_id", "resource_id", "period", "status"])
    flags = repeat_flags(log, adopted=True)
    for i, (b, r, m, _) in enumerate(served):
        want = any(b2 == b and r2 == r and 1 <= m - m2 <= REPEAT_WINDOW and s2 in ("adopted", "completed")
                   for b2, r2, m2, s2 in served)
        history = History()
        for b2, r2, m2, s2 in served:
            if m2 < m:
                history.add_month(b2, BASE + m2, "theory_study", r2, first=True)
                if s2 in ("adopted", "completed"):
                    history.add_adopted(b2, BASE + m2, r2)
        told = dataclasses.replace(need(), recent_adopted=history.adopted_before(b, period_str(BASE + m), REPEAT_WINDOW))
        resource = Resource(r, "video", r, r, ("theory_study",), "online", 60, (), (), True)
        assert flags[i] == float(want) == adopted_repeats(told, [resource])[0], (i, served)
    assert not repeat_flags(log.drop(columns=["status"]), adopted=True).any()  # a log without answers: none known


def test_a_world_where_doing_it_again_works_less_teaches_it_apart_from_being_shown_it_again():
    # Adopted again within the window, a remedy does 30% of its effect; shown again (not adopted) costs nothing.
    X, y, model, ranker, resources, fresh = taught("repeat_adopted", 0.3, n=600, seed=5, rate=0.3)
    assert model.coef_["repeat_adopted"] < -0.1
    shown_only = dataclasses.replace(need(), recent_first=(("BASE01", 2),))
    assert adopted_repeats(shown_only, resources) == [0.0, 0.0]
    assert {s.resource.id: s.score for s in ranker.rank(shown_only, resources)} == fresh
    done = dataclasses.replace(shown_only, recent_adopted=("BASE01",))
    assert adopted_repeats(done, resources) == [1.0, 0.0]
    again = {s.resource.id: s.score for s in ranker.rank(done, resources)}
    assert again["BASE01"] < again["LEC001"] and again["LEC001"] == fresh["LEC001"]
    # Without the column (a frame from before the feature), it is never learned.
    assert "repeat_adopted" not in EffectivenessModel().fit(X.drop(columns=["repeat_adopted"]), y).coef_


def test_the_prescriber_tells_the_ranker_what_the_branch_adopted(ruleset, catalog):
    history, other = History(), History()
    history.add("B1", "2025-04", "dues", "R1", first=True)
    history.add("B1", "2025-03", "dues", "R2", first=True)
    other.add_adopted("B1", parse_period("2025-04"), "R1")
    other.add_adopted("B1", parse_period("2024-08"), "R9")  # past the window
    other.add_adopted("B2", parse_period("2025-04"), "R2")  # another branch
    history.update(other)
    assert history.adopted_before("B1", "2025-06", REPEAT_WINDOW) == ("R1",)
    assert history.adopted_before("B1", "2025-04", REPEAT_WINDOW) == ()  # not before its own month
    assert [n.recent_adopted for n in _needs_told(ruleset, catalog, history)] == [("R1",)]
