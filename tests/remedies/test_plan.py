"""The month's plan: at most three remedies for the whole branch, covering its weaknesses, no subject twice."""

from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.remedies.plan import PLAN_SIZE, make_plan, title_key

TOPICS = ["org_life", "theory_study", "dues", "volunteer_service", "vanguard_role"]


def rx(topic: str, rid: str, kind: str = "activity", title: str | None = None, pid: int | None = None) -> dict:
    return {"topic": topic, "resource_id": rid, "kind": kind, "title_zh": title or f"活动{rid}",
            "title_en": f"activity {rid}", "advice_zh": f"推荐{rid}", "advice_en": f"do {rid}", "prescription_id": pid}


def test_one_remedy_answering_two_weaknesses_is_chosen_first_and_counts_for_both():
    served = [rx("org_life", "A1", pid=1), rx("theory_study", "A2", pid=2), rx("theory_study", "A3", pid=3),
              rx("org_life", "A3", pid=4), rx("dues", "A4", pid=5)]
    plan, more = make_plan(["org_life", "theory_study", "dues"], served)
    assert [p.resource_id for p in plan] == ["A3", "A4"]
    assert plan[0].covers == ["org_life", "theory_study"] and plan[0].prescription_ids == [3, 4]
    assert [m.resource_id for m in more] == ["A1", "A2"]


def test_the_same_subject_as_a_talk_a_lesson_and_a_video_is_planned_once():
    subject = "“三会一课”规范化操作指引"
    served = [rx("org_life", "LEC1", "lecturer", f"区委组织部党建组织员：{subject}"),
              rx("org_life", "LES1", "lesson", f"「锋领讲堂」特色党课：{subject}"),
              rx("org_life", "VID1", "video", f"红色视频党课·政策一点通：{subject}"),
              rx("org_life", "ACT1", "activity", "主题党日：重温入党誓词")]
    plan, more = make_plan(["org_life"], served)
    assert [p.resource_id for p in plan] == ["LEC1"]
    assert [m.resource_id for m in more] == ["ACT1"], "the lesson and the video of the same subject are dropped"
    assert title_key("lesson", "「海曙红色记忆」特色党课：读原著、学原文、悟原理：党员自学方法谈") == \
        "读原著、学原文、悟原理：党员自学方法谈"
    assert title_key("activity", "田间课堂：在村文化礼堂学政策") == "田间课堂：在村文化礼堂学政策"


def test_no_weakness_no_plan():
    assert make_plan([], []) == ([], [])


def test_the_more_serious_weakness_is_answered_when_not_all_can_be():
    served = [rx(t, f"R{k}") for k, t in enumerate(TOPICS)]
    plan, _ = make_plan(TOPICS, served)
    assert [p.covers[0] for p in plan] == TOPICS[:PLAN_SIZE]


KINDS = ["lecturer", "lesson", "video", "activity"]
served_lists = st.lists(st.tuples(st.sampled_from(TOPICS), st.integers(0, 15)), max_size=40)


def resource(n: int) -> tuple[str, str]:
    """A resource's kind and title (several resources share a subject, as in the catalog)."""
    kind = KINDS[n % 4]
    return kind, (f"讲师{n}：主题{n % 5}" if kind != "activity" else f"活动{n % 5}")


@settings(max_examples=300, deadline=None)
@given(weak=st.lists(st.sampled_from(TOPICS), unique=True, max_size=5), items=served_lists)
def test_plan_properties(weak, items):
    served = [rx(topic, f"R{n}", *resource(n), k) for k, (topic, n) in enumerate(items) if topic in weak]
    plan, more = make_plan(weak, served)
    keys = [title_key(i.kind, i.title_zh) for i in plan + more]
    assert len(plan) <= PLAN_SIZE and len(keys) == len(set(keys))
    assert all(item.covers and set(item.covers) <= set(weak) for item in plan + more)
    # Every served resource is in the plan or after it, or has a subject already there.
    for s in served:
        assert s["resource_id"] in {i.resource_id for i in plan + more} or title_key(s["kind"], s["title_zh"]) in keys
    # Each item of the plan answers a weakness that the items before it left open.
    covered: set[str] = set()
    for item in plan:
        assert set(item.covers) - covered
        covered |= set(item.covers)
    # Nothing left out could still answer an open weakness while the plan has room.
    if len(plan) < PLAN_SIZE:
        open_ = set(weak) - covered
        assert not any(set(i.covers) & open_ for i in more if title_key(i.kind, i.title_zh) not in
                       {title_key(p.kind, p.title_zh) for p in plan})
