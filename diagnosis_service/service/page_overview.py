"""The district's and a street's overview as a page (/overview): the months' lamp rates as a chart, the
streets × months heat map, the top weaknesses and findings, and the branches of the last month with
links to their pages; the circular's workbooks to download. For district administrators (platform,
admin) and street roles (their street); a secretary has their branch's page instead.
"""

from __future__ import annotations

import functools

from flask import Response, abort, g, render_template, request, url_for

from ..periods import is_period, months_before, parse_period
from ..pipeline import exports, overview
from ..reports.labels import name_of, with_street_names
from ..reports.overview_page import render_html
from ..store import metrics as metrics_store
from ..store import results as results_store
from .api_overview import file_scope, workbook_response
from .auth import known_streets, scoped
from .db import get_db, snapshot
from .page_errors import PageProblem, page_lang
from .page_text import PAGE_TEXT
from .pages import PRINT_JS, bp, login_redirect
from .session import csrf_token

OVERVIEW_ROLES = ("platform", "admin", "street")
PAGE_SIZE = 100  # branches listed per page


def _identity():
    identity = g.get("identity")
    if identity is not None and identity.role not in OVERVIEW_ROLES:
        abort(403, description="the overview is for district administrators and street roles")
    return identity


def _arg(name: str) -> str | None:
    value = request.args.get(name, "").strip()
    return value or None


def _scope_args(t: dict, registry):
    street, branch_type = _arg("street"), _arg("type")
    if branch_type is not None and branch_type not in registry.branch_types:
        raise PageProblem(422, t["bad_type"].format(value=branch_type[:40]))
    if street is not None and g.identity.role != "street" and street not in known_streets():
        raise PageProblem(404, t["bad_street"].format(value=street[:40]))
    return scoped(street, branch_type)


@bp.get("/overview")
def overview_page():
    """Lamp rates month by month (the last twelve diagnosed, or ?from=&to=), streets side by side, the
    top weaknesses and the last month's branches, red first."""
    identity = _identity()
    if identity is None:
        return login_redirect()
    lang = page_lang()
    t = PAGE_TEXT[lang]
    snap = snapshot()
    registry = snap.ruleset.registry
    periods = results_store.diagnosed_periods(get_db())
    if not periods:
        raise PageProblem(404, t["no_months"])
    end, start = _arg("to") or periods[-1], _arg("from")
    for value in (end, start):
        if value is not None and not is_period(value):
            raise PageProblem(422, t["bad_period"].format(value=value[:20]))
    start = start or max(periods[0], months_before(end, 12)[0])
    if start > end:  # the way on: the same filters, the months the right way round
        swapped = {**{k: v for k, v in request.args.items() if k not in ("from", "to")}, "from": end, "to": start}
        raise PageProblem(422, t["bad_range"].format(start=start, end=end),
                          [(t["swap_range"].format(start=end, end=start), url_for("pages.overview_page", **swapped))])
    if parse_period(end) - parse_period(start) >= overview.MAX_MONTHS:
        raise PageProblem(422, t["long_range"].format(n=overview.MAX_MONTHS))
    if not any(start <= p <= end for p in periods):  # the way on: the same filters, the latest months
        kept = {k: v for k, v in request.args.items() if k not in ("from", "to")}
        raise PageProblem(404, t["range_empty"].format(start=start, end=end, first=periods[0], last=periods[-1]),
                          [(t["see_latest"].format(last=periods[-1]), url_for("pages.overview_page", **kept))])
    scope = _scope_args(t, registry)
    street_name = snap.street_names(lang)
    data = with_street_names(overview.from_store(get_db(), snap.ruleset, start, end, scope), street_name)
    type_name = functools.partial(name_of, registry.branch_types, lang=lang)
    streets = [] if identity.role == "street" else metrics_store.streets(get_db())
    args = {"from": start, "to": end, "street": scope.street if identity.role != "street" else None,
            "type": scope.branch_type}
    # The range shown is the range chosen, even where it has months not diagnosed: the form keeps it.
    choices = sorted(set(periods) | {start, end})
    nav = render_template("_overview_nav.html", t=t, lang=lang, periods=choices, start=start, end=end,
                          street=scope.street, streets=[(s, (street_name or str)(s) or s) for s in streets],
                          branch_type=scope.branch_type,
                          types=[(k, type_name(k)) for k in registry.branch_types], args=args,
                          last=data["last"], csrf=csrf_token(), user=identity.display_name, print_js=PRINT_JS,
                          kinds=exports.KINDS)
    extra = _branches(data, scope, lang, t, type_name, args, street_name) if data["last"] else ""
    return Response(render_html(data, lang, type_name, nav=nav, extra=extra), mimetype="text/html")


def _branches(data: dict, scope, lang: str, t: dict, type_name, args: dict, street_name) -> str:
    """The last month's branches of the scope, red first, paged, each linked to its page."""
    ranked = with_street_names(overview.branch_list(get_db(), data["last"], scope), street_name)
    pages = max(1, -(-len(ranked) // PAGE_SIZE))
    try:
        page = min(max(int(request.args.get("page", "1")), 1), pages)
    except ValueError:
        page = 1
    rows = ranked[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    return render_template(
        "_overview_branches.html", t=t, lang=lang, rows=rows, period=data["last"], page=page, pages=pages,
        total=len(ranked), type_name=type_name,
        prev_url=url_for("pages.overview_page", lang=lang, page=page - 1, **args) if page > 1 else None,
        next_url=url_for("pages.overview_page", lang=lang, page=page + 1, **args) if page < pages else None)


@bp.get("/overview/<kind>.xlsx")
def overview_export(kind: str):
    """The circular's workbooks for the page's users (their session; the API has GET /v1/exports)."""
    identity = _identity()
    if identity is None:
        return login_redirect()
    lang = page_lang()
    t = PAGE_TEXT[lang]
    period = _arg("period")
    if period is None or not is_period(period):
        raise PageProblem(422, t["bad_period"].format(value=(period or "")[:20]))
    snap = snapshot()
    scope = _scope_args(t, snap.ruleset.registry)
    periods = results_store.diagnosed_periods(get_db())
    if kind in exports.KINDS and period not in periods:  # an unknown kind is the generic 404 below
        raise PageProblem(404, t["no_month"].format(period=period), [
            (t["download"].format(period=p) if kind == "circular" else p, url_for("pages.overview_export", kind=kind, period=p, lang=lang,
                                                     street=_arg("street"), type=_arg("type")))
            for p in periods[::-1][:12]])
    data = exports.workbook(get_db(), snap.ruleset, period, kind, scope, lang, snap.street_names(lang))
    return workbook_response(data, kind, period, file_scope(scope, snap, lang), lang)
