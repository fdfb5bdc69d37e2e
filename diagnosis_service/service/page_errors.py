"""Errors as pages a person can read (Chinese, or English with lang=en): what happened and what to do
next. Only requests for pages get them (the pages themselves, and unknown addresses a browser opens);
the API keeps answering application/problem+json."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Response, g, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from .page_text import PAGE_TEXT

STATUSES = (400, 403, 404, 405, 413, 422, 500, 503)


@dataclass
class PageProblem(Exception):
    """An error a page view explains in its own words (``text`` is already in the page's language)."""

    status: int
    text: str
    links: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (label, href) of what to do next


def page_lang() -> str:
    """zh, or en when the address or the posted form says lang=en. The form is read only when it can be:
    an error page for a body too large (413) must not parse that body again."""
    lang = request.args.get("lang")
    if lang is None and request.method == "POST":
        try:
            lang = request.form.get("lang")
        except HTTPException:
            lang = None
    return "en" if lang == "en" else "zh"


def with_lang(url: str, lang: str) -> str:
    """``url`` (a path of this site, with its query) with ``lang`` as its one language parameter."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"] + [("lang", lang)]
    return urlunsplit(("", "", parts.path, urlencode(query), parts.fragment))


def wants_page() -> bool:
    """A page (or an address a browser opened) gets an HTML error; an API call gets problem+json."""
    if request.blueprint == "pages":
        return True
    if request.blueprint is not None or request.path.startswith("/v1/") or request.path == "/openapi.json":
        return False
    best = request.accept_mimetypes.best_match(["application/json", "application/problem+json", "text/html"])
    return best == "text/html"


def default_links(status: int, lang: str) -> list[tuple[str, str]]:
    t = PAGE_TEXT[lang]
    identity = g.get("identity")
    links = []
    if identity is not None and identity.role == "secretary" and status in (403, 404):
        links.append((t["own_report"], url_for("pages.branch_page", branch_id=identity.branch_id, lang=lang)))
    if identity is not None and identity.role == "street" and status in (403, 404):
        links.append((t["own_overview"], url_for("pages.overview_page", lang=lang)))
    if identity is None and status in (400, 403):
        links.append((t["to_login"], url_for("pages.login", lang=lang)))
    links.append((t["to_home"], url_for("pages.index", lang=lang)))
    return links


def error_page(status: int, text: str | None = None, links: Sequence[tuple[str, str]] | None = None,
               details: Sequence[str] = ()) -> Response:
    lang = page_lang()
    t = PAGE_TEXT[lang]
    shown = status if status in STATUSES else (500 if status >= 500 else 400)
    if text is None and shown == 403:  # what this account may see, said for its role
        identity = g.get("identity")
        role = f"e403_{identity.role}" if identity is not None else ""
        text = t["e403_text"] + (" " if lang == "en" and t.get(role) else "") + t.get(role, "")
    # The same address in the other language (a GET only: a form's answer cannot be asked for again).
    other = with_lang(request.full_path, "en" if lang == "zh" else "zh") if request.method == "GET" else None
    body = render_template("error.html", t=t, lang=lang, status=status, title=t[f"e{shown}"], other_lang=other,
                           text=text or t[f"e{shown}_text"], links=list(links) if links else default_links(status, lang),
                           details=list(details), request_id=g.get("request_id") if status >= 500 else None)
    return Response(body, status=status, mimetype="text/html")


__all__ = ["PageProblem", "error_page", "page_lang", "wants_page", "with_lang"]
