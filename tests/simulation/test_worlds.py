"""Worlds the model was not built for: each variant changes the hidden truth as it says, the project's own
world stays what it was, and a loop in a world logs what its secretaries would say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from diagnosis_service.errors import InputError
from diagnosis_service.simulation.adjust import Adjuster
from diagnosis_service.simulation.loop import LoopSpec, run_loop
from diagnosis_service.simulation.truth import Truth
from diagnosis_service.simulation.worlds import WORLDS, World, world

TYPES = ["community", "enterprise", "village"]
STREETS = ["鼓楼街道", "南门街道", "古林镇"]


def test_the_project_world_is_the_truth_as_before_and_the_others_differ(catalog):
    before = Truth(catalog, TYPES, 3)
    project = Truth(catalog, TYPES, 3, world("project"), STREETS)
    assert project.quality == before.quality and project.kind_type == before.kind_type
    assert project.street_factor == {} and World() == world("project")
    changed = Truth(catalog, TYPES, 3, world("kindtype"), STREETS)
    assert changed.kind_type != before.kind_type and changed.quality != before.quality
    factors = np.array(list(changed.kind_type.values()))
    assert factors.min() >= 0.1 and factors.max() <= 1.9 and factors.max() - factors.min() > 1.0
    with pytest.raises(ValueError, match="unknown world 'mars'"):
        world("mars")
    with pytest.raises(InputError) as info:
        LoopSpec(world="mars").validate()
    assert info.value.problems[0].field == ("world",) and "silent" in info.value.problems[0].suggestion
    assert set(WORLDS) == {"project", "silent", "fading", "street", "kindtype", "all"}


def test_on_site_resources_depend_on_the_street_and_repeats_do_less(catalog):
    truth = Truth(catalog, TYPES, 3, world("all"), STREETS)
    on_site = next(r for r in catalog.resources if r.format == "on_site" and truth.quality[r.id] > 0.1)
    online = next(r for r in catalog.resources if r.format != "on_site" and truth.quality[r.id] > 0.1)
    topic = on_site.topics[0]
    by_street = {s: truth.effect(on_site.id, topic, "village", "x", "B1", s, 100) for s in STREETS}
    assert len(set(by_street.values())) == len(STREETS)
    assert len({truth.effect(online.id, online.topics[0], "village", "x", "B1", s, 100) for s in STREETS}) == 1
    first = truth.effect(online.id, online.topics[0], "village", "x", "B1", STREETS[0], 100)
    truth.adopted("B1", online.id, 100)
    assert truth.effect(online.id, online.topics[0], "village", "x", "B1", STREETS[0], 103) == pytest.approx(0.3 * first)
    assert truth.effect(online.id, online.topics[0], "village", "x", "B1", STREETS[0], 107) == pytest.approx(first)
    assert truth.effect(online.id, online.topics[0], "village", "x", "B2", STREETS[0], 103) == pytest.approx(first)


def test_effects_fade_month_by_month(ruleset):
    frame = pd.DataFrame({"branch_id": ["B1"] * 4, "pidx": [10, 11, 12, 13],
                          "theory_study_sessions": [0.0, 0.0, 0.0, 0.0]})
    steady = Adjuster(frame.copy(), ruleset.registry)
    fading = Adjuster(frame.copy(), ruleset.registry, world("fading").fade)
    rises = []
    for adjuster in (steady, fading):
        steps = adjuster._steps("B1", "theory_study_sessions", 10, 0.5, 4.0, 0.0)
        rises.append([new - old for _, _, old, new in steps])
    assert rises[0][0] == rises[0][1] == rises[0][2] > 0
    assert rises[1] == pytest.approx([rises[0][0], rises[0][0] / 2, rises[0][0] / 4])


def test_silent_secretaries_adopt_but_never_answer(ruleset, catalog):
    spec = dict(policy="prior", months=2, history=1, branches=40, members=500, seed=1)
    loud = run_loop(LoopSpec(**spec), ruleset, catalog)
    quiet = run_loop(LoopSpec(**spec, world="silent"), ruleset, catalog)
    answered = quiet.log.groupby("branch_id")["status"].apply(lambda s: set(s) != {"ignored"})
    silent = answered[~answered].index
    assert 0.2 < len(silent) / len(answered) < 0.6
    # They adopt as often as anyone (the draws are the same): the effects show in the metrics, not the log.
    assert quiet.summary()["adopted"] == loud.summary()["adopted"]
    assert (quiet.log["status"] == "adopted").sum() < (loud.log["status"] == "adopted").sum()
