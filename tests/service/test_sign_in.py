"""Signing in to the pages (Flask's client): the language chosen at the login, sessions that end, the
cookie's settings, and the platform's one-time tickets."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from diagnosis_service.config import Settings
from diagnosis_service.store import now
from diagnosis_service.store.schema import login_tickets
from tests.service.test_pages import PAGE, signed_in, text_of
from tests.support.pages import csrf_of, login


def test_the_language_chosen_on_the_login_page_is_the_one_signed_in_to(fresh_service):
    """The login page's language wins over the one the address asked for before it (a user who switched
    the login page to English lands on the English report, and back)."""
    svc = fresh_service
    for asked, chosen in (("zh", "en"), ("en", "zh"), (None, "en")):
        c = svc.app.test_client()
        page = PAGE + (f"&lang={asked}" if asked else "")
        to_login = c.get(page)
        assert to_login.status_code == 303
        ok = login(c, svc.tokens["secretary"], page, chosen)
        location = ok.headers["Location"]
        assert ok.status_code == 303 and location.startswith("/branches/B00002/report?")
        assert location.count("lang=") == 1 and location.endswith(f"lang={chosen}") and "period=2025-12" in location
        html = c.get(location).get_data(as_text=True)
        assert f'<html lang="{"en" if chosen == "en" else "zh-CN"}">' in html


def test_sessions_end_by_logout_idle_time_and_lifetime(fresh_service):
    svc = fresh_service
    c = signed_in(svc)
    page = c.get(PAGE).get_data(as_text=True)
    assert c.post("/logout").status_code == 400, "logging out needs the form's token too"
    out = c.post("/logout", data={"csrf": csrf_of(page)})
    assert out.status_code == 303 and "m=logged_out" in out.headers["Location"]
    assert "您已退出登录" in c.get(out.headers["Location"]).get_data(as_text=True)
    assert c.get(PAGE).status_code == 303
    again = c.post("/logout")  # signing out of a session that already ended: no error, the login form
    assert again.status_code == 303 and "/login" in again.headers["Location"]
    idle = svc.app.config["SESSION_IDLE_SECONDS"]
    for key, age in (("seen_at", idle + 5), ("login_at", svc.app.permanent_session_lifetime.total_seconds() + 5)):
        c = signed_in(svc)
        assert c.get(PAGE).status_code == 200
        with c.session_transaction() as session:
            session[key] -= int(age)
        ended = c.get(PAGE)
        assert ended.status_code == 303, key
        assert "登录已超时" in c.get(ended.headers["Location"]).get_data(as_text=True)


def test_session_settings_reach_the_cookie(tmp_path):
    settings = Settings.from_env({"DIAGNOSIS_VAR": str(tmp_path), "DIAGNOSIS_SESSION_HOURS": "2",
                                  "DIAGNOSIS_SESSION_IDLE_MINUTES": "15", "DIAGNOSIS_COOKIE_SECURE": "true"})
    assert (settings.session_hours, settings.session_idle_minutes, settings.cookie_secure) == (2, 15, True)
    assert Settings.from_env({"DIAGNOSIS_VAR": str(tmp_path)}).cookie_secure is False
    from diagnosis_service.errors import SetupError

    with pytest.raises(SetupError, match="DIAGNOSIS_COOKIE_SECURE"):
        Settings.from_env({"DIAGNOSIS_VAR": str(tmp_path), "DIAGNOSIS_COOKIE_SECURE": "sometimes"})
    from tests.support.service import make_service

    (tmp_path / "svc").mkdir()
    svc = make_service("sqlite", tmp_path / "svc", diagnose=(),
                       settings={"cookie_secure": True, "session_hours": 2, "session_idle_minutes": 15})
    try:
        r = login(svc.app.test_client(), svc.tokens["secretary"], "/")
        assert "Secure" in r.headers["Set-Cookie"] and "SameSite=Lax" in r.headers["Set-Cookie"]
        assert svc.app.permanent_session_lifetime == timedelta(hours=2)
        assert svc.app.config["SESSION_IDLE_SECONDS"] == 15 * 60
    finally:
        svc.close()


def test_a_login_ticket_works_once_within_five_minutes(fresh_service, caplog):
    import html
    import logging
    import re

    svc = fresh_service
    c, h = svc.client, svc.h
    for who in ("admin", "secretary"):
        assert c.post("/v1/login-tickets", json={"branch_id": "B00002", "user": "张书记"},
                      headers=h(who)).status_code == 403
    bad = c.post("/v1/login-tickets", json={"branch_id": "", "user": " x"}, headers=h("platform"))
    assert bad.status_code == 422 and {e["path"] for e in bad.get_json()["errors"]} == {"branch_id", "user"}
    unknown = c.post("/v1/login-tickets", json={"branch_id": "B99999", "user": "张书记"}, headers=h("platform"))
    assert unknown.status_code == 404 and unknown.get_json()["errors"][0]["path"] == "branch_id"
    r = c.post("/v1/login-tickets", json={"branch_id": "B00002", "user": "张书记", "period": "2025-11"},
               headers=h("platform"))
    body = r.get_json()
    assert r.status_code == 201 and body["expires_in"] == 300 and body["url"].startswith("/login/ticket/lt_")
    caplog.set_level(logging.INFO, logger="diagnosis_service")
    logger = logging.getLogger("diagnosis_service")
    logger.addHandler(caplog.handler)
    try:
        browser = svc.app.test_client()
        # Opening the link (as a chat preview would) only shows who is signing in: the ticket is not used.
        for _ in range(2):
            confirm = browser.get(body["url"])
            assert confirm.status_code == 200 and "张书记" in confirm.get_data(as_text=True)
        said = confirm.get_data(as_text=True)
        assert re.search(r'id="ticket-who">[^<]*2025-11 的诊疗报告', said), "the month the link opens"
        english = html.unescape(re.search(r'<a href="([^"]+)" id="other-lang"', said).group(1))
        assert english.startswith(body["url"].split("?")[0]) and "lang=en" in english
        assert "You will open the report of" in browser.get(english).get_data(as_text=True)
        token = csrf_of(confirm.get_data(as_text=True))
        assert browser.post(body["url"], data={"period": "2025-11"}).status_code == 400, "no CSRF token"
        arrive = browser.post(body["url"], data={"csrf": token, "period": "2025-11"})
        assert arrive.status_code == 303 and arrive.headers["Location"] == "/branches/B00002/report?lang=zh&period=2025-11"
        page = browser.get(arrive.headers["Location"])
        assert page.status_code == 200 and "当前用户：张书记" in text_of(page.get_data(as_text=True))
        assert "(ticket" not in page.get_data(as_text=True), "which ticket is for the log, not for the page"
        assert browser.get("/branches/B00003/report").status_code == 403
        again = svc.app.test_client().get(body["url"])
        assert again.status_code == 403 and "登录链接无效" in again.get_data(as_text=True)
        # A used ticket posted again does not end the session it opened.
        assert browser.post(body["url"], data={"csrf": token}).status_code == 400, "a new session, a new token"
        assert browser.post(body["url"], data={"csrf": csrf_of(page.get_data(as_text=True))}).status_code == 403
        assert browser.get("/branches/B00002/report").status_code == 200
    finally:
        logger.removeHandler(caplog.handler)
    assert body["ticket"] not in "\n".join(f"{rec.__dict__}" for rec in caplog.records)
    # An expired ticket is refused, unused.
    late = c.post("/v1/login-tickets", json={"branch_id": "B00002", "user": "张书记"}, headers=h("platform")).get_json()
    with svc.engine.begin() as conn:
        conn.execute(update(login_tickets).where(login_tickets.c.used_at.is_(None))
                     .values(expires_at=now() - timedelta(seconds=1)))
    assert svc.app.test_client().get(late["url"]).status_code == 403
    assert svc.app.test_client().get("/login/ticket/lt_made-up").status_code == 403
    with svc.engine.connect() as conn:
        assert conn.execute(select(login_tickets.c.used_at).where(login_tickets.c.expires_at < now())).all() == [(None,)]
