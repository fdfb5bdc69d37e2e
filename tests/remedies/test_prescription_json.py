"""A branch's line is written from its prescriptions' pre-encoded parts and the prior's scores are
shared between needs: both must give exactly what encoding and scoring afresh give."""

import dataclasses
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnosis_service.engine.findings import EncodedList, Finding, SubjectResult
from diagnosis_service.remedies.catalog import Catalog
from diagnosis_service.remedies.prescribe import Prescriber, prescriptions_json
from diagnosis_service.remedies.ranking import Need, PriorRanker
from tests.remedies.test_prescribe import CATALOG, RULESET, TOPIC_RULES

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # quotes, backslashes, controls, CJK
TOPICS = sorted(TOPIC_RULES)
STREETS = [*CATALOG.streets, None, "某个街道"]


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topics=st.lists(st.sampled_from(TOPICS), min_size=1, max_size=4, unique=True),
       messages=st.lists(st.tuples(TEXT, TEXT), min_size=4, max_size=4),
       values=st.lists(st.one_of(st.none(), st.floats(allow_nan=True, width=64)), min_size=4, max_size=4),
       btype=st.sampled_from(["village", "community", "enterprise", "school", "other"]),
       street=st.sampled_from(STREETS), per_weakness=st.integers(0, 7))
def test_a_branch_line_is_what_json_dumps_writes(topics, messages, values, btype, street, per_weakness):
    findings = [Finding(TOPIC_RULES[t][0].id, TOPIC_RULES[t][0].indicator, TOPIC_RULES[t][0].severity, t, v, 2.0,
                        zh, en) for t, (zh, en), v in zip(topics, messages, values, strict=False)]
    result = SubjectResult("branch", "B1", "2025-12", "yellow", findings, branch_type=btype, weaknesses=list(topics))
    prescriber = Prescriber(CATALOG, RULESET, per_weakness=per_weakness)
    chosen = [p for c in prescriber.for_branch(result, street) for p in c.prescriptions]
    encoded = prescriptions_json(chosen)
    assert isinstance(encoded, EncodedList) and len(encoded) == len(chosen)
    assert encoded.json == dumps(list(encoded))
    # Built without the prescriber's parts (as a caller constructing one by hand would), the same text;
    # and one changed after it was chosen is written as it is now, not as it was encoded then.
    bare = [dataclasses.replace(p, json_parts=None) for p in chosen]
    assert prescriptions_json(bare).json == encoded.json
    if chosen:
        changed = [dataclasses.replace(chosen[0], reason_zh=messages[1][0], topic=messages[1][1], repeated=None),
                   dataclasses.replace(chosen[-1], resource=CATALOG.resources[0], score=float("nan")),
                   dataclasses.replace(chosen[0], score=chosen[0].score + 0.25),
                   dataclasses.replace(chosen[-1], repeated=not chosen[-1].repeated)]
        assert prescriptions_json(changed).json == dumps([p.as_dict() for p in changed])
    result.extra["prescriptions"] = encoded
    result.extra["note"] = {"text": messages[0][0], "n": values[0]}
    assert result.to_json() == dumps(result.as_dict())
    assert json.loads(result.to_json())["prescriptions"] == json.loads(dumps([p.as_dict() for p in chosen]))


def test_the_priors_shared_scores_equal_fresh_ones_for_every_need():
    shared = PriorRanker()
    for topic in TOPICS:
        rule = TOPIC_RULES[topic][0]
        for btype in ("village", "community", "enterprise"):
            for street in STREETS:
                need = Need("B1", btype, street, "2025-12", topic, rule.id, rule.indicator, "yellow", 1.0, 2.0,
                            tuple(rule.remedy_kinds))
                pool = [r for r in CATALOG.for_topic(topic) if r.active and r.suits(btype, street)]
                got = [(s.resource.id, s.score, s.parts) for s in shared.rank(need, pool)]
                fresh = [(s.resource.id, s.score, s.parts) for s in PriorRanker().rank(need, pool)]
                assert got == fresh


def test_a_resource_changed_in_another_catalog_is_scored_as_it_is_there():
    ranker = PriorRanker()
    topic = TOPICS[0]
    rule = TOPIC_RULES[topic][0]
    need = Need("B1", "village", None, "2025-12", topic, rule.id, rule.indicator, "yellow", 1.0, 2.0, ())
    resource = next(r for r in CATALOG.for_topic(topic) if r.topics[0] == topic and not r.streets)
    before = ranker.rank(need, [resource])[0].score
    moved = dataclasses.replace(resource, topics=("some_other_topic", topic))  # the same id, a side topic now
    other = Catalog((moved,), CATALOG.streets, "v2", "elsewhere")
    after = ranker.rank(need, other.for_topic(topic))[0].score
    assert after < before
    assert after == PriorRanker().rank(need, [moved])[0].score


def test_the_priors_kept_scores_are_bounded(monkeypatch):
    from diagnosis_service.remedies import ranking

    monkeypatch.setattr(ranking, "MEMO_NEEDS", 3)
    ranker = PriorRanker()
    for topic in TOPICS:
        rule = TOPIC_RULES[topic][0]
        need = Need("B1", "village", None, "2025-12", topic, rule.id, rule.indicator, "yellow", 1.0, 2.0, ())
        pool = CATALOG.for_topic(topic)
        assert ([(s.resource.id, s.score) for s in ranker.rank(need, pool)]
                == [(s.resource.id, s.score) for s in PriorRanker().rank(need, pool)])
        assert len(ranker._memo) <= 3
