from pathlib import Path

import pytest

from diagnosis_service.cli import main
from diagnosis_service.errors import RuleError
from diagnosis_service.rules import check_rules, is_valid, load_ruleset
from diagnosis_service.rules.model import SOURCES, TEMPLATE_FIELDS
from tests.support.paths import RULES

CONTRACT_TOPICS = {"theory_study", "democratic_consultation", "org_life", "dues", "member_management",
                   "volunteer_service", "vanguard_role", "member_development", "openness"}


def write_rule(rules_dir: Path, body: str, name: str = "extra.yaml") -> Path:
    path = rules_dir / name
    path.write_text("version: 1\nrules:\n" + body, encoding="utf-8")
    return path


GOOD = """\
  - id: my_rule
    source: default
    subject: branch
    when: {indicator: theory_study_sessions, op: lt, ref: district_mean}
    severity: yellow
    topic: theory_study
    message:
      zh: "少于平均 {reference}"
      en: "below average {reference}"
"""


def test_shipped_rules_are_valid_and_complete(ruleset):
    assert check_rules(RULES) == [] and is_valid(RULES)
    reg = ruleset.registry
    assert len(reg.indicators["branch"]) == 32 and len(reg.indicators["member"]) == 35
    assert len(reg.reported("branch")) == 23 and len(reg.reported("member")) == 28
    assert set(reg.topics) == CONTRACT_TOPICS
    for rule in ruleset.rules:
        assert rule.source in SOURCES and rule.topic in CONTRACT_TOPICS
    ids = {r.id for r in ruleset.rules}
    # Every seed rule of the contract is there.
    assert {"branch_no_org_life_2_months", "branch_red_members_20", "member_dues_missed",
            "member_dues_unpaid_6_months", "member_absent_6_months", "theory_study_below_average",
            "democratic_consultation_below_average"} <= ids
    assert ruleset.points["model_posts_created"] == 2 and ruleset.points["volunteer_hours"] == 0.5


def test_a_good_extra_rule_loads(rules_copy):
    write_rule(rules_copy, GOOD)
    assert load_ruleset(rules_copy).rule("my_rule").when.ref.kind == "mean"


def test_misspelled_indicator_is_located_with_did_you_mean(rules_copy, runner):
    path = write_rule(rules_copy, GOOD.replace("theory_study_sessions", "theory_study_sesions"))
    problems = check_rules(rules_copy)
    assert len(problems) == 1
    p = problems[0]
    assert (p.file, p.line, p.column, p.rule_id) == (str(path), 6, 23, "my_rule")
    assert "did you mean 'theory_study_sessions'?" in p.suggestion
    result = runner.invoke(main, ["rules", "check", "--rules", str(rules_copy)])
    assert result.exit_code == 1
    assert f"{path}:6:23: rule my_rule: unknown branch indicator 'theory_study_sesions'" in result.stderr
    with pytest.raises(RuleError):
        load_ruleset(rules_copy)


@pytest.mark.parametrize("file", ["extra.yaml", "indicators.yaml", "points.yaml"])
def test_a_file_written_for_another_layout_version_is_refused_where_it_says_so(rules_copy, file):
    path = rules_copy / file
    if file == "extra.yaml":
        write_rule(rules_copy, GOOD)
    text = path.read_text(encoding="utf-8")
    assert "version: 1\n" in text
    path.write_text(text.replace("version: 1\n", "version: 2\n", 1), encoding="utf-8")
    problems = check_rules(rules_copy)
    assert [(p.file, p.column) for p in problems] == [(str(path), 10)], problems
    assert "says version '2'; this service reads version 1" in problems[0].message
    assert problems[0].line == text.splitlines().index("version: 1") + 1
    path.write_text(text.replace("version: 1\n", "", 1), encoding="utf-8")
    assert is_valid(rules_copy), "the key may be left out"


def test_indicator_of_the_other_subject_is_explained(rules_copy):
    write_rule(rules_copy, GOOD.replace("theory_study_sessions", "dues_paid"))
    (p,) = check_rules(rules_copy)
    assert "is a member indicator" in p.suggestion


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("op: lt", "op: less", "unknown operator 'less'"),
    ("ref: district_mean", "ref: district_meen", "unknown reference 'district_meen'"),
    ("ref: district_mean", "ref: {quantile: 1.5}", "quantile must be a number from 0 to 1"),
    ("ref: district_mean", "ref: {mean: county}", "mean must be 'district', 'peers' (same type) or 'size' (same size band)"),
    ("ref: district_mean", "value: ten", "value must be a number"),
    ("ref: district_mean", "ref: district_mean, value: 3", "exactly one of 'value'"),
    ("op: lt,", "op: lt, for_periods: 0,", "for_periods must be a whole number"),
    ("op: lt,", "op: lt, change: ratio,", "change must be delta or percent"),
    ("topic: theory_study", "topic: theory", "unknown topic 'theory'"),
    ("severity: yellow", "severity: orange", "severity must be yellow, red or reminder"),
    ("id: my_rule", 'id: "my_rule\\n"', "rule id"),  # an id may not end in a line break (``$`` would allow it)
    ("source: default", "source: rumour", "source must be one of"),
    ("subject: branch", "subject: street", "subject must be branch or member"),
    ("en: \"below average {reference}\"", "en: \"below {avg}\"", "unknown placeholder {avg}"),
    ("en: \"below average {reference}\"", "en: \"below {value.__class__}\"", "unknown placeholder"),
    ("en: \"below average {reference}\"", "en: \"below {value:zz}\"", "bad format 'zz'"),
    ("en: \"below average {reference}\"", "en: \"below {value\"", "bad template"),
    ("    severity: yellow\n", "    severity: yellow\n    sevrity: red\n", "unknown key 'sevrity'"),
    ("    severity: yellow\n", "    severity: yellow\n    months: [13]\n", "months must be a list"),
    ("    severity: yellow\n", "    severity: yellow\n    remedy_kinds: [podcast]\n", "unknown remedy kind"),
    ("    severity: yellow\n", "    severity: yellow\n    superseded_by: [nothing_here]\n", "superseded_by names"),
    ("    severity: yellow\n", "    severity: yellow\n    lamp: sometimes\n", "lamp must be true or false"),
    ("when: {indicator: theory_study_sessions, op: lt, ref: district_mean}",
     "when: {all: []}", "non-empty list"),
    ("when: {indicator: theory_study_sessions, op: lt, ref: district_mean}",  # can never hold: said where
     "when: {indicator: dues_on_time_rate, op: gt, value: 250}",
     "extra.yaml:6:57: rule my_rule: value 250 is outside dues_on_time_rate's range [0, 100] (percent)"),
    ("when: {indicator: theory_study_sessions, op: lt, ref: district_mean}",
     "when: {indicator: theory_study_sessions, op: lt, value: -1}", "outside theory_study_sessions's range"),
    ("when: {indicator: theory_study_sessions, op: lt, ref: district_mean}",
     "when: {indicatr: theory_study_sessions, op: lt, ref: district_mean}", "did you mean 'indicator'"),
    ("when: {indicator: theory_study_sessions, op: lt, ref: district_mean}",
     "when: {any: [{indicator: theory_study_sessions, op: lt, value: 1}], not: {indicator: x}}", "exactly one of"),
])
def test_each_kind_of_rule_error_is_reported(rules_copy, old, new, expected):
    assert old in GOOD
    write_rule(rules_copy, GOOD.replace(old, new))
    problems = check_rules(rules_copy)
    assert problems, "the broken rule was accepted"
    assert any(expected in str(p) for p in problems), [str(p) for p in problems]
    assert all(p.file and p.file.endswith("extra.yaml") and p.line for p in problems)


def test_every_problem_is_reported_in_one_pass(rules_copy):
    body = GOOD + GOOD.replace("my_rule", "second").replace("op: lt", "op: less").replace(
        "topic: theory_study", "topic: nope")
    write_rule(rules_copy, body)
    problems = check_rules(rules_copy)
    messages = " | ".join(str(p) for p in problems)
    assert "unknown operator" in messages and "unknown topic" in messages
    assert {p.rule_id for p in problems} == {"second"}


def test_a_rule_that_does_not_parse_is_told_once_not_again_by_the_rules_superseded_by_it(rules_copy):
    """member_dues_missed is superseded by member_dues_unpaid_6_months: a typo in the latter's indicator is
    its one problem, not also "superseded_by names a rule that does not exist" on the former."""
    lamps = rules_copy / "member_lamps.yaml"
    lamps.write_text(lamps.read_text(encoding="utf-8").replace("{indicator: consecutive_unpaid_months,",
                                                               "{indicator: consecutive_unpayed_months,", 1),
                     encoding="utf-8")
    problems = check_rules(rules_copy)
    line = next(n for n, text in enumerate(lamps.read_text(encoding="utf-8").splitlines(), 1) if "unpayed" in text)
    assert [(p.rule_id, p.line) for p in problems] == [("member_dues_unpaid_6_months", line)], [str(p) for p in problems]
    assert "did you mean 'consecutive_unpaid_months'" in str(problems[0])
    # A superseding rule that names nothing written anywhere is still an error.
    lamps.write_text(lamps.read_text(encoding="utf-8").replace("superseded_by: [member_dues_unpaid_6_months]",
                                                               "superseded_by: [member_dues_unpaid_7_months]"),
                     encoding="utf-8")
    assert any(p.rule_id == "member_dues_missed" and "superseded_by names" in p.message for p in check_rules(rules_copy))


def test_duplicate_rule_ids_across_files(rules_copy):
    write_rule(rules_copy, GOOD.replace("my_rule", "member_dues_missed"))
    (p,) = check_rules(rules_copy)
    assert "duplicate rule id" in p.message
    assert {Path(p.file).name, Path(p.message.split("at ")[1].split(":")[0]).name} == {"extra.yaml", "member_lamps.yaml"}


def test_oversized_rule_file_and_yaml_bomb_via_cli(rules_copy, runner):
    (rules_copy / "huge.yaml").write_text("# " + "x" * 1_100_000 + "\nrules: []\n", encoding="utf-8")
    (rules_copy / "bomb.yaml").write_text("a: &a [1, 2]\nb: [*a, *a]\n", encoding="utf-8")
    result = runner.invoke(main, ["rules", "check", "--rules", str(rules_copy)])
    assert result.exit_code == 1
    assert "huge.yaml:1:1: file is 1100013 bytes, over the limit of 1000000" in result.stderr
    assert "bomb.yaml:1:4: YAML anchors (&a) are not allowed" in result.stderr


def test_missing_rules_dir_and_registry(tmp_path, runner):
    result = runner.invoke(main, ["rules", "check", "--rules", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "Invalid value for --rules: " in result.stderr and "rules directory not found" in result.stderr
    # The setting pointing nowhere: a setup mistake (exit 2), told as the setting, not as an option not given.
    result = runner.invoke(main, ["catalog", "check"], env={"DIAGNOSIS_CATALOG": str(tmp_path / "nope")})
    assert result.exit_code == 2 and f"catalog directory not found (DIAGNOSIS_CATALOG={tmp_path / 'nope'})" in \
        result.stderr and "Traceback" not in result.output, result.output
    (tmp_path / "r").mkdir()
    result = runner.invoke(main, ["rules", "check", "--rules", str(tmp_path / "r")])
    assert result.exit_code == 1 and "indicators.yaml: required file is missing" in result.stderr


def test_a_yaml_file_not_named_yaml_is_reported_not_skipped(rules_copy, runner):
    """`member_lamps.yml` would not be read: its rules would be left out of every diagnosis without a word."""
    (rules_copy / "member_lamps.yaml").rename(rules_copy / "member_lamps.yml")
    found = [str(p) for p in check_rules(rules_copy)]
    assert f"{rules_copy / 'member_lamps.yml'}: not read: rule files are named *.yaml (rename it to " \
           "member_lamps.yaml)" in found, found
    assert not is_valid(rules_copy)
    (rules_copy / "member_lamps.yml").rename(rules_copy / "member_lamps.yaml")
    (rules_copy / "tests" / "member_lamps_test.yaml").rename(rules_copy / "tests" / "member_lamps_test.YAML")
    r = runner.invoke(main, ["rules", "test", "--rules", str(rules_copy)])
    assert r.exit_code == 1 and "member_lamps_test.YAML: not read: rule test files are named *.yaml" in r.output, \
        r.output


def test_a_bad_indicator_is_told_once_not_again_by_the_derivations_naming_it(rules_copy):
    registry = rules_copy / "indicators.yaml"
    text = registry.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("  - {id: member_assemblies,"))
    registry.write_text(text.replace(line, line.replace("unit: count", "unit: cnt")), encoding="utf-8")
    found = [str(p) for p in check_rules(rules_copy)]
    assert len(found) == 1 and "indicator member_assemblies: unknown unit 'cnt'" in found[0], found


def test_points_file_errors(rules_copy):
    (rules_copy / "points.yaml").write_text(
        "points:\n  dues_payd: 1\n  volunteer_hours: {weight: -1}\n", encoding="utf-8")
    messages = [str(p) for p in check_rules(rules_copy)]
    assert any("did you mean 'dues_paid'" in m for m in messages)
    assert any("weight of 'volunteer_hours' must be a number >= 0" in m for m in messages)


def test_rules_check_cli_ok(runner):
    result = runner.invoke(main, ["rules", "check", "--rules", str(RULES)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("通过：3 个规则文件共 ") and "（支部 " in result.stdout
    en = runner.invoke(main, ["rules", "check", "--rules", str(RULES), "--lang", "en"])
    assert en.exit_code == 0 and en.stdout.startswith("ok: ") and " rule files, version " in en.stdout


def test_every_template_placeholder_is_documented_and_accepted(rules_copy):
    """docs/rules.md lists the placeholders rule authors may use; each one is accepted by the checker,
    and a name that is not one of them is refused."""
    docs = (RULES.parent / "docs" / "rules.md").read_text(encoding="utf-8")

    def with_message(text: str) -> str:
        return GOOD.replace("少于平均 {reference}", text).replace("below average {reference}", text)

    for field in TEMPLATE_FIELDS:
        assert f"`{{{field}}}`" in docs, f"{{{field}}} is accepted but not documented"
        write_rule(rules_copy, with_message(f"{{{field}}}"))
        assert check_rules(rules_copy) == [], field
    write_rule(rules_copy, with_message("{branch_name}"))
    assert any("unknown placeholder {branch_name}" in p.message for p in check_rules(rules_copy))


def test_rules_check_refuses_rules_the_durable_engine_cannot_run(rules_copy, runner):
    write_rule(rules_copy, """\
  - id: deep_rule
    source: default
    subject: branch
    when:
      all:
        - {indicator: theory_study_sessions, op: lt, ref: district_mean, for_periods: 36}
        - {indicator: democratic_consultations, op: lt, ref: district_mean, for_periods: 36}
    severity: yellow
    topic: theory_study
    message: {zh: x, en: x}
""")
    result = runner.invoke(main, ["rules", "check", "--rules", str(rules_copy)])
    assert result.exit_code == 1
    assert "rule deep_rule: condition has 72 comparisons once for_periods is expanded" in result.stderr
