"""What secretaries read is written in their words: no double negatives in changes, the Party's terms
(交纳党费, not 缴纳), no English ids in Chinese output, and every branch type named in English."""

import re

import pytest
from jinja2 import Environment, FileSystemLoader, meta

from diagnosis_service.data.sources import CsvDir
from diagnosis_service.pipeline import report_data
from diagnosis_service.pipeline.month import diagnose_month
from diagnosis_service.pipeline.snapshot import Snapshot
from diagnosis_service.reports.branch import document
from diagnosis_service.reports.labels import LABELS
from diagnosis_service.reports.render import render_text
from diagnosis_service.reports.summary import summary
from diagnosis_service.service.page_text import PAGE_TEXT
from tests.support.paths import CATALOG, REPO, RULES

TEMPLATES = REPO / "diagnosis_service" / "service" / "templates"
# A sign right after a word that already says the direction: "下降-2.6", "fell by -2.6".
SIGNED_CHANGE_ZH = re.compile(r"(上升|下降|增加|减少|提高|降低|增长|回落)[^0-9，。；、）)]{0,4}[-−+]\s*\d")
SIGNED_CHANGE_EN = re.compile(r"\b(rose|fell|dropped|grew|up|down|increased|decreased)\b\D{0,8}[-−+]\s*\d", re.I)
SAMPLE = {"value": -2.6, "size": 2.6, "reference": 0.73, "periods": 3, "indicator": "x", "name": "x", "id": "B00001",
          "quarter_end": "3月31日", "year_end": "12月31日"}


@pytest.fixture(scope="module")
def snapshot():
    return Snapshot.from_dirs(RULES, CATALOG)


@pytest.fixture(scope="module")
def month(snapshot, small_district):
    return diagnose_month(CsvDir(small_district).load(snapshot.ruleset.registry, "2025-12"), snapshot, "2025-12",
                          per_weakness=5)


def test_rule_messages_never_put_a_sign_after_a_direction_word(snapshot):
    for rule in snapshot.ruleset.rules:
        zh, en = rule.message_zh.format(**SAMPLE), rule.message_en.format(**SAMPLE)
        assert not SIGNED_CHANGE_ZH.search(zh), (rule.id, zh)
        assert not SIGNED_CHANGE_EN.search(en), (rule.id, en)


def test_the_checks_catch_what_the_issue_found():
    """The patterns above are not vacuous: the wording the secretaries saw fails them."""
    assert SIGNED_CHANGE_ZH.search("书记攻坚项目进度较上月下降-2.6个百分点")
    assert SIGNED_CHANGE_EN.search("progress fell by -2.6 points")
    assert not SIGNED_CHANGE_ZH.search("书记攻坚项目进度较上月下降2.6个百分点")


def test_the_partys_terms():
    """交纳党费 (the constitution's word), never 缴纳; 收缴 and 催缴 are the regulations' own words."""
    files = [*RULES.glob("*.yaml"), *CATALOG.glob("*.yaml"), *TEMPLATES.glob("*.html"),
             *(REPO / "diagnosis_service").rglob("*.py")]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "缴纳" not in text and "补缴" not in text, path
    for lang_text in (LABELS["zh"], PAGE_TEXT["zh"]):
        assert not any("缴纳" in v for v in lang_text.values())


def ids(snapshot) -> set[str]:
    reg = snapshot.ruleset.registry
    out = {r.id for r in snapshot.ruleset.rules} | set(reg.topics) | set(reg.branch_types)
    out |= {i.id for subject in ("branch", "member") for i in reg.reported(subject)}
    return {i for i in out if len(i) > 3}  # 'all', 'dues' ... are words; ids of 4+ letters are checked


def english_words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z_]{2,}", text)


def test_chinese_output_has_no_english_ids(snapshot, month):
    known = ids(snapshot)
    outputs = [summary(month, "zh")]
    for b in month.branches[:20]:
        data = report_data.build(report_data.from_month(month, b.id), snapshot)
        outputs.append(render_text(document(data, snapshot.ruleset.registry, "zh")))
    outputs += [v for v in LABELS["zh"].values()] + [v for v in PAGE_TEXT["zh"].values()]
    for text in outputs:
        found = [w for w in english_words(text) if w in known or "_" in w]
        assert not found, (found, text[:300])


def test_page_templates_say_nothing_in_english_of_their_own():
    """Words in the templates come from PAGE_TEXT (zh and en); the markup itself carries no prose."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    for path in sorted(TEMPLATES.glob("*.html")):
        source = path.read_text(encoding="utf-8")
        env.parse(source)  # it parses
        prose = re.sub(r"\{[{%#].*?[}%#]\}", " ", source, flags=re.S)
        prose = re.sub(r"<(style|script)>.*?</\1>", " ", prose, flags=re.S)
        prose = re.sub(r"<[^>]*>", " ", prose)
        assert not english_words(prose) and not re.search(r"[\u4e00-\u9fff]", prose), (path.name, prose.strip())
        assert "t" in meta.find_undeclared_variables(env.parse(source)), path.name
        missing = set(re.findall(r"\bt\.(\w+)", source)) - set(PAGE_TEXT["zh"])
        assert not missing, (path.name, missing)


def test_every_label_exists_in_both_languages():
    assert set(LABELS["zh"]) == set(LABELS["en"])
    assert set(PAGE_TEXT["zh"]) == set(PAGE_TEXT["en"])
    for key, zh in PAGE_TEXT["zh"].items():
        assert set(re.findall(r"\{(\w+)\}", zh)) == set(re.findall(r"\{(\w+)\}", PAGE_TEXT["en"][key])), key


def test_branch_types_have_english_names(snapshot):
    for btype in snapshot.ruleset.registry.branch_types.values():
        assert btype.name_en != btype.id and "Party organisation" in btype.name_en, btype.id
