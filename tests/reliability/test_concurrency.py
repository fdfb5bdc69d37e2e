"""Writes that race: two first writes of the same period, two diagnoses of one period, two publishes of
the rules at once. No 500, nothing half-written, and never a lost update: the publish that came second
on a version that is no longer active gets 409 and, re-read and sent again, keeps both changes."""

import threading

import pytest
from sqlalchemy import func, select

from diagnosis_service.store.schema import branch_metrics, results

pytestmark = pytest.mark.slow  # threads racing, some rounds of each
ROUNDS = 4  # bounded: each round is one race


def race(*calls):
    """Run the calls at the same moment from threads of their own; their answers, in order."""
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def run(i, call):
        barrier.wait(timeout=30)
        out[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return out


def test_first_writes_of_a_period_at_once(fresh_service):
    svc = fresh_service
    for n in range(ROUNDS):
        period = f"2026-{n + 1:02d}"
        bodies = [{"branches": [{"branch_id": f"B{i:05d}", "theory_study_sessions": v} for i in range(1, 25)]}
                  for v in (1, 2)]
        answers = race(*[lambda b=b, p=period: svc.app.test_client().put(f"/v1/periods/{p}/metrics", json=b,
                                                                        headers=svc.h("platform")) for b in bodies])
        assert [a.status_code for a in answers] == [200, 200], [a.get_json() for a in answers]
        with svc.engine.connect() as conn:
            stored = conn.execute(select(branch_metrics.c.theory_study_sessions).where(
                branch_metrics.c.period == period)).scalars().all()
        assert len(stored) == 24 and len(set(stored)) == 1 and stored[0] in (1.0, 2.0), "one write wins whole"


def test_two_diagnoses_of_one_period_at_once(fresh_service):
    svc = fresh_service
    answers = race(*[lambda: svc.app.test_client().post("/v1/diagnoses?wait=true", json={"period": "2025-10"},
                                                        headers=svc.h("platform")) for _ in range(2)])
    assert [a.status_code for a in answers] == [201, 201], [a.get_json() for a in answers]
    with svc.engine.connect() as conn:
        kept = conn.execute(select(func.count()).select_from(results).where(results.c.period == "2025-10")).scalar()
    assert kept == answers[0].get_json()["branches"] + answers[0].get_json()["members"]


def edit(files, old, new):
    text = files["member_lamps.yaml"]
    assert old in text
    return {"member_lamps.yaml": text.replace(old, new)}


def test_two_publishes_at_once_never_lose_an_update(fresh_service):
    svc = fresh_service
    h = svc.h("admin")
    first = svc.client.get("/v1/rules", headers=h)
    files, etag = first.get_json()["files"], first.headers["ETag"]
    assert etag == '"1"'
    mine = edit(files, "请及时补交", "请于本月底前补交")
    theirs = edit(files, "请及时补交", "请尽快补交")
    answers = race(*[lambda change=change: svc.app.test_client().put(
        "/v1/rules", json={"files": change, "comment": "edit"}, headers={**h, "If-Match": etag})
        for change in (mine, theirs)])
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409], [a.get_json() for a in answers]
    loser = next(a for a in answers if a.status_code == 409).get_json()
    assert "is no longer the active one" in loser["detail"] and loser["errors"][0]["path"] == "base_version"
    # The loser reads the new version and applies its change to it: both changes are kept.
    now = svc.client.get("/v1/rules", headers=h)
    assert now.headers["ETag"] == '"2"'
    winner_text = now.get_json()["files"]["member_lamps.yaml"]
    assert "请及时补交" not in winner_text
    again = svc.client.put("/v1/rules", json={"files": {"member_lamps.yaml": winner_text + "\n# reviewed\n"},
                                              "comment": "on top"}, headers={**h, "If-Match": '"2"'})
    assert again.status_code == 201 and again.headers["ETag"] == '"3"'
    stale = svc.client.put("/v1/rules", json={"files": theirs, "comment": "stale"}, headers={**h, "If-Match": '"2"'})
    assert stale.status_code == 409
    versions = svc.client.get("/v1/rules/versions", headers=h).get_json()["versions"]
    assert [v["version"] for v in versions] == [3, 2, 1] and [v["based_on"] for v in versions] == [2, 1, None]


def test_publishes_without_if_match_still_cannot_overwrite_each_other(fresh_service):
    svc = fresh_service
    h = svc.h("admin")
    files = svc.client.get("/v1/rules", headers=h).get_json()["files"]
    answers = race(*[lambda change=change: svc.app.test_client().put(
        "/v1/rules", json={"files": change, "comment": "edit"}, headers=h)
        for change in (edit(files, "请及时补交", "请于本月底前补交"), edit(files, "请及时补交", "请尽快补交"))])
    codes = sorted(a.status_code for a in answers)
    assert codes in ([201, 201], [201, 409]), [a.get_json() for a in answers]
    if codes == [201, 201]:  # the second started after the first was active: it was based on it
        versions = svc.client.get("/v1/rules/versions", headers=h).get_json()["versions"]
        assert [v["based_on"] for v in versions[:2]] == [2, 1]
