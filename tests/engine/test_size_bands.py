"""Size bands: a reference to branches of similar size compares a small branch with small branches and
a large one with large ones, on both engines and the single-subject path."""

import pytest

from diagnosis_service.engine import make_evaluator
from diagnosis_service.engine.references import period_references
from diagnosis_service.engine.subject import SubjectEngine
from diagnosis_service.rules import check_rules
from tests.support.builders import Builder
from tests.support.paths import RULES


def test_bands_are_named_by_their_bounds(ruleset):
    reg = ruleset.registry
    assert reg.size_bands == (10, 30)
    assert [reg.size_band(n) for n in (0, 9, 10, 29, 30, 500)] == ["<10", "<10", "10-29", "10-29", "30+", "30+"]


def district(ruleset):
    """Two 3-member and two 40-member branches; talks 2 and 3 against 10 and 20."""
    b = Builder()
    for bid, size, talks in (("S1", 3, 2), ("S2", 3, 3), ("L1", 40, 10), ("L2", 40, 20)):
        b.branch(bid).row("branch", bid, "2025-12", heart_to_heart_talks=talks)
        for k in range(size):
            b.member(f"{bid}M{k}", bid).row("member", f"{bid}M{k}", "2025-12")
    return b.dataset(ruleset.registry)


@pytest.mark.parametrize("engine", ["vectorized", "durable"])
def test_talks_are_compared_with_branches_of_similar_size(ruleset, engine):
    ds = district(ruleset)
    branches, _ = make_evaluator(ds, ruleset, engine).run("2025-12")
    talks = {r.id: next((f for f in r.findings if f.rule == "talks_below_average"), None) for r in branches}
    # Against the district (mean 8.75) both small branches would be below 80%; against their band
    # (mean 2.5: 2.0) neither is, while the large branch with half its band's talks is (mean 15: 12).
    assert talks["S1"] is None and talks["S2"] is None and talks["L2"] is None
    assert talks["L1"] is not None and talks["L1"].reference == 12 and "规模相近" in talks["L1"].message_zh


def test_the_single_subject_path_needs_the_roll_and_then_agrees(ruleset):
    ds = district(ruleset)
    ev = make_evaluator(ds, ruleset)
    branches, _ = ev.run("2025-12")
    refs = period_references(ev, "2025-12")
    engine = SubjectEngine(ruleset)
    rows = ds.branch_metrics[ds.branch_metrics["branch_id"] == "L1"].drop(columns=["pidx", "branch_id"])
    whole = next(r for r in branches if r.id == "L1")
    got = engine.evaluate("branch", "L1", "2025-12", rows.to_dict("records"), refs, branch_type="community",
                          roll=40, member_values={"2025-12": {"red_member_share": 0.0}})
    assert got.to_json() == whole.to_json()
    blind = engine.evaluate("branch", "L1", "2025-12", rows.to_dict("records"), refs, branch_type="community",
                            member_values={"2025-12": {"red_member_share": 0.0}})
    assert "talks_below_average" not in [f.rule for f in blind.findings], "no band: unknown, never a guess"


def test_bad_size_bands_are_refused(tmp_path):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "indicators.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("size_bands: [10, 30]", "size_bands: [30, 10]"),
                    encoding="utf-8")
    problems = [str(p) for p in check_rules(rules)]
    assert any("size_bands must be increasing whole numbers > 0" in p and "indicators.yaml:" in p for p in problems)


PER_MEMBERS = """version: 1
rules:
  - id: activists_per_member_low
    title: {zh: 入党积极分子偏少（按人数）, en: "few activists for the branch's size"}
    source: default
    subject: branch
    when: {indicator: activists_per_10_members, op: lt, ref: {mean: district, scale: 0.8}}
    severity: yellow
    topic: member_development
    message: {zh: "{name}{value}", en: "{name} {value}"}
"""


def test_a_count_per_members_on_the_roll_is_derived_alike_everywhere(tmp_path, small_district):
    import shutil

    from diagnosis_service.data.csvdir import load_dir
    from diagnosis_service.rules import load_ruleset

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "per_members.yaml").write_text(PER_MEMBERS, encoding="utf-8")
    ruleset = load_ruleset(rules)
    ds = load_dir(small_district, ruleset.registry)
    roll = ds.members.groupby("branch_id").size()
    ev = make_evaluator(ds, ruleset)
    frame = ev.frame("branch", ev.dataset.branch_metrics["pidx"].max())
    for bid in frame.index[:10]:
        expect = frame.loc[bid, "activists_in_training"] / roll[bid] * 10
        assert frame.loc[bid, "activists_per_10_members"] == pytest.approx(expect)
    branches, _ = ev.run("2025-12")
    durable, _ = make_evaluator(ds, ruleset, "durable").run("2025-12")
    assert [b.to_json() for b in branches] == [b.to_json() for b in durable]
    assert any(f.rule == "activists_per_member_low" for b in branches for f in b.findings)
    refs = period_references(ev, "2025-12")
    engine = SubjectEngine(ruleset)
    share = ev.column("branch", "red_member_share", 2025 * 12 + 11)
    for b in branches[:12]:
        rows = ds.branch_metrics[ds.branch_metrics["branch_id"] == b.id].drop(columns=["pidx", "branch_id"])
        got = engine.evaluate("branch", b.id, "2025-12", rows.to_dict("records"), refs, branch_type=b.branch_type,
                              roll=int(roll[b.id]),
                              member_values={"2025-12": {"red_member_share": float(share.get(b.id))}})
        assert got.to_json() == b.to_json()


def test_per_members_is_a_branch_derivation_with_a_positive_per(tmp_path):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "indicators.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("{indicator: activists_in_training, per: 10}",
                                                             "{indicator: activists_in_training, per: 0}"),
                    encoding="utf-8")
    assert any("per_members is a branch indicator with indicator and per (a number > 0)" in str(p)
               for p in check_rules(rules))
