"""The secretary's report page: login with a token, own branch only, Chinese first."""

import re


def login(client, token, next_url="/branches/B00002/report?period=2025-12"):
    return client.post("/login", data={"token": token, "next": next_url})


def test_page_asks_for_a_login_then_shows_the_own_branch(fresh_service):
    svc = fresh_service
    c = svc.app.test_client()
    first = c.get("/branches/B00002/report?period=2025-12")
    assert first.status_code == 303 and first.headers["Location"].startswith("/login?next=")
    form = c.get(first.headers["Location"])
    assert form.status_code == 200 and "访问令牌" in form.get_data(as_text=True)
    bad = login(c, "ds_wrong")
    assert bad.status_code == 401 and "令牌无效" in bad.get_data(as_text=True)
    ok = login(c, svc.tokens["secretary"])
    assert ok.status_code == 303 and ok.headers["Location"] == "/branches/B00002/report?period=2025-12"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and svc.tokens["secretary"] not in cookie
    page = c.get("/branches/B00002/report?period=2025-12")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert '<html lang="zh-CN">' in html and "支部党建诊疗报告" in html and "药方（推荐资源）" in html
    assert re.search(r'class="lamp lamp-(red|yellow|green)"', html)
    en = c.get("/branches/B00002/report?period=2025-12&lang=en").get_data(as_text=True)
    assert '<html lang="en">' in en and "Branch diagnosis report" in en and "Prescriptions" in en
    assert c.get("/branches/B00003/report?period=2025-12").status_code == 403
    # The page showed (and logged) one list of prescriptions, reused on the next view.
    api = svc.client.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"},
                          headers=svc.h("platform")).get_json()
    assert api["list_id"] == 2
    # Logging out ends the session.
    c.post("/logout")
    assert c.get("/branches/B00002/report?period=2025-12").status_code == 303


def test_page_with_a_bearer_token_and_bad_input(service):
    c, h = service.client, service.h
    assert c.get("/branches/B00003/report?period=2025-12", headers=h("admin")).status_code == 200
    assert c.get("/branches/B00002/report?period=2024-01", headers=h("admin")).status_code == 404
    assert c.get("/branches/B00002/report?period=bad", headers=h("admin")).status_code == 422
    # An open redirect is not possible through the login form.
    r = login(service.app.test_client(), service.tokens["secretary"], next_url="https://evil.example/")
    assert r.status_code == 303 and r.headers["Location"] == "/login"
