"""Prescriptions: suitable, active, diverse, not repeated, explained, deterministic."""

import json
import random
from html import unescape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnosis_service.cli import main
from diagnosis_service.data.csvdir import load_dir
from diagnosis_service.engine.findings import Finding, SubjectResult
from diagnosis_service.remedies.catalog_files import load_catalog
from diagnosis_service.remedies.history import History
from diagnosis_service.remedies.prescribe import Prescriber
from diagnosis_service.rules import load_ruleset
from tests.support.diagnose import diagnose
from tests.support.paths import REPO, RULES

CATALOG_DIR = REPO / "resources_catalog"
RULESET = load_ruleset(RULES)
CATALOG = load_catalog(CATALOG_DIR, RULESET.registry)
TOPIC_RULES = {}
for _rule in RULESET.for_subject("branch"):
    if _rule.severity != "reminder":  # a reminder never makes a weakness
        TOPIC_RULES.setdefault(_rule.topic, []).append(_rule)


def finding(rule, value=0.0, reference=2.0):
    return Finding(rule.id, rule.indicator, rule.severity, rule.topic, value, reference, f"{rule.id} zh", f"{rule.id} en")


def branch(topics, btype="village", bid="B1", period="2025-12", rule_index=0):
    rules = [TOPIC_RULES[t][rule_index % len(TOPIC_RULES[t])] for t in topics]
    return SubjectResult("branch", bid, period, "yellow", [finding(r) for r in rules], branch_type=btype,
                         weaknesses=list(topics))


@pytest.fixture(scope="module")
def month(small_district):
    ds = load_dir(small_district, RULESET.registry)
    return ds, diagnose(ds, RULESET, "2025-12", catalog=CATALOG)


def test_every_weakness_of_the_district_gets_suitable_active_prescriptions(month):
    ds, diag = month
    weaknesses = 0
    for b in diag.branches:
        street = ds.branches.loc[b.id, "street"]
        rx = b.extra["prescriptions"]
        for topic in b.weaknesses:
            weaknesses += 1
            mine = [p for p in rx if p["topic"] == topic]
            assert 1 <= len(mine) <= 5, (b.id, topic)
            if len(mine) == 5:
                assert len({p["kind"] for p in mine}) >= 3, "diverse kinds, not five videos"
            scores = [p["score"] for p in mine]
            assert scores == sorted(scores, reverse=True), "best first"
        for p in rx:
            r = CATALOG.get(p["resource_id"])
            assert r.active and r.suits(b.branch_type, street) and p["topic"] in r.topics
            assert p["kind"] == r.kind and p["reason_zh"] and p["reason_en"]
    assert weaknesses > 100


def test_prescriptions_are_deterministic(small_district):
    ds = load_dir(small_district, RULESET.registry)
    runs = [list(diagnose(ds, RULESET, "2025-12", catalog=CATALOG).lines()) for _ in range(2)]
    assert runs[0] == runs[1]
    assert '"prescriptions":[{' in runs[0][0] or any('"prescriptions":[{' in line for line in runs[0])


def test_the_seed_case_base_visit_plus_library(ruleset):
    b = branch(["theory_study"])  # theory_study_below_average names base, lecturer, lesson, video
    assert b.findings[0].rule == "theory_study_below_average"
    (choice,) = Prescriber(CATALOG, RULESET).for_branch(b, "古林镇")
    kinds = [p.resource.kind for p in choice.prescriptions]
    assert kinds[0] == "base" and set(kinds[:4]) == {"base", "lecturer", "lesson", "video"}
    first = choice.prescriptions[0]
    assert "现场教学" in first.reason_zh and first.reason_zh.startswith("theory_study_below_average zh。推荐")
    assert first.reason_en.startswith("theory_study_below_average en. Suggested: on-site teaching at ")


def test_rule_remedy_kinds_come_first():
    rule = next(r for r in RULESET.for_subject("branch") if r.remedy_kinds == ("activity",))
    b = SubjectResult("branch", "B1", "2025-12", "yellow", [finding(rule)], branch_type="community",
                      weaknesses=[rule.topic])
    (choice,) = Prescriber(CATALOG, RULESET).for_branch(b, "鼓楼街道")
    assert choice.prescriptions[0].resource.kind == "activity"


def test_recent_prescriptions_are_not_repeated_unless_nothing_else_fits():
    prescriber = Prescriber(CATALOG, RULESET, per_weakness=3)
    b = branch(["dues"], btype="school")
    first = [p.resource_id for p in prescriber.for_branch(b, "鼓楼街道")[0].prescriptions]
    history = History()
    for rid in first:
        history.add("B1", "2025-10", "dues", rid, first=True)
    again = prescriber.for_branch(b, "鼓楼街道", history)[0]
    assert not set(first) & {p.resource_id for p in again.prescriptions}
    assert again.recent == sorted(first) and not again.used_repeats
    # Four months later they may come back.
    later = branch(["dues"], btype="school", period="2026-02")
    assert [p.resource_id for p in prescriber.for_branch(later, "鼓楼街道", history)[0].prescriptions] == first
    # Everything suitable prescribed last month: repeats, flagged.
    pool = [r.id for r in CATALOG.for_topic("dues") if r.active and r.suits("school", "鼓楼街道")]
    full = History()
    for rid in pool:
        full.add("B1", "2025-11", "dues", rid, first=False)
    repeated = prescriber.for_branch(b, "鼓楼街道", full)[0]
    assert repeated.used_repeats and repeated.prescriptions
    assert all(p.repeated and "近3个月曾推荐" in p.reason_zh for p in repeated.prescriptions)


topics = st.lists(st.sampled_from(sorted(TOPIC_RULES)), min_size=1, max_size=4, unique=True)
streets = st.sampled_from(list(CATALOG.streets) + [None, "未知街道"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topics=topics, btype=st.sampled_from(sorted(RULESET.registry.branch_types)), street=streets,
       k=st.integers(1, 6), seed=st.integers(0, 10_000), rule_index=st.integers(0, 5))
def test_never_inactive_or_unsuitable_always_something(topics, btype, street, k, seed, rule_index):
    rng = random.Random(seed)
    history = History()
    for _ in range(rng.randint(0, 30)):
        r = rng.choice(CATALOG.resources)
        history.add("B1", rng.choice(["2025-08", "2025-09", "2025-10", "2025-11"]), rng.choice(r.topics), r.id, first=True)
    prescriber = Prescriber(CATALOG, RULESET, per_weakness=k)
    choices = prescriber.for_branch(branch(topics, btype, rule_index=rule_index), street, history)
    assert [c.need.topic for c in choices] == topics
    for c in choices:
        assert 1 <= len(c.prescriptions) <= k
        recent = history.recent("B1", c.need.topic, "2025-12", 3)
        ids = [p.resource_id for p in c.prescriptions]
        assert len(set(ids)) == len(ids)
        for p in c.prescriptions:
            assert p.resource.active and p.resource.suits(btype, street) and c.need.topic in p.resource.topics
            assert p.repeated == c.used_repeats
            if not c.used_repeats:
                assert p.resource_id not in recent
        assert [p.score for p in c.prescriptions] == sorted((p.score for p in c.prescriptions), reverse=True)


# ------------------------------------------------------------------ command line

def test_diagnose_out_carries_prescriptions_and_the_flag_limits_them(runner, small_district, tmp_path):
    out = tmp_path / "d.jsonl"
    r = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-11", "--out", str(out)])
    assert r.exit_code == 0, r.output
    branches = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()
                if line.startswith('{"subject":"branch"')]
    assert all("prescriptions" in b for b in branches)
    weak = [b for b in branches if b["weaknesses"]]
    assert weak and all(len(b["prescriptions"]) >= len(b["weaknesses"]) for b in weak)
    two = tmp_path / "two.jsonl"
    runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-11", "--out", str(two),
                         "--prescriptions", "2"])
    for line in two.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        for topic in obj.get("weaknesses", []):
            assert 1 <= sum(p["topic"] == topic for p in obj["prescriptions"]) <= 2
    none = tmp_path / "none.jsonl"
    runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-11", "--out", str(none),
                         "--prescriptions", "0"])
    assert '"prescriptions"' not in none.read_text(encoding="utf-8")
    # The November output is December's history: the same branch, the same weakness, new resources.
    dec = tmp_path / "dec.jsonl"
    r = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12", "--out", str(dec),
                             "--history", str(out)])
    assert r.exit_code == 0, r.output
    nov = {(b["id"], p["topic"]): set() for b in branches for p in b["prescriptions"]}
    for b in branches:
        for p in b["prescriptions"]:
            nov[(b["id"], p["topic"])].add(p["resource_id"])
    checked = 0
    for line in dec.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        for p in obj.get("prescriptions", []):
            if (obj["id"], p["topic"]) in nov:
                checked += 1
                assert p["resource_id"] not in nov[(obj["id"], p["topic"])] or p["repeated"]
    assert checked > 20
    # A file of December or later among December's history files is no history of it: November's lists
    # listed again there must not look as if they were last listed in December (and so not lately).
    later = tmp_path / "later.jsonl"
    later.write_text(out.read_text(encoding="utf-8").replace('"period":"2025-11"', '"period":"2025-12"'),
                     encoding="utf-8")
    again = tmp_path / "again.jsonl"
    r = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12", "--out", str(again),
                             "--history", str(out), "--history", str(later), "--history", str(dec)])
    assert r.exit_code == 0, r.output
    assert again.read_bytes() == dec.read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject":"branch","id":"B1"}\nnot json\n', encoding="utf-8")
    r = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12", "--history", str(bad)])
    assert r.exit_code == 2 and f"{bad}:1:" in r.stderr and f"{bad}:2:" in r.stderr
    # Another kind of file (a CSV given by mistake) is told once, not once a line.
    csv = tmp_path / "branch_metrics.csv"
    csv.write_text("branch_id,period\n" + "B00001,2025-11\n" * 30, encoding="utf-8")
    r = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12", "--history", str(csv)])
    assert r.exit_code == 2 and f"{csv}:1:" in r.stderr and "not a diagnose output file" in r.stderr
    assert f"{csv}:2:" not in r.stderr
    # A workbook (not text at all) likewise, not a traceback.
    book = tmp_path / "plans.xlsx"
    book.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\xa1\xb2\xff\xfe" * 8)
    r = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12", "--history", str(book)])
    assert r.exit_code == 2 and f"{book}: not a diagnose output file: not UTF-8 text" in r.stderr, r.output


def test_explain_shows_why_each_prescription(runner, small_district, month):
    _, diag = month
    b = next(b for b in diag.branches if b.weaknesses)
    r = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12", "--explain", b.id])
    assert r.exit_code == 0, r.output
    assert f"{b.id} 在 2025-12 的药方依据（排序：prior）" in r.stdout
    assert "候选" in r.stdout and "score " in r.stdout and "topic 1" in r.stdout
    first = b.extra["prescriptions"][0]
    assert f"1. {first['resource_id']} [{first['kind']}]" in r.stdout


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_formats_say_the_same_things(runner, district_copy, month, fmt, lang):
    _, diag = month
    b = next(b for b in diag.branches if "theory_study" in b.weaknesses)
    branches = district_copy / "branches.csv"
    text = branches.read_text(encoding="utf-8")
    name = next(line.split(",")[1] for line in text.splitlines() if line.startswith(b.id + ","))
    branches.write_text(text.replace(name, "<b>红&旗</b>", 1), encoding="utf-8")
    r = runner.invoke(main, ["report", "--data", str(district_copy), "--period", "2025-12", "--branch", b.id,
                             "--format", fmt, "--lang", lang])
    assert r.exit_code == 0, r.output
    out = r.stdout
    rx = b.extra["prescriptions"]
    title = rx[0]["title_zh"] if lang == "zh" else rx[0]["title_en"]
    if fmt == "html":
        import html

        assert out.startswith("<!doctype html>") and f'lang="{"zh-CN" if lang == "zh" else "en"}"' in out
        assert "&lt;b&gt;红&amp;旗&lt;/b&gt;" in out and "<b>红" not in out
        assert html.escape(title) in out and f"lamp-{b.lamp}" in out
    else:
        assert title.replace("*", "\\*") in out or title in out
    if fmt == "markdown":
        assert out.startswith("# ") and "\\<b\\>红&旗\\</b\\>" in out and "| " in out
    heading = "本月计划（最多三项）" if lang == "zh" else "This month's plan (three at most)"
    assert heading in (unescape(out) if fmt == "html" else out)
    base = "组织生活基地" if lang == "zh" else "org-life base"
    assert base in out, "a branch weak in theory study is sent to a base"
