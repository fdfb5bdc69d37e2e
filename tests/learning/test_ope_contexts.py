"""Off-policy estimates judge a target policy among the candidates the logged choice was made among: the
suitable resources less what the branch was served for the topic in the months before (the Prescriber's
repeat filter), with the months after the decision unknown to it."""

from __future__ import annotations

import pandas as pd

from diagnosis_service.learning.ope import (
    SERVED_COLUMNS,
    action_probability,
    served_from_log,
    target_probabilities,
)
from diagnosis_service.remedies.ranking import PriorRanker
from tests.support.learning import need

NEED = need()


def _decision(resource_id: str) -> pd.DataFrame:
    return pd.DataFrame([{
        "branch_id": NEED.branch_id, "branch_type": NEED.branch_type, "street": NEED.street, "period": NEED.period,
        "topic": NEED.topic, "rule": NEED.rule, "indicator": NEED.indicator, "value": NEED.value,
        "reference": NEED.reference, "members": NEED.members, "resource_id": resource_id, "status": "adopted",
        "propensity": 1.0}])


def _served(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(SERVED_COLUMNS))


def _prior_order(catalog, ruleset) -> list[str]:
    """The prior's first choice for the decision, then its first once that one is left out."""
    import dataclasses

    rule = ruleset.rule(NEED.rule)
    full = dataclasses.replace(NEED, preferred_kinds=rule.remedy_kinds if rule else ())
    pool = [r.id for r in catalog.resources if action_probability(catalog, PriorRanker(), full, r.id) > 0]
    top = pool[0]
    second = next(r.id for r in catalog.resources
                  if action_probability(catalog, PriorRanker(), full, r.id, recent={top}) > 0)
    return [top, second]


def test_a_resource_served_the_month_before_is_not_a_candidate(catalog, ruleset):
    top, second = _prior_order(catalog, ruleset)
    assert top != second
    logged = _decision(second)
    # Without what was served, the prior would have put `top` first: the logged `second` looks impossible.
    assert target_probabilities(logged, PriorRanker(), lambda _p: catalog, ruleset)[0] == 0.0
    # The branch had `top` for this topic in May (not first: any item shown counts for the filter).
    served = _served((NEED.branch_id, "2025-05", NEED.topic, "R-other", True),
                     (NEED.branch_id, "2025-05", NEED.topic, top, False))
    assert target_probabilities(logged, PriorRanker(), lambda _p: catalog, ruleset, served)[0] == 1.0


def test_what_was_served_later_or_elsewhere_or_long_ago_does_not_count(catalog, ruleset):
    top, _ = _prior_order(catalog, ruleset)
    logged = _decision(top)
    for served in (_served((NEED.branch_id, "2025-07", NEED.topic, top, True)),  # after the decision
                   _served((NEED.branch_id, "2025-06", NEED.topic, top, True)),  # the decision's own month
                   _served(("B2", "2025-05", NEED.topic, top, True)),  # another branch
                   _served((NEED.branch_id, "2025-05", "org_life", top, True)),  # another topic
                   _served((NEED.branch_id, "2025-02", NEED.topic, top, True))):  # four months before
        assert target_probabilities(logged, PriorRanker(), lambda _p: catalog, ruleset, served)[0] == 1.0, served


def test_when_everything_was_served_recently_the_whole_pool_is_back(catalog, ruleset):
    top, _ = _prior_order(catalog, ruleset)
    everything = _served(*[(NEED.branch_id, "2025-04", NEED.topic, r.id, False) for r in catalog.resources])
    assert target_probabilities(_decision(top), PriorRanker(), lambda _p: catalog, ruleset, everything)[0] == 1.0


def test_a_logs_shown_items_are_what_was_served():
    log = pd.DataFrame({"branch_id": ["B1", "B2"], "period": ["2025-05", "2025-05"], "topic": ["t", "u"],
                        "resource_id": ["R1", "R9"], "shown": ["R1 R2 R3", float("nan")]})
    served = served_from_log(log)
    assert served.values.tolist() == [["B1", "2025-05", "t", "R1", True], ["B1", "2025-05", "t", "R2", False],
                                      ["B1", "2025-05", "t", "R3", False], ["B2", "2025-05", "u", "R9", True]]
    assert served_from_log(log.drop(columns="shown"))["resource_id"].tolist() == ["R1", "R9"]


def test_a_decision_is_replayed_with_the_kinds_it_logged(catalog, ruleset):
    """The kinds the ranker preferred (every finding's on the topic, merged) are logged; a log without
    them falls back to the logged rule's."""
    import dataclasses

    top, _ = _prior_order(catalog, ruleset)
    kind_of = {r.id: r.kind for r in catalog.resources}
    other = next(r.kind for r in catalog.for_topic(NEED.topic) if r.kind != kind_of[top])
    preferring = dataclasses.replace(NEED, preferred_kinds=(other,))
    their_top = next(r.id for r in catalog.resources if action_probability(catalog, PriorRanker(), preferring, r.id))
    assert kind_of[their_top] == other and their_top != top
    logged = _decision(their_top).assign(kinds=other)
    assert target_probabilities(logged, PriorRanker(), lambda _p: catalog, ruleset)[0] == 1.0
    assert target_probabilities(logged.assign(kinds=None), PriorRanker(), lambda _p: catalog, ruleset)[0] == 0.0
    assert target_probabilities(logged.drop(columns="kinds"), PriorRanker(), lambda _p: catalog, ruleset)[0] == 0.0


def test_a_decision_is_judged_among_the_catalog_its_list_came_from(catalog, ruleset):
    """A list served from a stored catalog version is replayed with that version's resources: here one
    without the resource the prior would put first today."""
    import dataclasses

    top, second = _prior_order(catalog, ruleset)
    then = dataclasses.replace(catalog, resources=tuple(r for r in catalog.resources if r.id != top))
    logged = _decision(second).assign(catalog_version=3)
    assert target_probabilities(logged, PriorRanker(), lambda _p: catalog, ruleset, catalogs={3: then})[0] == 1.0
    # Without that version (a catalog directory, a version that does not load), today's catalog is used.
    assert target_probabilities(logged, PriorRanker(), lambda _p: catalog, ruleset, catalogs={4: then})[0] == 0.0
    assert target_probabilities(logged.assign(catalog_version=None), PriorRanker(), lambda _p: catalog, ruleset,
                                catalogs={3: then})[0] == 0.0


def test_a_list_of_an_earlier_month_served_after_the_decision_was_not_known_to_it(catalog, ruleset):
    """The store's list ids give the order lists were served in: May's list opened again after June's
    decision (a secretary looking back) did not hold `top` back from June's list."""
    top, second = _prior_order(catalog, ruleset)
    logged = _decision(top).assign(list_id=10)

    def served(list_id: int) -> pd.DataFrame:
        return _served((NEED.branch_id, "2025-05", NEED.topic, top, True)).assign(list_id=list_id)

    assert target_probabilities(logged, PriorRanker(), lambda _p: catalog, ruleset, served(12))[0] == 1.0
    assert target_probabilities(logged, PriorRanker(), lambda _p: catalog, ruleset, served(8))[0] == 0.0
    # Without list ids (a loop's log), every list of an earlier month counts: it was served in its month.
    assert target_probabilities(logged.drop(columns="list_id"), PriorRanker(), lambda _p: catalog, ruleset,
                                served(12))[0] == 0.0
    # Another branch's late list changes nothing for this one, and the second choice is unaffected.
    other = pd.concat([served(8), _served(("B2", "2025-05", NEED.topic, top, True)).assign(list_id=30)])
    assert target_probabilities(_decision(second).assign(list_id=10), PriorRanker(), lambda _p: catalog, ruleset,
                                other)[0] == 1.0


def test_a_decision_is_replayed_with_the_months_since_its_weaknesss_last_list(ruleset):
    from diagnosis_service.learning.ope import contexts

    served = _served((NEED.branch_id, "2025-03", NEED.topic, "R1", True),
                     (NEED.branch_id, "2025-04", "dues", "R2", True),  # another weakness
                     (NEED.branch_id, "2025-06", NEED.topic, "R3", True),  # the decision's own month
                     ("B9", "2025-05", NEED.topic, "R4", True))  # another branch
    told = [need.weakness_months for _, need, _ in contexts(_decision("R9"), ruleset, served)]
    assert told == [3]
