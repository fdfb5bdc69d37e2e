"""The secretary's pages over HTTP (Flask's client): the workbench, feedback from the page, and errors as
pages (signing in, sessions and tickets: test_sign_in). A real browser walks them in tests/browser."""

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, update

from diagnosis_service.pipeline import training
from diagnosis_service.store.schema import feedback, served, served_lists
from tests.support.pages import csrf_of, login

PAGE = "/branches/B00002/report?period=2025-12"


def signed_in(svc, who: str = "secretary", lang: str = "zh"):
    c = svc.app.test_client()
    r = login(c, svc.tokens[who], PAGE, lang)
    assert r.status_code == 303, r.get_data(as_text=True)
    return c


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)>.*?</\1>", "", html, flags=re.S)))


def test_sign_in_then_the_own_branchs_workbench(fresh_service):
    svc = fresh_service
    c = svc.app.test_client()
    first = c.get(PAGE)
    assert first.status_code == 303 and first.headers["Location"].startswith("/login?next=")
    form = c.get(first.headers["Location"])
    assert form.status_code == 200 and "访问令牌" in form.get_data(as_text=True)
    no_csrf = c.post("/login", data={"token": svc.tokens["secretary"], "next": PAGE})
    assert no_csrf.status_code == 400 and "页面已过期" in no_csrf.get_data(as_text=True)
    bad = login(c, "ds_wrong", PAGE)
    assert bad.status_code == 401 and "令牌无效" in bad.get_data(as_text=True)
    ok = login(c, svc.tokens["secretary"], PAGE)
    assert ok.status_code == 303 and ok.headers["Location"] == PAGE + "&lang=zh"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert svc.tokens["secretary"] not in cookie
    page = c.get(PAGE)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html" and '<html lang="zh-CN">' in html
    for section in ("lamp", "weaknesses", "actions", "plan", "history", "members"):
        assert f'<section id="{section}">' in html
    text = text_of(html)
    for words in ("支部党建诊疗报告", "亮灯情况", "催缴名单", "谈心谈话名单", "红黄灯党员", "本月计划（最多三项）", "近六个月",
                  "退出登录", "打印", "English", "上个月 2025-11"):
        assert words in text, words
    assert re.search(r'class="lamp lamp-(red|yellow|green)" id="lamp-badge"', html)
    assert len(re.findall(r'<li data-resource="', html)) <= 3
    # Each feedback button names its item for a screen reader: the id it refers to is that item's text.
    assert re.findall(r'<li data-resource="([^"]+)"', html), "a plan to answer"
    for rid in re.findall(r'<li data-resource="([^"]+)"', html):
        assert html.count(f'aria-describedby="plan-{rid}"') == 3 and f'<li data-resource="{rid}"><span id="plan-{rid}">' in html
    en = c.get(PAGE + "&lang=en").get_data(as_text=True)
    assert '<html lang="en">' in en and "This month's plan" in en.replace("&#x27;", "'") and "中文" in en
    # Home and the page without a month: the secretary's branch, its latest month.
    home = c.get("/")
    assert home.status_code == 303 and home.headers["Location"].startswith("/branches/B00002/report")
    latest = c.get(home.headers["Location"])
    assert latest.status_code == 200 and "2025-12" in text_of(latest.get_data(as_text=True))


def test_errors_are_pages_that_say_what_to_do(fresh_service):
    svc = fresh_service
    c = signed_in(svc)
    other = c.get("/branches/B00003/report?period=2025-12")
    html = other.get_data(as_text=True)
    assert other.status_code == 403 and other.mimetype == "text/html" and "无权查看" in html
    assert "支部书记只能查看本支部的报告" in html
    assert 'href="/branches/B00002/report?lang=zh"' in html, "it links to the secretary's own report"
    english = c.get("/branches/B00003/report?period=2025-12&lang=en").get_data(as_text=True)
    assert re.search(r"may not see this page\. A branch secretary", english), "two sentences, with a space"
    # An error page can be read in the other language: the same address, the language swapped.
    assert 'href="/branches/B00003/report?period=2025-12&amp;lang=zh" id="other-lang"' in english
    missing = c.get("/branches/B00002/report?period=2024-01")
    html = missing.get_data(as_text=True)
    assert missing.status_code == 404 and "2024-01 还没有诊断结果。可查看" in html and "period=2025-11" in html
    assert "查看 2025-11 的报告</a>" in html
    bad = c.get("/branches/B00002/report?period=2025-13&lang=en")
    assert bad.status_code == 422 and "“2025-13” is not a month" in bad.get_data(as_text=True)
    assert '<html lang="en">' in bad.get_data(as_text=True)
    nowhere = c.get("/no/such/page", headers={"Accept": "text/html"})
    assert nowhere.status_code == 404 and nowhere.mimetype == "text/html" and "未找到" in nowhere.get_data(as_text=True)
    # The API keeps problem+json, whatever the client accepts.
    api = c.get("/v1/nothing", headers={"Accept": "text/html"})
    assert api.status_code in (401, 404) and api.mimetype == "application/problem+json"
    assert svc.client.get("/no/such/page").mimetype == "application/problem+json"
    # A broken stored result is a 500 page with the request id, not a traceback.
    with svc.engine.begin() as conn:
        from diagnosis_service.store.schema import results

        conn.execute(update(results).where(results.c.subject == "branch", results.c.subject_id == "B00002",
                                           results.c.period == "2025-11").values(body="{not json"))
    broken = c.get("/branches/B00002/report?period=2025-11", headers={"X-Request-Id": "req-broken-1"})
    html = broken.get_data(as_text=True)
    assert broken.status_code == 500 and "服务出错" in html and "req-broken-1" in html and "Traceback" not in html


def first_plan_item(client) -> tuple[str, str]:
    """(resource id of the plan's first item, the page's CSRF token)."""
    html = client.get(PAGE).get_data(as_text=True)
    return re.search(r'<li data-resource="([^"]+)"', html).group(1), csrf_of(html)


def test_feedback_from_the_page_is_stored_and_seen_by_training(fresh_service):
    svc = fresh_service
    c = signed_in(svc)
    first, token = first_plan_item(c)
    adopt = c.post("/branches/B00002/feedback", data={"csrf": token, "period": "2025-12", "resource_id": first,
                                                      "status": "adopted"})
    # Back to the item answered, its message inside it (in view where the button was, not atop the page).
    assert adopt.status_code == 303 and adopt.headers["Location"].endswith(f"#plan-{first}")
    after = c.get(adopt.headers["Location"]).get_data(as_text=True)
    item = re.search(rf'<li data-resource="{first}">.*?</li>', after, re.S).group(0)
    assert 'id="notice"' in item and "已记录" in item and "已采纳" in item
    assert re.search(r'value="adopted" [^>]*aria-pressed="true"', item)
    assert re.search(r'value="declined" [^>]*aria-pressed="false"', item)
    assert "已记录" not in c.get(PAGE).get_data(as_text=True), "said once"
    done = c.post("/branches/B00002/feedback", data={"csrf": token, "period": "2025-12", "resource_id": first,
                                                     "status": "completed", "done_on": "2026-01-15"})
    assert done.status_code == 303
    page = c.get(PAGE).get_data(as_text=True)
    assert "已完成（2026-01-15）" in page
    # The form shows the day recorded, not today's again.
    assert re.search(r'name="done_on" value="2026-01-15"', page)
    with svc.engine.connect() as conn:
        rows = conn.execute(select(feedback.c.status, feedback.c.done_on, feedback.c.actor, served.c.resource_id)
                            .join(served, served.c.prescription_id == feedback.c.prescription_id)
                            .order_by(feedback.c.id)).all()
    assert [r[:2] for r in rows if r[0] == "adopted"] and all(r[3] == first for r in rows)
    assert {(r[0], r[1]) for r in rows} == {("adopted", None), ("completed", "2026-01-15")}
    assert all(r[2] == "secretary:sec-B00002" for r in rows)
    # The model's training reads it: the branch's decision for that month is no longer "ignored".
    log, _ = training.from_store(svc.engine, svc.app.extensions["diagnosis"].snapshot().ruleset)
    mine = log[(log["branch_id"] == "B00002") & (log["period"] == "2025-12") & (log["resource_id"] == first)]
    assert list(mine["status"]) and set(mine["status"]) == {"completed"}


def test_page_feedback_is_refused_whole_when_it_should_be(fresh_service):
    svc = fresh_service
    c = signed_in(svc)
    first, token = first_plan_item(c)

    def post(data, client=c):
        return client.post("/branches/B00002/feedback", data={"period": "2025-12", "resource_id": first, **data})

    assert post({"status": "adopted"}).status_code == 400, "no CSRF token"
    assert post({"status": "adopted", "csrf": "x" * len(token)}).status_code == 400, "a wrong CSRF token"
    future = post({"status": "completed", "done_on": "2999-01-01", "csrf": token})
    assert future.status_code == 303 and future.headers["Location"].endswith(f"#plan-{first}")
    item = re.search(rf'<li data-resource="{first}">.*?</li>', c.get(PAGE).get_data(as_text=True), re.S).group(0)
    assert re.search(r'<p class="error" id="notice" role="alert">完成日期应在', item), "the error where the button was"
    assert post({"status": "maybe", "csrf": token}).status_code == 422
    assert post({"status": "adopted", "csrf": token, "resource_id": "NOPE"}).status_code == 404
    other = signed_in(svc, "other_secretary")
    other_token = csrf_of(other.get("/branches/B00003/report?period=2025-12").get_data(as_text=True))
    assert post({"status": "adopted", "csrf": other_token}, client=other).status_code == 403
    admin = signed_in(svc, "admin")
    admin_page = admin.get(PAGE).get_data(as_text=True)
    assert 'class="feedback"' not in admin_page, "an administrator reads the plan but does not answer it"
    assert post({"status": "adopted", "csrf": csrf_of(admin_page)}, client=admin).status_code == 403
    anonymous = svc.app.test_client().post("/branches/B00002/feedback", data={"status": "adopted", "period": "2025-12"})
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"] == \
        "/login?next=/branches/B00002/report?period%3D2025-12%26lang%3Dzh%26unsaved%3D1&lang=zh"
    with svc.engine.connect() as conn:
        assert conn.execute(select(feedback.c.id)).all() == []


def test_a_supervisor_sees_a_preview_that_logs_nothing_then_the_branchs_answers(fresh_service):
    svc = fresh_service

    def lists() -> list[tuple]:
        with svc.engine.connect() as conn:
            return conn.execute(select(served_lists.c.id, served_lists.c.actor).order_by(served_lists.c.id)).all()

    before = lists()
    for who in ("admin", "street"):  # opening the page is not the branch being shown a list
        page = signed_in(svc, who).get(PAGE).get_data(as_text=True)
        assert "本月方案尚未发给支部：以下为预览" in page and '<li data-resource="' in page
        assert 'class="feedback"' not in page and "支部反馈" not in page
    assert lists() == before
    secretary = signed_in(svc)
    first, token = first_plan_item(secretary)  # the branch's own first view serves the list the preview showed
    served_now = lists()
    assert len(served_now) == len(before) + 1 and served_now[-1][1] == "secretary:sec-B00002"
    admin = signed_in(svc, "admin")
    preview_gone = admin.get(PAGE).get_data(as_text=True)
    assert "以下为预览" not in preview_gone and re.findall(r'<li data-resource="([^"]+)"', preview_gone)[0] == first
    assert secretary.post("/branches/B00002/feedback", data={"csrf": token, "period": "2025-12", "resource_id": first,
                                                            "status": "adopted"}).status_code == 303
    item = re.search(rf'<li data-resource="{first}">.*?</li>', admin.get(PAGE).get_data(as_text=True), re.S).group(0)
    assert "支部反馈：" in item and "已采纳" in item and "<form" not in item
    refused = admin.post("/branches/B00002/feedback", data={"csrf": csrf_of(preview_gone), "period": "2025-12",
                                                           "resource_id": first, "status": "declined"})
    assert refused.status_code == 403 and "由支部书记反馈" in refused.get_data(as_text=True)
    assert lists() == served_now


def test_an_answer_given_after_the_sign_in_timed_out_is_said_unsaved_once_back(fresh_service):
    svc = fresh_service
    c = svc.app.test_client()
    lost = c.post("/branches/B00002/feedback", data={"status": "adopted", "period": "2025-12", "lang": "en"})
    assert lost.status_code == 303
    back = login(c, svc.tokens["secretary"], parse_qs(urlsplit(lost.headers["Location"]).query)["next"][0], "en")
    page = c.get(back.headers["Location"]).get_data(as_text=True)
    assert "the answer you just gave was not recorded" in page
    with svc.engine.connect() as conn:
        assert conn.execute(select(feedback.c.id)).all() == []


def test_the_pages_today_is_the_districts_and_a_day_after_it_is_refused(fresh_service):
    from datetime import UTC, datetime, timedelta

    from diagnosis_service.config import Settings

    assert Settings.from_env({}).district_utc_offset == 8
    assert Settings.from_env({"DIAGNOSIS_DISTRICT_UTC_OFFSET": "-5"}).district_utc_offset == -5
    svc = fresh_service
    district = (datetime.now(UTC) + timedelta(hours=8)).date()  # the default offset: Beijing's day
    c = signed_in(svc)
    first, token = first_plan_item(c)
    page = c.get(PAGE).get_data(as_text=True)
    assert f'max="{district.isoformat()}"' in page, "the date field's latest day is the district's today"

    def done(day) -> str:
        r = c.post("/branches/B00002/feedback", data={"csrf": token, "period": "2025-12", "resource_id": first,
                                                      "status": "completed", "done_on": day.isoformat()})
        assert r.status_code == 303
        return re.search(rf'<li data-resource="{first}">.*?</li>', c.get(PAGE).get_data(as_text=True), re.S).group(0)

    assert f"完成日期应在 2025-12-01 至 {district.isoformat()} 之间" in done(district + timedelta(days=1))
    assert f"已完成（{district.isoformat()}）" in done(district)


def test_a_form_too_large_gets_the_413_page(tmp_path):
    from tests.support.service import make_service

    svc = make_service("sqlite", tmp_path, diagnose=(), extra_config={"MAX_CONTENT_LENGTH": 1000})
    try:
        c = svc.app.test_client()
        r = c.post("/login?lang=en", data={"token": "x" * 5000, "lang": "en"})
        assert r.status_code == 413 and r.mimetype == "text/html" and "Too large" in r.get_data(as_text=True)
        assert r.headers["X-Request-Id"] and "Content-Security-Policy" in r.headers
    finally:
        svc.close()


def test_others_choose_a_branch_from_home(fresh_service):
    svc = fresh_service
    c = signed_in(svc, "admin")
    home = c.get("/")
    html = home.get_data(as_text=True)
    assert home.status_code == 200 and "打开支部报告" in html and '<option value="2025-12">' in html
    go = c.get("/open?branch_id=B00007&period=2025-11")
    assert go.status_code == 303 and go.headers["Location"] == "/branches/B00007/report?lang=zh&period=2025-11"
    page = c.get(go.headers["Location"]).get_data(as_text=True)
    # The six months: those not diagnosed say nothing of weaknesses (not "none", which reads as no weakness).
    assert '<td class="short">2025-10</td><td class="short">无诊断</td><td class="short">—</td><td class="short">—</td>' in page
    # A lower-case id finds its branch; none, or one that does not exist, is told as such (not as a branch
    # not diagnosed yet).
    assert c.get("/open?branch_id=b00007").headers["Location"] == "/branches/B00007/report?lang=zh"
    empty = c.get("/open?branch_id=+&period=2025-11")
    assert empty.status_code == 422 and "请输入支部编号" in empty.get_data(as_text=True)
    unknown = c.get(c.get("/open?branch_id=B99999").headers["Location"])
    html = unknown.get_data(as_text=True)
    assert unknown.status_code == 404 and "没有编号为“B99999”的支部" in html and "还没有" not in html
    english = c.get("/branches/X1/report?period=2025-12&lang=en").get_data(as_text=True)
    assert "There is no branch “X1”" in english


def test_the_print_script_is_the_one_the_policy_allows(service):
    """The print button is hidden until its script runs: a script the policy refuses would hide it for good."""
    import base64
    import hashlib

    c = signed_in(service, "admin")
    for path in ("/branches/B00002/report?period=2025-12", "/overview?lang=en"):
        page = c.get(path)
        (script,) = re.findall(r"<script>(.*?)</script>", page.get_data(as_text=True), re.S)
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"script-src 'sha256-{digest}'" in page.headers["Content-Security-Policy"], path
        assert "hidden=false" in script and '<button type="button" id="print" hidden>' in page.get_data(as_text=True)


def test_every_page_starts_with_a_skip_link_to_its_one_main_region(service):
    """A keyboard or screen-reader user skips the navigation: the first link of every page goes to its
    ``<main>``, which holds the page's title and content and none of its navigation."""
    admin = signed_in(service, "admin")
    pages = {"/login": service.app.test_client(), "/": admin, PAGE: admin, "/overview": admin,
             "/catalog": admin, "/branches/X1/report?period=2025-12": admin}
    for path, client in pages.items():
        for lang, skip in (("zh", "跳到正文"), ("en", "Skip to main content")):
            page = client.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
            html = page.get_data(as_text=True)
            assert page.status_code in (200, 404), (path, page.status_code)
            body = html.split("<body>", 1)[1]
            first_link = re.search(r"<a [^>]*>[^<]*</a>", body).group(0)
            assert first_link == f'<a class="skip" href="#main">{skip}</a>', (path, lang, first_link)
            assert html.count("<main") == 1 and html.count('<main id="main">') == 1 and html.count("</main>") == 1
            main = html.split('<main id="main">', 1)[1].split("</main>", 1)[0]
            assert "<h1" in main and "<nav" not in main, (path, lang)
