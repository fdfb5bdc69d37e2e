import pytest

from diagnosis_service.errors import RuleError
from diagnosis_service.rules import yamlsafe
from diagnosis_service.rules.yamlsafe import load_file, load_text
from tests.support.paths import RULES


def only_problem(exc_info):
    assert len(exc_info.value.problems) == 1
    return exc_info.value.problems[0]


def test_positions_of_nested_values():
    doc = load_text("rules:\n  - id: a\n    when: {indicator: x, op: lt}\n", "f.yaml")
    assert doc.data == {"rules": [{"id": "a", "when": {"indicator": "x", "op": "lt"}}]}
    assert doc.where(("rules", 0, "id")) == (2, 9)
    assert doc.where(("rules", 0, "when", "op")) == (3, 30)
    assert doc.where(("rules", 0, "when", "op"), key=True) == (3, 26)
    # A path that does not exist falls back to its nearest parent.
    assert doc.where(("rules", 0, "when", "missing")) == (3, 11)


def test_aliases_are_refused_with_their_position():
    text = "a: &x [1, 2]\nb: *x\n"
    with pytest.raises(RuleError) as exc:
        load_text(text, "bomb.yaml")
    problem = only_problem(exc)
    assert problem.file == "bomb.yaml" and problem.line == 1
    assert "anchors" in problem.message


def test_billion_laughs_is_refused_quickly():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    with pytest.raises(RuleError) as exc:
        load_text("\n".join(lines), "lol.yaml")
    assert "not allowed" in only_problem(exc).message


def test_merge_keys_and_duplicate_keys_are_refused():
    with pytest.raises(RuleError) as exc:
        load_text("a: 1\nb: 2\na: 3\n", "dup.yaml")
    problem = only_problem(exc)
    assert (problem.line, problem.column) == (3, 1) and "duplicate key 'a'" in problem.message
    with pytest.raises(RuleError) as exc:
        load_text("a:\n  <<: {b: 1}\n", "merge.yaml")
    assert "merge" in only_problem(exc).message


def test_syntax_error_has_line_and_column():
    with pytest.raises(RuleError) as exc:
        load_text("rules:\n  - id: a\n   bad: [\n", "broken.yaml")
    problem = only_problem(exc)
    assert problem.file == "broken.yaml" and problem.line is not None and problem.line >= 2
    assert problem.message.startswith("YAML syntax")


@pytest.mark.parametrize(("text", "where", "started"), [
    ("a: 1\nb:\n  severity: [yellow\n  c: 2\nd: 3\n", (4, 4), "flow sequence started at line 3, column 13"),
    ('a: "x\nb: 2\nc: [1]\n', (4, 1), "quoted scalar started at line 1, column 4"),
])
def test_a_syntax_error_found_later_says_where_its_cause_started(text, where, started):
    """An unclosed bracket or quote is met lines after it was opened: both places are told."""
    with pytest.raises(RuleError) as exc:
        load_text(text, "x.yaml")
    problem = only_problem(exc)
    assert (problem.line, problem.column) == where and problem.message.endswith(f"{started})"), problem


def test_a_file_that_is_not_utf8_is_located_at_its_first_bad_byte(tmp_path):
    path = tmp_path / "member_lamps.yaml"
    path.write_bytes("version: 1\nrules: []  # 党员\n".encode("gbk"))
    with pytest.raises(RuleError) as exc:
        load_file(path)
    problem = only_problem(exc)
    assert (problem.line, problem.column) == (2, 14) and problem.message == "not UTF-8 text (byte 0xB5)", problem
    assert problem.suggestion == "save the file as UTF-8"


def test_oversized_text_and_files_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(yamlsafe, "MAX_FILE_BYTES", 100)
    with pytest.raises(RuleError) as exc:
        load_text("a: " + "x" * 200, "big.yaml")
    assert "over the limit" in only_problem(exc).message
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 200, encoding="utf-8")
    with pytest.raises(RuleError) as exc:
        yamlsafe.load_file(path)
    assert "over the limit" in only_problem(exc).message


def test_python_tags_are_not_constructed():
    with pytest.raises(RuleError):
        load_text("a: !!python/object/apply:os.system ['echo hi']\n", "evil.yaml")


def test_dates_stay_text():
    assert load_text("period: 2025-03-01\n", "d.yaml").data == {"period": "2025-03-01"}


BAD_TEXTS = ["a: [1, 2\n", "a: 1\na: 2\n", "a: !!python/object:os.system x\n", "<<: {a: 1}\n", "a: *nope\n",
             "x: &y 1\n", "- 1\n- {b: 2}\n", "k: {a: 1, a: 2}\n"]


@pytest.mark.parametrize("path", sorted(RULES.glob("*.yaml")) + sorted((RULES.parent / "resources_catalog").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_libyaml_and_pure_python_loaders_agree_on_shipped_files(monkeypatch, path):
    text = path.read_text(encoding="utf-8")
    fast = load_text(text, path.name)
    monkeypatch.setattr(yamlsafe, "_CLoader", None)
    slow = load_text(text, path.name)
    assert (fast.data, fast.positions, fast.key_positions) == (slow.data, slow.positions, slow.key_positions)


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_libyaml_and_pure_python_loaders_agree_on_bad_input(monkeypatch, text):
    def outcome():
        try:
            doc = load_text(text, "f.yaml")
        except RuleError as exc:
            (p,) = exc.problems
            return ("error", p.line, p.column, "not allowed" in p.message or "duplicate" in p.message)
        return ("ok", doc.data, doc.positions)

    fast = outcome()
    monkeypatch.setattr(yamlsafe, "_CLoader", None)
    assert outcome() == fast


@pytest.mark.parametrize("depth", [101, 600, 5000])
def test_deep_nesting_is_an_error_not_a_crash(monkeypatch, depth):
    # Between libyaml's own limit and Python's stack, building the values used to raise RecursionError:
    # a 500 from POST /v1/catalog/validate instead of a problem with a place.
    text = "a: " + "[" * depth + "1" + "]" * depth + "\n"
    for c_loader in (yamlsafe._CLoader, None):
        monkeypatch.setattr(yamlsafe, "_CLoader", c_loader)
        with pytest.raises(RuleError) as exc:
            load_text(text, "deep.yaml")
        problem = only_problem(exc)
        assert problem.file == "deep.yaml" and problem.line == 1
        assert "nested more than 100 levels" in problem.message or "nesting depth" in problem.message
        assert load_text("a: " + "[" * 99 + "1" + "]" * 99 + "\n", "ok.yaml").data["a"] is not None
