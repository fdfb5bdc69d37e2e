"""A new secretary in Chromium: signs in, reads the month, sees who to remind, picks a remedy and marks it
done; another branch, signing out and the platform's one-time link behave as a person expects.
Screenshots (zh, en, print) are saved under var/screenshots/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import create_engine, select

from diagnosis_service.pipeline import training
from diagnosis_service.rules import load_ruleset
from diagnosis_service.store.schema import feedback, served
from tests.support.browser import full_page_png
from tests.support.http import call
from tests.support.paths import REPO, RULES

pytestmark = [pytest.mark.server]
SHOTS = REPO / "var" / "screenshots"
REPORT = "/branches/B00002/report?period=2025-12"
WAIT = 10  # seconds any one page may take to appear


def wait_for(driver, css: str):
    return WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def sign_in(driver, live, who: str = "secretary", path: str = REPORT) -> None:
    driver.get(live.base + path)
    wait_for(driver, "#token").send_keys(live.tokens[who])
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, WAIT).until(_replaced(old))


def click_and_wait(driver, element) -> None:
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, WAIT).until(_replaced(old))


def _replaced(old):
    """The page of ``old`` is gone. Chromium may say so as a stale element or, caught mid-navigation, as
    "Node with given id does not belong to the document": both mean the new page has replaced it."""
    def gone(_driver) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False
    return gone


def test_a_secretary_reads_the_month_reminds_and_acts(live, browser):
    sign_in(browser, live)
    assert browser.current_url == live.base + REPORT + "&lang=zh"  # in the login page's language
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    lamp = browser.find_element(By.ID, "lamp-badge").text
    assert lamp in ("红灯", "黄灯", "绿灯")
    lamp_section = browser.find_element(By.CSS_SELECTOR, "section#lamp").text
    assert lamp_section.startswith("亮灯情况") and (("绿灯" in lamp_section) == (lamp == "绿灯"))
    # Weaknesses are weaknesses: labelled by how serious, never by a lamp colour.
    weak = browser.find_element(By.CSS_SELECTOR, "section#weaknesses").text
    assert not re.search(r"红灯|黄灯|绿灯", weak)
    # Who to remind: every line of the lists has a name and the member's id.
    actions = browser.find_element(By.CSS_SELECTOR, "section#actions").text
    for heading in ("催缴名单", "谈心谈话名单", "红黄灯党员"):
        assert heading in actions
    for line in browser.find_elements(By.CSS_SELECTOR, "section#actions li"):
        assert re.match(r"^[\u4e00-\u9fff·]{2,}（M\d+）", line.text), line.text
    # The plan: three at most, no title twice, each with its buttons.
    items = browser.find_elements(By.CSS_SELECTOR, "ol.plan > li")
    assert 1 <= len(items) <= 3
    titles = [re.search(r"「(.+?)」", item.text).group(1) for item in items]
    assert len(titles) == len(set(titles))
    assert all(item.find_elements(By.CSS_SELECTOR, "button.fb-adopted") for item in items)
    full_page_png(browser, SHOTS / "secretary-zh.png")

    first = items[0].get_attribute("data-resource")
    click_and_wait(browser, items[0].find_element(By.CSS_SELECTOR, "button.fb-adopted"))
    assert "已记录" in wait_for(browser, "#notice").text
    item = browser.find_element(By.CSS_SELECTOR, f'ol.plan > li[data-resource="{first}"]')
    assert item.find_element(By.CSS_SELECTOR, ".status").text.startswith("已采纳")
    click_and_wait(browser, item.find_element(By.CSS_SELECTOR, "button.fb-completed"))
    item = browser.find_element(By.CSS_SELECTOR, f'ol.plan > li[data-resource="{first}"]')
    district_today = (datetime.now(UTC) + timedelta(hours=8)).date()  # the pages' today: Beijing's by default
    assert item.find_element(By.CSS_SELECTOR, ".status").text == f"已完成（{district_today.isoformat()}）"

    # The store has both answers, from the page's login, and the model's training reads them.
    engine = create_engine(live.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(feedback.c.status, feedback.c.done_on, feedback.c.actor)
                                .join(served, served.c.prescription_id == feedback.c.prescription_id)
                                .where(served.c.branch_id == "B00002", served.c.resource_id == first)
                                .order_by(feedback.c.id)).all()
        assert [r[0] for r in rows][:1] == ["adopted"] and rows[-1][:2] == ("completed", district_today.isoformat())
        assert {r[2] for r in rows} == {"secretary:sec-B00002"}
        log, _ = training.from_store(engine, load_ruleset(RULES))
    finally:
        engine.dispose()
    mine = log[(log["branch_id"] == "B00002") & (log["period"] == "2025-12") & (log["resource_id"] == first)]
    assert set(mine["status"]) == {"completed"}

    # Months: back to November and forward again.
    click_and_wait(browser, browser.find_element(By.ID, "prev-month"))
    assert "period=2025-11" in browser.current_url and "2025-11" in browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    click_and_wait(browser, browser.find_element(By.ID, "next-month"))
    assert "period=2025-12" in browser.current_url


def test_the_page_in_english_and_in_print(live, browser):
    sign_in(browser, live)
    click_and_wait(browser, browser.find_element(By.ID, "other-lang"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Branch diagnosis report" in body and "This month's plan" in body and "village Party organisation" in body
    assert not re.search(r"[\u4e00-\u9fff]{2,}(?!（M)", browser.find_element(By.ID, "plan").text.split("\n")[0])
    full_page_png(browser, SHOTS / "secretary-en.png")
    # Nothing went wrong in the console on the way (a favicon.ico the pages never had was a 404 each time).
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    click_and_wait(browser, browser.find_element(By.ID, "other-lang"))
    # The keyboard's first stop is the skip link, out of sight until then; it leads past the navigation.
    skip = browser.find_element(By.CSS_SELECTOR, "a.skip")
    assert skip.location["x"] < 0 and skip.text == ""
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert browser.switch_to.active_element == skip and skip.location["x"] >= 0 and skip.text == "跳到正文"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    assert browser.current_url.endswith("#main")
    # Print: no navigation, no buttons; an A4 PDF.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.CSS_SELECTOR, "nav.bar").is_displayed()
    assert not any(b.is_displayed() for b in browser.find_elements(By.CSS_SELECTOR, ".feedback button"))
    assert browser.find_element(By.ID, "lamp-badge").is_displayed()
    full_page_png(browser, SHOTS / "secretary-print.png")
    import base64

    pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True})["data"])
    assert pdf.startswith(b"%PDF")
    sizes = {tuple(round(float(x)) for x in m.split()) for m in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+ [\d.]+)", pdf)
             for m in [m.decode()]}
    assert sizes == {(595, 842)}, sizes  # A4 in points
    (SHOTS / "secretary-print.pdf").write_bytes(pdf)


def test_another_branch_shows_a_friendly_403(live, browser):
    sign_in(browser, live)
    browser.get(live.base + "/branches/B00003/report?period=2025-12")
    heading = wait_for(browser, "#error")
    assert heading.text == "无权查看" and heading.get_attribute("data-status") == "403"
    full_page_png(browser, SHOTS / "error-403.png")
    assert "只能查看本支部的报告" in browser.find_element(By.TAG_NAME, "body").text
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "打开本支部的报告"))
    assert "/branches/B00002/report" in browser.current_url and browser.find_element(By.ID, "lamp-badge")
    browser.get(live.base + "/branches/B00002/report?period=2024-01")
    assert wait_for(browser, "#error").text == "未找到"
    assert browser.find_element(By.PARTIAL_LINK_TEXT, "2025-12")


def test_signing_out_asks_for_the_login_again(live, browser):
    sign_in(browser, live)
    click_and_wait(browser, browser.find_element(By.ID, "logout"))
    assert "您已退出登录" in wait_for(browser, "#message").text
    browser.get(live.base + REPORT)
    assert wait_for(browser, "#token") and "/login" in browser.current_url
    full_page_png(browser, SHOTS / "login.png")


def test_the_platforms_link_signs_in_once(live, browser):
    status, _, body = call(f"{live.base}/v1/login-tickets", live.tokens["platform"], "POST",
                           {"branch_id": "B00002", "user": "张书记"})
    assert status == 201
    browser.get(live.base + body["url"])
    assert "张书记" in wait_for(browser, "#ticket-who").text
    click_and_wait(browser, browser.find_element(By.ID, "continue"))
    wait_for(browser, "#lamp-badge")
    assert "/branches/B00002/report" in browser.current_url
    assert "当前用户：张书记" in browser.find_element(By.CSS_SELECTOR, "nav.bar").text
    browser.delete_all_cookies()
    browser.get(live.base + body["url"])
    assert "登录链接无效" in wait_for(browser, "#message").text
    assert body["ticket"] not in live.log.read_text(encoding="utf-8")
