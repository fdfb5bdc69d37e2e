"""The overview page's ranges that cannot be shown say why and offer the way on, keeping the filters."""

from __future__ import annotations

import re


def _admin_sees(service, url: str, status: int, said: str, link_text: str) -> tuple[object, str]:
    """(the admin's client, the href of the page's link whose text matches the regex ``link_text``), once
    ``url`` answered ``status`` saying ``said`` and the link followed answered 200."""
    from tests.support.pages import login

    c = service.app.test_client()
    assert login(c, service.tokens["admin"], next_url="/overview").status_code == 303
    r = c.get(url)
    html = r.get_data(as_text=True)
    assert r.status_code == status and said in html, html[-1500:]
    link = re.search(rf'<a href="([^"]+)">{link_text}</a>', html)
    assert link, html[-1500:]
    assert c.get(link.group(1).replace("&amp;", "&")).status_code == 200
    return c, link.group(1)


def test_a_range_the_wrong_way_round_offers_it_the_right_way_keeping_the_filters(service):
    _, href = _admin_sees(service, "/overview?from=2025-12&to=2025-11&type=village", 422,
                          "起始月份 2025-12 晚于结束月份 2025-11", "查看 2025-11 至 2025-12")
    assert "type=village" in href


def test_a_range_with_no_diagnosed_month_says_which_months_are_and_links_to_them(service):
    _, href = _admin_sees(service, "/overview?from=2024-01&to=2024-06&type=village", 404,
                          "2024-01 至 2024-06 没有诊断数据；已诊断的月份为", r"查看最近的月份（至 \d{4}-\d{2}）")
    assert "type=village" in href and "from=" not in href
