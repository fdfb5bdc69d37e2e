"""The store itself, on SQLite and on PostgreSQL: migrations, round trips, atomicity, tokens, versions."""

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from diagnosis_service.data.csvdir import load_dir
from diagnosis_service.pipeline import training
from diagnosis_service.pipeline.ingest import store_dataset
from diagnosis_service.pipeline.prescriptions import history_for
from diagnosis_service.pipeline.store_io import dataset_from_rows
from diagnosis_service.store import metrics as metrics_store
from diagnosis_service.store import missing_columns, rulesets, served, tokens
from diagnosis_service.store.migrate import current, head, upgrade
from diagnosis_service.store.schema import BRANCH_COLUMNS, MEMBER_COLUMNS, member_metrics, metric_revisions


@pytest.fixture()
def engine(db_engine):
    return db_engine


def test_migrations_build_the_schema_the_code_declares(engine):
    """schema.py and the migrations agree: what the code reads and writes is what the database has."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from diagnosis_service.store.schema import metadata

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_an_older_database_upgrades_keeping_its_rows(engine):
    from alembic import command

    from diagnosis_service.store.migrate import alembic_config

    with engine.begin() as conn:
        tokens.create(conn, "kept", "platform")
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    assert current(engine) == "0001"
    upgrade(engine)
    assert current(engine) == head()
    with engine.connect() as conn:
        assert [t["name"] for t in tokens.listing(conn)] == ["kept"]


def test_schema_follows_the_registry(engine, ruleset):
    assert current(engine) == head() == "0009"
    upgrade(engine)  # again: nothing to do
    wanted = {s: [i.id for i in ruleset.registry.reported(s)] for s in ("branch", "member")}
    assert missing_columns(engine, wanted) == []
    assert missing_columns(engine, {"branch": ["no_such_indicator"]}) == ["branch_metrics.no_such_indicator"]
    assert list(BRANCH_COLUMNS) == [i.id for i in ruleset.registry.reported("branch")]
    assert list(MEMBER_COLUMNS) == [i.id for i in ruleset.registry.reported("member")]


def test_import_round_trip_is_exact_and_idempotent(engine, ruleset, small_district):
    ds = load_dir(small_district, ruleset.registry)
    with engine.begin() as conn:
        first = store_dataset(conn, ds, "test")
    assert first["member_metrics"].inserted == len(ds.member_metrics)
    with engine.begin() as conn:
        second = store_dataset(conn, ds, "test")
    assert all(c.inserted == 0 and c.updated == 0 for c in second.values())
    with engine.connect() as conn:
        back = dataset_from_rows(conn, ruleset.registry, "2025-12")
    for subject in ("branch", "member"):
        pd.testing.assert_frame_equal(back.metrics(subject), ds.metrics(subject), check_dtype=False)
    pd.testing.assert_frame_equal(back.branches.sort_index(), ds.branches.sort_index(), check_dtype=False,
                                  check_index_type=False)
    pd.testing.assert_frame_equal(back.members.sort_index(), ds.members.sort_index(), check_dtype=False,
                                  check_index_type=False)


def test_an_import_month_by_month_is_exact_idempotent_and_records_corrections(engine, ruleset, small_district,
                                                                            tmp_path):
    from diagnosis_service.data.csvdir import write_dir
    from diagnosis_service.data.sources import CsvDir
    from diagnosis_service.pipeline.ingest import import_source
    from diagnosis_service.store.schema import metric_revisions

    ds = load_dir(small_district, ruleset.registry)
    seen = []
    first = import_source(engine, ruleset.registry, CsvDir(small_district), "test",
                          progress=lambda done, total, period: seen.append((done, total, period)))
    assert first["member_metrics"]["inserted"] == len(ds.member_metrics)
    periods = sorted(set(ds.member_metrics["period"]))
    # One step a month, to the end (on PostgreSQL months finish in parallel, in any order).
    assert sorted(p for _, _, p in seen) == periods and seen[-1][0] == seen[-1][1]
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:], strict=False))
    with engine.connect() as conn:
        back = dataset_from_rows(conn, ruleset.registry, "2025-12")
    for subject in ("branch", "member"):  # the fast path stores exactly what the checked path would
        pd.testing.assert_frame_equal(back.metrics(subject), ds.metrics(subject), check_dtype=False)
    again = import_source(engine, ruleset.registry, CsvDir(small_district), "test")
    assert all(c["inserted"] == 0 and c["updated"] == 0 for c in again.values())
    # (found unchanged against each month's columnar block, not row by row)
    assert again["member_metrics"]["unchanged"] == len(ds.member_metrics)
    # A correction of one value in a month already stored: updated and recorded, nothing else touched.
    changed = ds.member_metrics.copy()
    first_row = changed.index[changed["period"] == periods[-1]][0]
    changed.loc[first_row, "volunteer_hours"] = 99.5
    corrected = ds.__class__(ds.branches, ds.members, ds.branch_metrics, changed)
    write_dir(corrected, tmp_path / "corrected", ruleset.registry)
    out = import_source(engine, ruleset.registry, CsvDir(tmp_path / "corrected"), "test")
    assert out["member_metrics"]["updated"] == 1 and out["member_metrics"]["inserted"] == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(metric_revisions)).scalar() == 1


def test_a_failed_transaction_leaves_nothing(engine, ruleset, small_district):
    ds = load_dir(small_district, ruleset.registry)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        store_dataset(conn, ds, "test")
        raise RuntimeError("fail after writing")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(member_metrics)).scalar() == 0


def test_corrections_are_recorded_and_partial_updates_keep_the_rest(engine, ruleset, small_district):
    ds = load_dir(small_district, ruleset.registry)
    with engine.begin() as conn:
        store_dataset(conn, ds, "test")
    row = ds.member_metrics.iloc[[0]].copy()
    mid, period = row["member_id"].iloc[0], row["period"].iloc[0]
    before = {k: (None if (isinstance(v, float) and np.isnan(v)) else v)
              for k, v in row.drop(columns=["pidx"]).iloc[0].to_dict().items()}
    with engine.begin() as conn:
        changes = metrics_store.upsert_metrics(conn, "member", [{"period": period, "member_id": mid,
                                                                 "volunteer_hours": 99.5}], source="event", actor="t")
    assert changes.updated == 1
    with engine.connect() as conn:
        (stored,) = metrics_store.subject_history(conn, "member", mid, [period])
        revs = conn.execute(select(metric_revisions)).mappings().all()
    assert stored["volunteer_hours"] == 99.5
    assert all(stored[k] == v for k, v in before.items() if k not in ("volunteer_hours", "member_id"))
    assert len(revs) == 1 and revs[0]["source"] == "event"


def test_tokens_are_hashed_and_revocable(engine, ruleset, small_district):
    ds = load_dir(small_district, ruleset.registry)
    with engine.begin() as conn:
        store_dataset(conn, ds, "test")
        token = tokens.create(conn, "sec", "secretary", "B00002")
    with engine.connect() as conn:
        stored = conn.execute(select(tokens.api_tokens.c.token_hash)).scalar()
        assert token not in stored and stored == tokens.token_hash(token)
        assert tokens.verify(conn, token) == tokens.Identity("sec", "secretary", "B00002")
        assert tokens.verify(conn, token + "x") is None
    with engine.begin() as conn:
        assert tokens.revoke(conn, "sec")
    with engine.connect() as conn:
        assert tokens.verify(conn, token) is None


def test_exactly_one_active_rule_version(engine):
    with engine.begin() as conn:
        v1 = rulesets.publish(conn, {"a.yaml": "x"}, "d1", comment="one", author="t", based_on=None, diff="")
        v2 = rulesets.publish(conn, {"a.yaml": "y"}, "d2", comment="two", author="t", based_on=v1, diff="")
    with engine.begin() as conn:
        assert rulesets.active_version(conn) == v2
        assert rulesets.activate(conn, v1) and not rulesets.activate(conn, 99)
    with engine.connect() as conn:
        assert rulesets.active_version(conn) == v1
        assert [v["active"] for v in rulesets.listing(conn)] == [False, True]
        assert rulesets.get(conn, v2)["files"] == {"a.yaml": "y"}


def test_served_history_window(engine, ruleset, small_district):
    ds = load_dir(small_district, ruleset.registry)
    with engine.begin() as conn:
        store_dataset(conn, ds, "test")
        for period, rid in (("2025-08", "OLD"), ("2025-09", "A"), ("2025-11", "B"), ("2025-12", "NOW")):
            served.log_list(conn, "B00002", period, "prior", "api", "t", [{
                "topic": "dues", "rule": "r", "resource_id": rid, "kind": "video", "score": 1.0, "propensity": 1.0,
                "body": {}}])
    with engine.connect() as conn:
        h = history_for(conn, "B00002", "2025-12", 3)
    assert h.recent("B00002", "dues", "2025-12", 3) == {"A", "B"}


def test_decisions_are_one_per_weakness_and_follow_the_feedback(engine, ruleset, small_district):
    ds = load_dir(small_district, ruleset.registry)

    def item(rule, rid, prop):
        return {"topic": "dues", "rule": rule, "resource_id": rid, "kind": "video", "score": 1.0, "propensity": prop,
                "body": {"need": {"indicator": "dues_on_time_rate", "value": 90.0, "reference": 100.0}}}

    with engine.begin() as conn:
        store_dataset(conn, ds, "test")
        # Two weaknesses in one list, three items each; shown again later with another first pick for r1.
        first_list, first_ids = served.log_list(conn, "B00002", "2025-10", "learned", "api", "t",
                                       [item("r1", "A", 0.5), item("r1", "B", 0.5), item("r1", "C", 0.5),
                                        item("r2", "D", 0.9), item("r2", "E", 0.9), item("r2", "F", 0.9)])
        again_list, again_ids = served.log_list(conn, "B00002", "2025-10", "learned", "api", "t",
                                       [item("r1", "B", 0.25), item("r1", "A", 0.25), item("r2", "D", 0.9)])
        served.add_feedback(conn, first_ids[0], "declined", None, "t")
        served.add_feedback(conn, first_ids[0], "adopted", None, "t")  # the latest word counts
        served.add_feedback(conn, again_ids[2], "completed", None, "t")  # any showing of D counts
        served.log_list(conn, "B00003", "2025-10", "prior", "api", "t", [item("r1", "G", 1.0)])
    log, metrics = training.from_store(engine, ruleset)
    got = {(r.branch_id, r.rule): (r.resource_id, r.status, r.propensity) for r in log.itertuples()}
    assert got == {("B00002", "r1"): ("A", "adopted", 0.5),  # the showing the secretary answered
                   ("B00002", "r2"): ("D", "completed", 0.9),
                   ("B00003", "r1"): ("G", "ignored", 1.0)}
    # Each decision keeps the showing it was (the answered one's list), for the order lists were served in.
    lists = {(r.branch_id, r.rule): r.list_id for r in log.itertuples()}
    assert lists[("B00002", "r1")] == first_list and lists[("B00002", "r2")] == again_list
    assert {"branch_id", "pidx", "dues_on_time_rate"} <= set(metrics.columns)
    # Everything shown (not only the decisions' first items), for the repeat filter off-policy estimates
    # reconstruct; the second showing's items are there again.
    shown = training.served_of(log, engine)
    assert sorted(set(zip(shown["branch_id"], shown["resource_id"], strict=True))) == [
        ("B00002", r) for r in "ABCDEF"] + [("B00003", "G")]
    assert set(shown["period"]) == {"2025-10"} and shown["first"].any() and not shown["first"].all()
    assert set(shown["list_id"]) >= {first_list, again_list}


@pytest.mark.server
def test_the_import_command_stores_exactly_what_the_files_say(engine, ruleset, small_district):
    """`import` (a process of its own: COPY on PostgreSQL, tuples on SQLite) stores every value exactly."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "diagnosis-service")
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    done = subprocess.run([exe, "import", str(small_district)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ds = load_dir(small_district, ruleset.registry)
    with engine.connect() as conn:
        back = dataset_from_rows(conn, ruleset.registry, "2025-12")
    for subject in ("branch", "member"):
        pd.testing.assert_frame_equal(back.metrics(subject), ds.metrics(subject), check_dtype=False)


def test_the_file_a_sqlite_url_names_is_read_as_sqlalchemy_reads_it(tmp_path):
    from pathlib import Path

    from diagnosis_service.store.connect import make_engine, sqlite_file

    assert sqlite_file("sqlite:///var/a%20b.db?timeout=5") == Path("var/a b.db")
    assert sqlite_file(f"sqlite:///{tmp_path}/d.db") == tmp_path / "d.db"
    assert [sqlite_file(u) for u in ("sqlite://", "sqlite:///:memory:", "postgresql://u@127.0.0.1/test",
                                     "sqlite:///file:x?mode=memory&uri=true")] == [None] * 4
    engine = make_engine(f"sqlite:///{tmp_path}/new%20dir/d.db?timeout=5")  # the directory made is the one used
    with engine.connect() as conn:
        conn.exec_driver_sql("create table t (x int)")
    engine.dispose()
    assert (tmp_path / "new dir" / "d.db").is_file()


def test_served_history_tells_what_the_branch_said_it_adopted(engine, ruleset, small_district):
    """``history_for`` joins each served item's latest answer: adopted or completed counts, a later
    "declined" takes an adoption back, an unanswered item and another branch's do not count."""
    ds = load_dir(small_district, ruleset.registry)
    with engine.begin() as conn:
        store_dataset(conn, ds, "test")
        ids = {}
        for branch, period, rid in (("B00002", "2025-09", "A"), ("B00002", "2025-10", "B"), ("B00002", "2025-10", "C"),
                                    ("B00002", "2025-11", "D"), ("B00003", "2025-11", "E"), ("B00002", "2025-12", "F")):
            _, (pid,) = served.log_list(conn, branch, period, "prior", "api", "t", [{
                "topic": "dues", "rule": "r", "resource_id": rid, "kind": "video", "score": 1.0, "propensity": 1.0,
                "body": {}}])
            ids[rid] = pid
        for rid, status in (("A", "adopted"), ("B", "completed"), ("C", "adopted"), ("C", "declined"), ("E", "adopted"),
                            ("F", "adopted")):
            served.add_feedback(conn, ids[rid], status, None, "t")
    with engine.connect() as conn:
        h = history_for(conn, "B00002", "2025-12")
    assert h.adopted_before("B00002", "2025-12", 6) == ("A", "B")  # D unanswered, C declined at last, F this month
    assert h.adopted_before("B00003", "2025-12", 6) == ()
