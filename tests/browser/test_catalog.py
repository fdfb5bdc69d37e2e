"""A district administrator keeps the catalog in Chromium: the catalog page from home, its filters, a
resource retired through the API seen as retired on the page, and English. Screenshots under
var/screenshots/."""

from __future__ import annotations

import json
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.test_secretary import SHOTS, click_and_wait, sign_in, wait_for
from tests.support.browser import full_page_png

pytestmark = [pytest.mark.server]


def _api(live, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(live.base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {live.tokens['admin']}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 -- 127.0.0.1 only
        return json.loads(resp.read())


def test_an_administrator_finds_filters_and_sees_a_retired_resource(live, browser):
    sign_in(browser, live, "admin", "/")
    click_and_wait(browser, wait_for(browser, "#open-catalog"))
    assert "/catalog" in browser.current_url and wait_for(browser, "h1").text == "锋领汇资源库"
    assert "共 376 项资源" in browser.find_element(By.ID, "catalog-summary").text
    assert "当前版本 1" in browser.find_element(By.ID, "catalog-version").text
    # Bases for one town: the filters are plain selects, as a secretary's browser has them.
    Select(browser.find_element(By.ID, "kind-select")).select_by_value("base")
    Select(browser.find_element(By.ID, "street-select")).select_by_visible_text("古林镇")
    click_and_wait(browser, browser.find_element(By.ID, "filter-go"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#catalog-table tbody tr")
    assert rows and all(r.find_elements(By.TAG_NAME, "td")[2].text == "组织生活基地" for r in rows)
    assert all("古林镇" in r.find_elements(By.TAG_NAME, "td")[5].text or "全区" in r.find_elements(
        By.TAG_NAME, "td")[5].text for r in rows)
    table = browser.find_element(By.ID, "catalog-table")
    assert table.size["width"] > 700  # the wide layout, not the report's narrow column
    full_page_png(browser, SHOTS / "catalog-admin-zh.png")

    # Retire the first listed base through the API: the page shows it retired at once (no restart).
    target = rows[0].get_attribute("id").removeprefix("res-")
    active = _api(live, "GET", "/v1/catalog")
    name, text = next((n, t) for n, t in active["files"].items() if f"- id: {target}\n" in t)
    start = text.index(f"- id: {target}\n")
    end = text.find("- id:", start + 1)
    end = len(text) if end < 0 else end
    changed = text[:start] + text[start:end].replace("active: true", "active: false") + text[end:]
    _api(live, "PUT", "/v1/catalog", {"files": {name: changed}, "comment": f"{target} closed",
                                      "base_version": active["version"]})
    browser.get(f"{live.base}/catalog?status=retired")
    retired = wait_for(browser, f"#res-{target}")
    assert "retired" in retired.get_attribute("class") and "已停用" in retired.text
    assert f"当前版本 {active['version'] + 1}" in browser.find_element(By.ID, "catalog-version").text
    assert f"{target} closed" in browser.find_element(By.ID, "catalog-version").text

    click_and_wait(browser, browser.find_element(By.ID, "other-lang"))
    assert wait_for(browser, "h1").text == "Remedy catalog (锋领汇)"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "Retired" in browser.find_element(By.ID, f"res-{target}").text
    full_page_png(browser, SHOTS / "catalog-admin-en.png")
    # Roll back, so the module's other tests see the shipped catalog.
    _api(live, "POST", f"/v1/catalog/versions/{active['version']}/activate")


def test_a_secretary_cannot_open_the_catalog_page(live, browser):
    sign_in(browser, live, "secretary", "/catalog")
    assert "无权查看" in wait_for(browser, "h1").text
