"""A street party worker and a district administrator in Chromium: the overview's chart, heat map and
branch list, the street's scope, choosing a street and a language, and the circular's workbook.
Screenshots are saved under var/screenshots/."""

from __future__ import annotations

import io
import re
import urllib.request

import pytest
from openpyxl import load_workbook
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import create_engine, select

from diagnosis_service.remedies.catalog_files import load_catalog
from diagnosis_service.rules import load_ruleset
from diagnosis_service.store.schema import branches
from tests.browser.test_secretary import SHOTS, click_and_wait, sign_in, wait_for
from tests.support.browser import full_page_png
from tests.support.paths import CATALOG, RULES

pytestmark = [pytest.mark.server]


@pytest.fixture(scope="module")
def streets(live):
    engine = create_engine(live.db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(branches.c.branch_id, branches.c.street)).all()
    engine.dispose()
    return dict(rows)


def test_a_street_worker_sees_her_streets_months_and_branches(live, browser, streets):
    sign_in(browser, live, "street", "/")
    assert browser.current_url.startswith(live.base + "/overview")
    street = streets["B00002"]
    mine = sorted(b for b, s in streets.items() if s == street)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert street in browser.find_element(By.TAG_NAME, "h1").text
    # The chart: four lines' points for each of the two diagnosed months, with Chinese labels.
    chart = browser.find_element(By.CSS_SELECTOR, "#trend svg.chart")
    assert len(chart.find_elements(By.TAG_NAME, "circle")) == 4 * 2
    assert "支部红黄灯率" in chart.text and "2025-12" in chart.text
    assert chart.size["width"] > 300 and chart.size["height"] > 100
    # Only her street, in the heat map and in the branch list; no street to choose.
    heat_rows = browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "td.street").text for r in heat_rows] == [street]
    assert not browser.find_elements(By.ID, "street-select")
    listed = [r.get_attribute("data-branch") for r in browser.find_elements(By.CSS_SELECTOR, "#branches tbody tr")]
    assert sorted(listed) == mine
    assert "党员红黄灯率" in browser.find_element(By.ID, "change").text
    full_page_png(browser, SHOTS / "overview-street-zh.png")
    # A branch of the list opens its page; a branch of another street is refused.
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, f"#branches tr[data-branch='{mine[0]}'] a"))
    assert f"/branches/{mine[0]}/report" in browser.current_url
    assert wait_for(browser, "#lamp-badge").text in ("红灯", "黄灯", "绿灯")
    other = next(b for b, s in sorted(streets.items()) if s != street)
    browser.get(f"{live.base}/branches/{other}/report?period=2025-12")
    assert "无权查看" in wait_for(browser, "h1").text


def test_an_administrator_chooses_a_street_and_a_language_and_downloads_the_circular(live, browser, streets):
    sign_in(browser, live, "admin", "/overview")
    all_streets = sorted(set(streets.values()))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")) == len(all_streets)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#branches tbody tr")) == len(streets)
    # Red branches come first in the list.
    lamps = [e.get_attribute("class").split("lamp-")[-1] for e in browser.find_elements(By.CSS_SELECTOR,
                                                                                           "#branches .lamp")]
    order = {"red": 0, "yellow": 1, "green": 2}
    assert [order[x] for x in lamps] == sorted(order[x] for x in lamps)
    # The year's points per member rounded as the branch's own page rounds them (two places).
    means = [r.find_elements(By.CSS_SELECTOR, "td.num")[-1].text
             for r in browser.find_elements(By.CSS_SELECTOR, "#branches tbody tr")]
    assert means and all(m == "—" or re.fullmatch(r"\d+\.\d\d", m) for m in means), means[:5]
    # At 1280 px the bar is two rows by design: links with the user and sign-out at the right end of the
    # first (sign-out once wrapped alone onto a line of its own), the filters under them.
    home, logout = browser.find_element(By.LINK_TEXT, "首页"), browser.find_element(By.ID, "logout")
    filters = browser.find_element(By.ID, "overview-form")
    assert browser.get_window_size()["width"] == 1280
    assert abs(logout.location["y"] - home.location["y"]) < home.size["height"]
    assert logout.location["x"] > browser.find_element(By.ID, "download-circular").location["x"]
    assert filters.location["y"] >= home.location["y"] + home.size["height"]
    full_page_png(browser, SHOTS / "overview-zh.png")
    street = streets["B00003"]
    Select(browser.find_element(By.ID, "street-select")).select_by_value(street)
    click_and_wait(browser, browser.find_element(By.ID, "overview-go"))
    assert street in browser.find_element(By.TAG_NAME, "h1").text
    listed = {r.get_attribute("data-branch") for r in browser.find_elements(By.CSS_SELECTOR, "#branches tbody tr")}
    assert listed == {b for b, s in streets.items() if s == street}
    click_and_wait(browser, browser.find_element(By.ID, "other-lang"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "Diagnosis overview" in browser.find_element(By.TAG_NAME, "h1").text
    # The street stays chosen, shown by its English name (the data spells it in Chinese, the form sends that).
    english = load_catalog(CATALOG, load_ruleset(RULES).registry).street_en
    assert english(street) != street and english(street) in browser.find_element(By.TAG_NAME, "h1").text
    chosen = Select(browser.find_element(By.ID, "street-select")).first_selected_option
    assert (chosen.get_attribute("value"), chosen.text) == (street, english(street))
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in browser.find_element(By.ID, "heatmap").text)
    assert "branch lamp rate" in browser.find_element(By.CSS_SELECTOR, "#trend svg").text
    full_page_png(browser, SHOTS / "overview-en.png")
    # The circular: the link downloads, with the page's session, the street's workbook in English.
    href = browser.find_element(By.ID, "download-circular").get_attribute("href")
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies())
    req = urllib.request.Request(href, headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("application/vnd.openxmlformats")
        book = load_workbook(io.BytesIO(resp.read()), read_only=True)
    assert book.sheetnames[:3] == ["Summary", "Branch lamps", "Member lamps"]
    rows = list(book["Branch lamps"].iter_rows(values_only=True))
    assert rows[0][0] == "Branch id" and {r[2] for r in rows[1:]} == {english(street)}
    # A street typed into the address that has no branch: told so, not shown an empty district.
    browser.get(f"{live.base}/overview?street=不存在镇")
    assert "“不存在镇”没有支部" in wait_for(browser, "body").text


def test_a_secretary_has_no_overview(live, browser):
    sign_in(browser, live, "secretary", "/overview")
    assert "无权查看" in wait_for(browser, "h1").text


def test_a_branch_page_shows_what_is_still_to_do(live, browser):
    """November is the quarter's second month and the year's eleventh: the page lists the reminders
    (待办提醒) above the weaknesses, each saying by when."""
    import json

    from diagnosis_service.store.schema import results

    engine = create_engine(live.db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(results.c.subject_id, results.c.body).where(
            results.c.period == "2025-11", results.c.subject == "branch")).all()
    engine.dispose()
    reminded = {sid: [f for f in json.loads(body)["findings"] if f["severity"] == "reminder"] for sid, body in rows}
    branch_id, found = next((sid, fs) for sid, fs in sorted(reminded.items()) if fs)
    sign_in(browser, live, "admin", f"/branches/{branch_id}/report?period=2025-11")
    section = wait_for(browser, "section#reminders")
    assert section.text.startswith("待办提醒")
    assert all(f["message_zh"] in section.text for f in found)
    order = [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "section[id]")]
    assert order.index("reminders") < order.index("weaknesses")
    full_page_png(browser, SHOTS / "reminders-zh.png")
