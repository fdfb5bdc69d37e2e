"""The remedy catalog: the shipped one is complete, broken copies fail precisely, the CLI lists it."""

import json
import shutil
from pathlib import Path

import pytest

from diagnosis_service.cli import main
from diagnosis_service.errors import CatalogError
from diagnosis_service.remedies.catalog import FILES
from diagnosis_service.remedies.catalog_files import check_catalog, is_valid, load_catalog
from diagnosis_service.rules.model import REMEDY_KINDS
from tests.support.paths import REPO

CATALOG = REPO / "resources_catalog"


@pytest.fixture()
def catalog_copy(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(CATALOG, target)
    return target


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def problems(directory, ruleset):
    return [str(p) for p in check_catalog(directory, ruleset.registry)]


def test_shipped_catalog_has_the_seed_numbers(ruleset):
    cat = load_catalog(CATALOG, ruleset.registry)
    counts = {k: len(cat.select(kind=k)) for k in REMEDY_KINDS}
    assert counts["lecturer"] == 132 and counts["lesson"] == 88 and counts["video"] == 96
    assert counts["base"] >= 20 and counts["activity"] >= 30
    assert set(FILES) == set(REMEDY_KINDS)
    assert [r.id for r in cat.resources] == sorted(r.id for r in cat.resources)
    titles = [r.title_zh for r in cat.resources]
    assert len(set(titles)) == len(titles), "every resource has a title of its own"
    assert any(not r.active for r in cat.resources), "the catalog exercises inactive resources"
    # Every topic, every branch type: something active and district-wide.
    for topic in ruleset.registry.topics:
        for btype in ruleset.registry.branch_types:
            assert any(r.active and r.suits(btype, None) for r in cat.for_topic(topic)), (topic, btype)


def test_catalog_check_passes_on_the_shipped_catalog(runner):
    result = runner.invoke(main, ["catalog", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("通过：376 个资源（自主活动 36、组织生活基地 24、红色讲师 132、特色党课 88、红色视频党课 96；")
    en = runner.invoke(main, ["catalog", "check", "--lang", "en"])
    assert en.stdout.startswith("ok: 376 resources (36 activity, 24 base, 132 lecturer, 88 lesson, 96 video;")


@pytest.mark.parametrize(("file", "old", "new", "expected"), [
    ("lessons.yaml", "- id: LES002", "- id: LES001",
     "lessons.yaml:{line}:1: duplicate resource id 'LES001' (first at"),
    ("videos.yaml", "topics: [theory_study]", "topics: [theory_studdy]",
     "videos.yaml:{line}:12: resource VID001: unknown topic 'theory_studdy' (did you mean 'theory_study'?)"),
    ("bases.yaml", "format: on_site", "format: onsite",
     "bases.yaml:{line}:11: resource BASE01: unknown format 'onsite' (did you mean 'on_site'?)"),
    ("activities.yaml", "  active: true\n", "  active: yes please\n",
     "activities.yaml:{line}:11: resource ACT01: active must be true or false, got 'yes please'"),
    ("lecturers.yaml", "  duration_minutes: 90\n", "  duration_minutes: 1.5\n",
     "lecturers.yaml:{line}:21: resource LEC001: duration_minutes must be a whole number of minutes"),
    ("lecturers.yaml", "  title_en: ", "  titel_en: ",
     "lecturers.yaml:{line}:3: resource LEC001: unknown field 'titel_en' (did you mean 'title_en'?)"),
    ("bases.yaml", "location_zh: 鼓楼街道", "location_zh: 鼓楼街道\n  streets_extra: 1",
     "bases.yaml:{line}:3: resource BASE01: unknown field 'streets_extra'"),
    ("lecturers.yaml", "kind: lecturer", "kind: lesson",
     "lecturers.yaml:{line}:7: kind must be 'lecturer' in this file, got 'lesson'"),
    ("bases.yaml", "streets: [鼓楼街道,", "streets: [鼓楼大街,",
     "bases.yaml:{line}:13: resource BASE01: unknown street '鼓楼大街'"),
    ("activities.yaml", "branch_types: [village]", "branch_types: [villages]",
     "activities.yaml:{line}:18: resource ACT05: unknown branch type 'villages' (did you mean 'village'?)"),
])
def test_broken_copies_fail_with_file_line_and_column(ruleset, catalog_copy, file, old, new, expected):
    path = catalog_copy / file
    edit(path, old, new)
    after = path.read_text(encoding="utf-8")
    marker = new.strip().split("\n")[-1]  # the line the problem is on
    line = after[:after.rindex(marker)].count("\n") + 1  # rindex: a duplicate is the later one
    found = problems(catalog_copy, ruleset)
    assert not is_valid(catalog_copy, ruleset.registry)
    want = expected.format(line=line)
    assert any(p.endswith(want.split(f"{file}:")[1]) or want in p for p in found), (want, found)
    assert all(p.startswith(str(catalog_copy)) for p in found)


def test_a_repeated_id_is_told_beside_the_other_problems_of_both_resources(ruleset, catalog_copy):
    path = catalog_copy / "lessons.yaml"
    # LES001 gets a bad format, and LES002 becomes a second LES001 with an unknown topic.
    edit(path, "- id: LES002\n", "- id: LES001\n")
    edit(path, "  topics: [theory_study]\n  format: on_site\n  duration_minutes: 90",
         "  topics: [theory_studdy]\n  format: on_site\n  duration_minutes: 90")
    edit(path, "  format: on_site\n  duration_minutes: 60", "  format: onsite\n  duration_minutes: 60")
    text = path.read_text(encoding="utf-8")
    first, second = (text[:text.index("- id: LES001")].count("\n") + 1,
                     text[:text.rindex("- id: LES001")].count("\n") + 1)
    found = [p.removeprefix(str(catalog_copy) + "/") for p in problems(catalog_copy, ruleset)]
    assert f"lessons.yaml:{second}:1: duplicate resource id 'LES001' (first at {path}:{first})" in found, found
    assert any("unknown format 'onsite'" in p for p in found) and any("theory_studdy" in p for p in found)
    assert len(found) == 3, found


def test_a_topic_left_without_active_resources_is_reported(ruleset, catalog_copy):
    # Switch off every resource whose main or other topic is "openness".
    for name in FILES.values():
        path = catalog_copy / name
        lines = path.read_text(encoding="utf-8").split("\n")
        out, in_openness = [], False
        for line in lines:
            if line.startswith("- id:"):
                in_openness = False
            if line.startswith("  topics:") and "openness" in line:
                in_openness = True
            if in_openness and line == "  active: true":
                line = "  active: false"
            out.append(line)
        path.write_text("\n".join(out), encoding="utf-8")
    found = problems(catalog_copy, ruleset)
    assert found == [f"{catalog_copy}: topic 'openness' has no active resource (add one, or set active: true on "
                     f"an existing one)"]


def test_refuses_aliases_oversize_and_stray_files(ruleset, catalog_copy):
    edit(catalog_copy / "videos.yaml", "  streets: [all]\n", "  streets: &s [all]\n")
    (catalog_copy / "notes.yaml").write_text("x: 1\n", encoding="utf-8")
    big = catalog_copy / "activities.yaml"
    big.write_text(big.read_text(encoding="utf-8") + "#" * 1_000_001, encoding="utf-8")
    found = "\n".join(problems(catalog_copy, ruleset))
    assert "videos.yaml:" in found and "YAML anchors (&s) are not allowed" in found
    assert "activities.yaml:1:1: file is" in found and "over the limit" in found
    assert "unexpected file 'notes.yaml'" in found
    (catalog_copy / "lessons.yaml").rename(catalog_copy / "lessons.yml")  # not read: said so, with the fix
    (catalog_copy / "bases.yaml").write_bytes("kind: base\n# 红色基地\n".encode("gbk"))
    found = "\n".join(problems(catalog_copy, ruleset))
    assert f"{catalog_copy / 'lessons.yml'}: not read: catalog files are named *.yaml (rename it to lessons.yaml)" \
        in found, found
    assert f"{catalog_copy / 'bases.yaml'}:2:3: not UTF-8 text (byte 0xBA) (save the file as UTF-8)" in found, found
    with pytest.raises(CatalogError):
        load_catalog(catalog_copy, ruleset.registry)


def test_catalog_check_cli_exits_1_with_the_problems(runner, catalog_copy):
    edit(catalog_copy / "videos.yaml", "topics: [theory_study]", "topics: [theory]")
    result = runner.invoke(main, ["catalog", "check", "--catalog", str(catalog_copy)])
    assert result.exit_code == 1
    assert "videos.yaml:" in result.stderr and "unknown topic 'theory'" in result.stderr
    assert result.stderr.rstrip().endswith("catalog：1 个问题")


def test_catalog_list_table_and_json(runner, ruleset):
    table = runner.invoke(main, ["catalog", "list", "--kind", "base", "--topic", "theory_study"])
    assert table.exit_code == 0, table.output
    rows = table.stdout.strip().split("\n")
    assert rows[0].split()[:3] == ["编号", "类别", "形式"] and rows[-1].startswith("(")
    n = int(rows[-1].strip("()"))
    assert n == len(rows) - 2 and all("组织生活基地" in r for r in rows[1:-1])
    js = runner.invoke(main, ["catalog", "list", "--topic", "dues", "--json"])
    objs = [json.loads(line) for line in js.stdout.splitlines()]
    assert objs and all("dues" in o["topics"] for o in objs)
    assert {"id", "kind", "title_zh", "title_en", "topics", "active", "format", "duration_minutes", "branch_types",
            "streets", "capacity", "booking_zh"} <= set(objs[0])
    assert [o["id"] for o in objs] == sorted(o["id"] for o in objs)
    en = runner.invoke(main, ["catalog", "list", "--kind", "video", "--lang", "en"])
    assert en.stdout.split("\n")[0].split()[:2] == ["id", "kind"] and "red video lesson" in en.stdout
    bad = runner.invoke(main, ["catalog", "list", "--topic", "theory"])
    assert bad.exit_code == 2 and "unknown topic 'theory'" in bad.output
    far = runner.invoke(main, ["catalog", "list", "--topic", "zzz", "--lang", "en"])  # nothing close: every topic named
    assert far.exit_code == 2 and "dues (party dues)" in far.output
    assert "dues (党费交纳)" in runner.invoke(main, ["catalog", "list", "--topic", "zzz"]).output


def test_files_of_a_good_catalog_are_parsed_once_and_a_rejected_ones_never_kept(ruleset, catalog_copy, tmp_path,
                                                                              monkeypatch):
    # An edit checks the catalog twice: files that checked out are kept parsed, by text. An edit must
    # still be seen, a rejected file parsed (and reported) on every read and never kept, a kept
    # document equal to a fresh parse after use, and a copy elsewhere named by its own directory.
    from diagnosis_service.remedies import catalog_files
    from diagnosis_service.rules.yamlsafe import load_text

    parses: list[str] = []
    monkeypatch.setattr(catalog_files, "load_text", lambda text, name: parses.append(name) or load_text(text, name))
    catalog_files.forget_parsed()
    first = load_catalog(catalog_copy, ruleset.registry)
    assert len(parses) == 6  # the five kinds' files and the district's
    assert load_catalog(catalog_copy, ruleset.registry) == first and len(parses) == 6  # none parsed again
    for (name, text), doc in catalog_files._PARSED.items():
        fresh = load_text(text, name)
        assert (doc.data, doc.positions, doc.key_positions) == (fresh.data, fresh.positions, fresh.key_positions)

    videos = catalog_copy / "videos.yaml"
    edit(videos, "topics: [theory_study]", "topics: [theory_studdy]")
    for n in (1, 2):  # invalid: parsed each time, reported each time
        assert any("unknown topic 'theory_studdy'" in p for p in problems(catalog_copy, ruleset))
        assert parses[6:] == [str(videos)] * n
    videos.write_text(videos.read_text(encoding="utf-8") + "\n  - [unclosed\n", encoding="utf-8")
    for n in (3, 4):  # not YAML: the same
        assert any("YAML syntax" in p for p in problems(catalog_copy, ruleset))
        assert parses[6:] == [str(videos)] * n
    assert not any("theory_studdy" in text for _, text in catalog_files._PARSED)  # rejected: not kept
    edit(videos, "topics: [theory_studdy]", "topics: [theory_study]")
    videos.write_text(videos.read_text(encoding="utf-8").replace("\n  - [unclosed\n", ""), encoding="utf-8")
    again = load_catalog(catalog_copy, ruleset.registry)
    assert again == first and [(r.file, r.line) for r in again.resources] == [(r.file, r.line) for r in first.resources]
    assert len(catalog_files._PARSED) <= catalog_files.PARSED_KEPT

    other = tmp_path / "elsewhere"
    shutil.copytree(catalog_copy, other)
    elsewhere = load_catalog(other, ruleset.registry)
    assert {Path(r.file).parent for r in elsewhere.resources} == {other}
    assert {Path(r.file).parent for r in first.resources} == {catalog_copy}
