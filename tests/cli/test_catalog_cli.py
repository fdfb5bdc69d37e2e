"""`catalog export` and `catalog import`: a spreadsheet round trip into a catalog directory or the store."""

from __future__ import annotations

import shutil

import openpyxl
from sqlalchemy import create_engine

from diagnosis_service.cli import main
from diagnosis_service.store.catalogs import CATALOGS
from diagnosis_service.store.migrate import upgrade
from tests.support.paths import CATALOG


def _edit(path, out, change):
    wb = openpyxl.load_workbook(path)
    change(wb)
    wb.save(out)


def test_export_edit_import_into_a_directory(runner, tmp_path):
    cat = tmp_path / "cat"
    shutil.copytree(CATALOG, cat)
    book = tmp_path / "c.xlsx"
    out = runner.invoke(main, ["catalog", "export", "--catalog", str(cat), "--out", str(book)])
    assert out.exit_code == 0 and "376 resources" in out.stdout and book.stat().st_size > 10_000
    same = runner.invoke(main, ["catalog", "import", str(book), "--catalog", str(cat)])
    assert same.exit_code == 0 and same.stdout.startswith("no change")

    originals = {p.name: p.read_bytes() for p in cat.iterdir()}
    _edit(book, tmp_path / "bad.xlsx", lambda wb: wb["讲师"].__setitem__("D17", "theroy_study"))
    bad = runner.invoke(main, ["catalog", "import", str(tmp_path / "bad.xlsx"), "--catalog", str(cat)])
    assert bad.exit_code == 2 and "讲师!D17: resource" in bad.stderr and "did you mean 'theory_study'?" in bad.stderr
    assert {p.name: p.read_bytes() for p in cat.iterdir()} == originals  # nothing written

    def add(wb):
        wb["活动"].append(["ACT99", "新活动", "A new activity", "volunteer_service", "self_run", 90, "all", "all", True])

    _edit(book, tmp_path / "good.xlsx", add)
    dry = runner.invoke(main, ["catalog", "import", str(tmp_path / "good.xlsx"), "--catalog", str(cat), "--dry-run"])
    assert dry.exit_code == 0 and "would change activities.yaml: 1 added, 0 changed, 0 removed" in dry.stdout
    assert {p.name: p.read_bytes() for p in cat.iterdir()} == originals
    done = runner.invoke(main, ["catalog", "import", str(tmp_path / "good.xlsx"), "--catalog", str(cat)])
    assert done.exit_code == 0, done.output
    changed = {p.name for p in cat.iterdir() if p.read_bytes() != originals.get(p.name)}
    assert changed == {"activities.yaml"}
    listed = runner.invoke(main, ["catalog", "list", "--catalog", str(cat), "--kind", "activity", "--json"])
    assert '"id":"ACT99"' in listed.stdout
    assert runner.invoke(main, ["catalog", "check", "--catalog", str(cat)]).exit_code == 0


def test_import_publishes_a_version_in_the_store(runner, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_engine(url)
    upgrade(engine)
    env = {"DATABASE_URL": url}
    book = tmp_path / "c.xlsx"
    assert runner.invoke(main, ["catalog", "export", "--from-store", "--out", str(book)], env=env).exit_code == 0
    _edit(book, tmp_path / "edit.xlsx", lambda wb: wb["基地"].__setitem__("I3", False))
    no_comment = runner.invoke(main, ["catalog", "import", str(tmp_path / "edit.xlsx"), "--publish"], env=env)
    assert no_comment.exit_code == 2 and "--comment" in no_comment.stderr
    out = runner.invoke(main, ["catalog", "import", str(tmp_path / "edit.xlsx"), "--publish", "--comment",
                               "BASE01 closed"], env=env)
    assert out.exit_code == 0 and out.stdout.startswith("published catalog version 2 (bases.yaml: 0 added, "
                                                        "1 changed, 0 removed")
    with engine.connect() as conn:
        rows = CATALOGS.listing(conn)
        assert [(r["version"], r["active"], r["author"]) for r in rows] == [(2, True, "cli:catalog-import"),
                                                                           (1, False, "system")]
    # Another edit of the same export (version 1's) would undo version 2: refused, nothing published.
    _edit(book, tmp_path / "late.xlsx", lambda wb: wb["基地"].__setitem__("I4", False))
    late = runner.invoke(main, ["catalog", "import", str(tmp_path / "late.xlsx"), "--publish", "--comment", "late"],
                         env=env)
    assert late.exit_code == 2 and "exported from catalog version 1; version 2 is active now" in late.stderr
    with engine.connect() as conn:
        assert [r["version"] for r in CATALOGS.listing(conn)] == [2, 1]
    engine.dispose()
