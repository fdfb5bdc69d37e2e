"""Signing in to the pages as a browser does: the form's CSRF token first, then the token."""

from __future__ import annotations

import re

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def login(client, token: str, next_url: str = "/branches/B00002/report?period=2025-12", lang: str = "zh"):
    """GET the login form (its CSRF token), then POST the token: the response of the POST."""
    form = client.get(f"/login?lang={lang}")
    return client.post("/login", data={"token": token, "next": next_url, "csrf": csrf_of(form.get_data(as_text=True)),
                                       "lang": lang})
