"""The street role reads every branch and member of its street (街道/镇), and nothing else, on every
endpoint and page where a secretary reads one branch; it changes nothing."""

import pytest
from sqlalchemy import select

from diagnosis_service.reports.summary import display_width
from diagnosis_service.store.schema import branches, members
from tests.support.pages import login


@pytest.fixture(scope="module")
def layout(service):
    with service.engine.connect() as conn:
        rows = conn.execute(select(branches.c.branch_id, branches.c.street)).all()
        member_rows = conn.execute(select(members.c.member_id, members.c.branch_id)).all()
    street = dict(rows)["B00002"]
    mine = sorted(b for b, s in rows if s == street)
    others = sorted(b for b, s in rows if s != street)
    member_of = dict(member_rows)
    return street, mine, others, member_of


def test_branches_and_members_of_its_street_only(service, layout):
    c, h = service.client, service.h("street")
    street, mine, others, member_of = layout
    assert len(mine) == 2
    for b in mine:
        assert c.get(f"/v1/branches/{b}/diagnosis?period=2025-12", headers=h).status_code == 200
    for b in [*others, "B99999"]:
        assert c.get(f"/v1/branches/{b}/diagnosis?period=2025-12", headers=h).status_code == 403
    own = next(m for m, b in member_of.items() if b in mine)
    other = next(m for m, b in member_of.items() if b not in mine)
    assert c.get(f"/v1/members/{own}/report?period=2025-12", headers=h).status_code == 200
    assert c.get(f"/v1/members/{other}/report?period=2025-12", headers=h).status_code == 403
    assert c.get("/v1/members/M999999/report?period=2025-12", headers=h).status_code == 403


def test_rankings_and_lamps_are_its_streets(service, layout):
    c, h = service.client, service.h("street")
    street, mine, others, member_of = layout
    ranking = c.get("/v1/rankings?period=2025-12&limit=10000", headers=h).get_json()
    assert ranking["scope"]["street"] == street and {r["branch_id"] for r in ranking["ranking"]} == set(mine)
    assert ranking["ranking"][0]["rank"] == 1
    branch_rank = c.get("/v1/rankings?period=2025-12&subject=branch", headers=h).get_json()
    assert [r["branch_id"] for r in branch_rank["ranking"]] and {r["branch_id"] for r in branch_rank["ranking"]} \
        == set(mine)
    assert c.get("/v1/rankings?period=2025-12&street=江厦街道", headers=h).status_code == 403
    assert c.get(f"/v1/rankings?period=2025-12&branch_id={others[0]}", headers=h).status_code == 403
    lamps = c.get("/v1/lamps?period=2025-12&limit=10000", headers=h).get_json()["lamps"]
    assert lamps and {x["branch_id"] for x in lamps} == set(mine)
    changes = c.get("/v1/lamps/changes?period=2025-12", headers=h).get_json()["changes"]
    assert {x["branch_id"] for x in changes} <= set(mine)
    admin = c.get(f"/v1/lamps?period=2025-12&limit=10000&street={street}", headers=service.h("admin")).get_json()
    assert admin["total"] == len(lamps)


def test_it_changes_nothing(service, layout):
    c, h = service.client, service.h("street")
    _, mine, _, _ = layout
    for method, path, body in (
            ("post", "/v1/diagnoses", {"period": "2025-12"}),
            ("put", "/v1/periods/2025-12/metrics", {"branches": []}),
            ("post", "/v1/events", {"subject": "branch", "id": mine[0], "period": "2025-12", "values": {}}),
            ("post", "/v1/prescriptions", {"branch_id": mine[0], "period": "2025-12"}),
            ("post", "/v1/prescriptions/1/feedback", {"status": "adopted"}),
            ("put", "/v1/rules", {"files": {"x.yaml": "rules: []"}, "comment": "x"}),
            ("post", "/v1/login-tickets", {"branch_id": mine[0], "user": "x"})):
        assert getattr(c, method)(path, json=body, headers=h).status_code == 403, path


def test_the_pages_of_its_street(service, layout):
    _, mine, others, _ = layout
    browser = service.app.test_client()
    assert login(browser, service.tokens["street"], f"/branches/{mine[1]}/report?period=2025-12").status_code == 303
    page = browser.get(f"/branches/{mine[1]}/report?period=2025-12")
    assert page.status_code == 200 and 'class="feedback"' not in page.get_data(as_text=True)
    # Opening a branch by a lower-case id says nothing to a street of which branches exist.
    assert [browser.get(f"/open?branch_id={b}").headers["Location"] for b in (others[0].lower(), "b99999")] == [
        f"/branches/{others[0].lower()}/report?lang=zh", "/branches/b99999/report?lang=zh"]
    # A range with months not diagnosed is shown as chosen (the form keeps it); one with none says so.
    wide = browser.get("/overview?from=2025-05&to=2025-12").get_data(as_text=True)
    assert '<option value="2025-05" selected>' in wide and '<option value="2025-12" selected>' in wide
    empty = browser.get("/overview?from=2020-01&to=2020-06")
    assert empty.status_code == 404 and "查看最近的月份（至 2025-12）" in empty.get_data(as_text=True)
    # Without JavaScript the print button would do nothing: it is hidden until its script shows it.
    assert '<button type="button" id="print" hidden>' in page.get_data(as_text=True)
    # Its street's circular of a month never diagnosed: said so, with the months that have one.
    none = browser.get("/overview/circular.xlsx?period=2024-03")
    html = none.get_data(as_text=True)
    assert none.status_code == 404 and "2024-03 还没有诊断结果，没有这个月的通报" in html
    assert "/overview/circular.xlsx?period=2025-12" in html and "下载 2025-12 月度通报" in html
    other = browser.get(f"/branches/{others[0]}/report?period=2025-12")
    html = other.get_data(as_text=True)
    # Said for its role (not the secretary's rule), with the way back to its street's overview.
    assert other.status_code == 403 and "无权查看" in html and "街道（镇）账号只能查看本街道（镇）的支部和概览" in html
    assert "支部书记" not in html and 'href="/overview?lang=zh"' in html
    english = browser.get(f"/branches/{others[0]}/report?period=2025-12&lang=en").get_data(as_text=True)
    assert "account sees only its own street" in english and "secretary" not in english


def test_a_street_token_names_a_street_that_exists(runner, tmp_path, small_district):
    from diagnosis_service.cli import main

    env = {"DIAGNOSIS_VAR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    assert runner.invoke(main, ["import", str(small_district)], env=env).exit_code == 0
    ok = runner.invoke(main, ["tokens", "create", "--role", "street", "--street", "古林镇", "--name", "gl", "--lang",
                              "en"], env=env)
    assert ok.exit_code == 0 and ok.stdout.startswith("ds_") and "(street of 古林镇)" in ok.stderr
    none = runner.invoke(main, ["tokens", "create", "--role", "street", "--name", "s1"], env=env)
    assert none.exit_code == 2 and "--street: a street role's token needs a street" in none.stderr
    wrong = runner.invoke(main, ["tokens", "create", "--role", "street", "--street", "古林", "--name", "s2"], env=env)
    assert wrong.exit_code == 2 and "no branch is in street '古林'" in wrong.stderr and "古林镇" in wrong.stderr
    mixed = runner.invoke(main, ["tokens", "create", "--role", "secretary", "--branch", "B00002", "--street", "古林镇",
                                 "--name", "s3"], env=env)
    assert mixed.exit_code == 2 and "only a street role's token is tied to a street" in mixed.stderr
    assert runner.invoke(main, ["tokens", "create", "--role", "admin", "--name", "管理员"], env=env).exit_code == 0
    listing = runner.invoke(main, ["tokens", "list"], env=env).stdout.splitlines()
    assert [line.split()[:3] for line in listing] == [["名称", "角色", "范围"], ["gl", "street", "古林镇"],
                                                      ["管理员", "admin", "-"]]
    # Chinese takes two terminal columns a character: the columns line up as a terminal shows them.
    assert len({display_width(line[:line.index(line.split()[3])]) for line in listing}) == 1
