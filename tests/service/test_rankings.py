"""Rankings follow the contract: members by the year's cumulative points (or the month's), highest first,
ties by member id and ranked alike; branches by their members' mean; within a scope."""

import json
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from diagnosis_service.pipeline.rankings import LAMP_ORDER, ranked_branches
from diagnosis_service.store.schema import branches, results


def stored_members(svc, period="2025-12") -> list[dict]:
    with svc.engine.connect() as conn:
        rows = conn.execute(select(results.c.body, branches.c.street, branches.c.type)
                            .join(branches, branches.c.branch_id == results.c.branch_id)
                            .where(results.c.period == period, results.c.subject == "member")).all()
    return [{**json.loads(body), "street": street, "type": btype} for body, street, btype in rows]


def expected_ranks(members: list[dict], key: str) -> list[tuple]:
    """(rank, id, value) computed independently: 1 + how many have more; ties by id."""
    have = [m for m in members if m.get(key) is not None]
    ordered = sorted(have, key=lambda m: (-m[key], m["id"]))
    return [(1 + sum(1 for o in have if o[key] > m[key]), m["id"], m[key]) for m in ordered]


def test_members_are_ranked_by_the_years_points_with_ties_alike(service):
    members = stored_members(service)
    body = service.client.get("/v1/rankings?period=2025-12&limit=10000", headers=service.h("platform")).get_json()
    assert body["subject"] == "member" and body["by"] == "ytd" and body["total"] == len(members)
    got = [(r["rank"], r["member_id"], r["vanguard_points_ytd"]) for r in body["ranking"]]
    assert got == expected_ranks(members, "vanguard_points_ytd")
    ranks = [r for r, _, _ in got]
    assert len(set(ranks)) < len(ranks), "the district has ties: the test sees them ranked alike"
    assert all(r["name"] for r in body["ranking"])
    month = service.client.get("/v1/rankings?period=2025-12&by=month&limit=10000",
                               headers=service.h("platform")).get_json()
    assert [(r["rank"], r["member_id"], r["vanguard_points"]) for r in month["ranking"]] == \
        expected_ranks(members, "vanguard_points")
    page = service.client.get("/v1/rankings?period=2025-12&limit=5&offset=7", headers=service.h("admin")).get_json()
    assert [r["member_id"] for r in page["ranking"]] == [m for _, m, _ in got[7:12]]


def test_member_report_rank_is_the_position_by_the_years_points(service):
    members = stored_members(service)
    by_id = {m["id"]: m for m in members}
    for rank, mid, ytd in expected_ranks(members, "vanguard_points_ytd")[::37]:
        rep = service.client.get(f"/v1/members/{mid}/report?period=2025-12", headers=service.h("platform")).get_json()
        branch = [m for m in members if m["branch_id"] == by_id[mid]["branch_id"]]
        in_branch = 1 + sum(1 for o in branch if o["vanguard_points_ytd"] > ytd)
        assert rep["rank"] == {"by": "ytd", "district": rank, "district_of": len(members), "branch": in_branch,
                               "branch_of": len(branch)}


def test_scopes_rank_within_themselves(service):
    members = stored_members(service)
    street = next(m["street"] for m in members if m["branch_id"] == "B00002")
    for query, keep in ((f"street={street}", lambda m: m["street"] == street),
                        ("type=village", lambda m: m["type"] == "village"),
                        ("branch_id=B00002", lambda m: m["branch_id"] == "B00002")):
        body = service.client.get(f"/v1/rankings?period=2025-12&limit=10000&{query}",
                                  headers=service.h("admin")).get_json()
        mine = [m for m in members if keep(m)]
        assert mine and [(r["rank"], r["member_id"], r["vanguard_points_ytd"]) for r in body["ranking"]] == \
            expected_ranks(mine, "vanguard_points_ytd"), query
    bad = service.client.get("/v1/rankings?period=2025-12&type=factory", headers=service.h("admin"))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["path"] == "query.type"


def test_branches_are_ranked_by_their_members_mean(service):
    members = stored_members(service)
    sums = defaultdict(list)
    for m in members:
        sums[m["branch_id"]].append(m["vanguard_points_ytd"])
    body = service.client.get("/v1/rankings?period=2025-12&subject=branch", headers=service.h("admin")).get_json()
    rows = body["ranking"]
    assert body["total"] == len(rows) == 24 and body["by"] == "ytd"
    for r in rows:
        assert r["mean_points_ytd"] == round(sum(sums[r["branch_id"]]) / len(sums[r["branch_id"]]), 4)
        assert r["members"] == len(sums[r["branch_id"]])
        assert r["rank"] == 1 + sum(1 for o in rows if o["mean_points_ytd"] > r["mean_points_ytd"])
    lamp = service.client.get("/v1/rankings?period=2025-12&subject=branch&by=lamp",
                              headers=service.h("admin")).get_json()["ranking"]
    assert [LAMP_ORDER[r["lamp"]] for r in lamp] == sorted(LAMP_ORDER[r["lamp"]] for r in lamp)
    assert service.client.get("/v1/rankings?period=2025-12&by=lamp", headers=service.h("admin")).status_code == 422


rows_strategy = st.lists(st.fixed_dictionaries({
    "lamp": st.sampled_from(["red", "yellow", "green"]), "members": st.integers(0, 5),
    "ytd": st.sampled_from([None, 0.0, 10.5, 10.5, 20.0]), "month": st.sampled_from([None, 1.0, 2.5])}),
    max_size=30)


@settings(max_examples=200, deadline=None)
@given(rows=rows_strategy, by=st.sampled_from(["ytd", "month", "lamp"]))
def test_branch_ranks_are_competition_ranks(rows, by):
    data = [{"branch_id": f"B{k:03d}", "name": "x", "street": "s", "type": "village", "lamp": r["lamp"],
             "members": r["members"], "ytd_sum": (r["ytd"] or 0) * 2, "ytd_n": 2 if r["ytd"] is not None else 0,
             "month_sum": r["month"] or 0, "month_n": 1 if r["month"] is not None else 0} for k, r in enumerate(rows)]
    ranked = ranked_branches(data, by)
    assert sorted(b["branch_id"] for b in ranked) == sorted(d["branch_id"] for d in data)

    def key(b):
        value = b["mean_points_ytd"] if by != "month" else b["mean_points"]
        return ((LAMP_ORDER[b["lamp"]],) if by == "lamp" else ()) + (value is None, -(value or 0))

    for i, b in enumerate(ranked):
        assert b["rank"] == 1 + sum(1 for o in ranked if key(o) < key(b))
        if i:
            assert (key(ranked[i - 1]), ranked[i - 1]["branch_id"]) < (key(b), b["branch_id"])
