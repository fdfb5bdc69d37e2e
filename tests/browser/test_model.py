"""A district administrator reads the ranking model's page in Chromium: from home, what ranks now and why,
the verdicts newest first with their evidence, and English; a secretary may not open it. Screenshots under
var/screenshots/."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.browser.test_secretary import SHOTS, click_and_wait, sign_in, wait_for
from tests.support.browser import full_page_png
from tests.support.verdicts import record

pytestmark = [pytest.mark.server]


def test_an_administrator_reads_what_ranks_and_every_verdict(live, browser):
    models = live.log.parent / "models"  # the server's DIAGNOSIS_MODELS (tests/browser/conftest.py)
    record(models, "refused", "learned:aaa", "2025-11-01T00:00:00Z", difference=-0.0123, reason="estimated worse",
           reason_zh="估计更差")
    record(models, "on trial", "learned:bbb", "2025-12-01T00:00:00Z", trial_ended="learned:aaa")
    record(models, "promoted", "learned:ccc", "2026-01-01T00:00:00Z", name="learned:ddd")
    sign_in(browser, live, "admin", "/")
    click_and_wait(browser, wait_for(browser, "#open-model"))
    assert "/model" in browser.current_url and wait_for(browser, "h1").text == "推荐模型"
    assert "先验" in browser.find_element(By.ID, "model-serving").text  # no model file in this server's directory
    assert "共 3 条裁决" in browser.find_element(By.ID, "model-counts").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#verdicts tbody tr")
    cells = [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert [c[1].split("\n")[0] for c in cells] == ["已启用", "试用", "未启用"]  # newest first
    assert "估计更好但把握不足" in cells[1][1] and cells[1][1].endswith("learned:aaa 的试用结束") and "（其中 2 个月交叉拟合）" in cells[0][5]
    assert "尚未训练过候选模型" in browser.find_element(By.ID, "model-routine").text  # the routine is on by default
    assert cells[0][2].startswith("learned:ccc") and "learned:ddd" in cells[0][2]  # its refit serves
    assert cells[2][4].startswith("-0.0123") and cells[2][6] == "估计更差"
    assert "2025-11 至 2025-12，240 个决策，有效样本 9.6" in cells[2][5] and cells[2][7] == "admin（命令行）"
    assert str(models) not in browser.page_source
    assert browser.find_element(By.ID, "verdicts").size["width"] > 700  # the wide layout
    full_page_png(browser, SHOTS / "model-admin-zh.png")

    click_and_wait(browser, browser.find_element(By.ID, "other-lang"))
    assert wait_for(browser, "h1").text == "The ranking model"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    english = [r.find_elements(By.TAG_NAME, "td") for r in browser.find_elements(By.CSS_SELECTOR, "#verdicts tbody tr")]
    assert [c[1].text.split("\n")[0] for c in english] == ["promoted", "on trial", "refused"]
    assert english[2][6].text == "estimated worse" and "the trial of learned:aaa ended" in english[1][1].text
    full_page_png(browser, SHOTS / "model-admin-en.png")


def test_a_secretary_cannot_open_the_model_page(live, browser):
    sign_in(browser, live, "secretary", "/model")
    assert "无权查看" in wait_for(browser, "h1").text and "learned:" not in browser.page_source
