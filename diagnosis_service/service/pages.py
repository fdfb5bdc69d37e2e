"""The secretary's pages: sign-in (a token, or a one-time ticket from the platform), the branch's month
as a workbench (zh by default, ?lang=en), and feedback on the month's plan from the page.

Page views read the request, check the login, the caller's scope and the form's CSRF token, then call
the pipeline (``report_data``, ``prescriptions.record_feedback``) as the API does; errors are pages.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date, datetime, timedelta, timezone

from flask import Blueprint, Response, g, redirect, render_template, request, session, url_for
from markupsafe import Markup

from ..errors import InputError
from ..periods import is_period, parse_day
from ..pipeline import prescriptions, report_data
from ..reports.branch import BranchReport, document
from ..reports.render import Controls, render_html
from ..store import metrics as metrics_store
from ..store import results as results_store
from ..store import served as served_store
from ..store import tickets as tickets_store
from ..store import tokens as tokens_store
from .auth import require_branch
from .db import get_db, runtime, snapshot, write
from .page_errors import PageProblem, page_lang, with_lang
from .page_text import PAGE_TEXT
from .session import check_csrf, csrf_token, end, start

bp = Blueprint("pages", __name__)

# The button is hidden until this runs: without JavaScript it would do nothing (the browser's own print works).
PRINT_JS = ("var p=document.getElementById('print');p.hidden=false;"
            "p.addEventListener('click',function(){window.print();});")
PRINT_JS_HASH = base64.b64encode(hashlib.sha256(PRINT_JS.encode()).digest()).decode()
# The pages' own inline style and the print button's one script; nothing else loads, nothing frames
# them, forms post only here.
CSP = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{PRINT_JS_HASH}'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
FEEDBACK_ROLES = ("platform", "secretary")  # as POST /v1/prescriptions/{id}/feedback
SAFE_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")  # a resource id fit for an address's fragment
SAFE_NEXT = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")  # a path of this site, in URL characters


@bp.after_app_request
def security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"  # a ticket in the address never leaves the site
        response.headers["Cache-Control"] = "no-store"  # a branch's report is not for shared caches
    return response


def _safe_next(url: object) -> str:
    """Where to go after the login: only a path of this site (no scheme, no host, no '//' or '/\\' that a
    browser reads as another host, no whitespace or control characters a browser would drop)."""
    return url if isinstance(url, str) and len(url) <= 2000 and SAFE_NEXT.fullmatch(url) else url_for("pages.index")


def login_redirect(next_url: str | None = None) -> Response:
    """To the login form, then back here (the address rebuilt percent-encoded, as the form accepts it)."""
    ended = "expired" if g.get("session_expired") else None
    here = url_for(request.endpoint, **(request.view_args or {}), **request.args.to_dict())
    return redirect(url_for("pages.login", next=next_url or here, lang=page_lang(), m=ended), code=303)


def _login_page(next_url: str, message_key: str | None = None, status: int = 200) -> Response:
    lang = page_lang()
    t = PAGE_TEXT[lang]
    kind = "notice" if message_key == "logged_out" else "error"
    body = render_template("login.html", t=t, lang=lang, next_url=next_url, csrf=csrf_token(),
                           message=t[message_key] if message_key else None, message_kind=kind)
    return Response(body, status=status, mimetype="text/html")


@bp.get("/login")
def login():
    key = "expired" if g.get("session_expired") else request.args.get("m")
    return _login_page(_safe_next(request.args.get("next", url_for("pages.index"))),
                       key if key in ("expired", "logged_out") else None)


@bp.post("/login")
def login_post():
    check_csrf()
    token = request.form.get("token", "").strip()
    identity = tokens_store.verify(get_db(), token) if token else None
    next_url = _safe_next(request.form.get("next", url_for("pages.index")))
    if identity is None:
        return _login_page(next_url, "bad_token", status=401)
    start("token_hash", tokens_store.token_hash(token))
    # In the language the login page was read in: the one chosen there wins over the address's.
    return redirect(with_lang(next_url, page_lang()), code=303)


@bp.get("/login/ticket/<ticket>")
def ticket_login(ticket: str):
    """A one-time link from the platform: a page that says who is signing in, with one button. The ticket
    is redeemed by the button (a POST), so a mail or chat preview that opens the link does not use it up."""
    lang = page_lang()
    found = tickets_store.peek(get_db(), ticket)
    if found is None:
        return _login_page(url_for("pages.index", lang=lang), "ticket_bad", status=403)
    branch = metrics_store.branch(get_db(), found[0]) or {}
    t, period = PAGE_TEXT[lang], request.args.get("period", "")
    month = t["ticket_month"].format(period=period) if is_period(period) else t["ticket_latest"]
    body = render_template("ticket.html", t=t, lang=lang, csrf=csrf_token(), user=found[1],
                           intro=t["ticket_intro"].format(user=found[1], branch=branch.get("name", found[0]),
                                                          month=month),
                           period=period, action=url_for("pages.ticket_post", ticket=ticket),
                           # the same link in the other language (looking does not use the ticket up)
                           other_lang=url_for("pages.ticket_login", ticket=ticket, lang="en" if lang == "zh" else "zh",
                                              period=period if is_period(period) else None))
    return Response(body, mimetype="text/html")


@bp.post("/login/ticket/<ticket>")
def ticket_post(ticket: str):
    check_csrf()
    ticket_id = write(lambda conn: tickets_store.redeem(conn, ticket))
    if ticket_id is None:  # used or expired meanwhile: a session already open stays open
        return _login_page(url_for("pages.index", lang=page_lang()), "ticket_bad", status=403)
    identity = tickets_store.identity(get_db(), ticket_id)
    start("ticket_id", ticket_id)
    period = request.form.get("period")
    return redirect(url_for("pages.branch_page", branch_id=identity.branch_id, lang=page_lang(),
                            period=period if is_period(period) else None), code=303)


@bp.post("/logout")
def logout():
    if g.get("identity") is not None:  # signing out of a session that already ended needs no token
        check_csrf()
    end()
    return redirect(url_for("pages.login", m="logged_out", lang=page_lang()), code=303)


@bp.get("/")
def index():
    """Home: a secretary goes straight to their branch's latest month, a street role to its street's
    overview; administrators choose a branch or open the overview."""
    identity = g.get("identity")
    if identity is None:
        return login_redirect()
    if identity.role == "secretary":
        return redirect(url_for("pages.branch_page", branch_id=identity.branch_id, lang=page_lang()), code=303)
    if identity.role == "street":
        return redirect(url_for("pages.overview_page", lang=page_lang()), code=303)
    lang = page_lang()
    periods = results_store.diagnosed_periods(get_db())
    return render_template("index.html", t=PAGE_TEXT[lang], lang=lang, periods=periods, csrf=csrf_token(),
                           user=identity.display_name, catalog_link=identity.role in ("admin", "platform"))


@bp.get("/open")
def open_branch():
    """The home page's form: to the branch's report (its id checked like any other)."""
    identity = g.get("identity")
    if identity is None:
        return login_redirect()
    t = PAGE_TEXT[page_lang()]
    branch_id = request.args.get("branch_id", "").strip()
    if not branch_id:
        raise PageProblem(422, t["branch_required"])
    # Typed as b00063: ids are written in capitals. Looked up only for roles that see every branch: to a
    # secretary or a street the answer must not tell which branches exist.
    if (identity.role in ("admin", "platform") and branch_id != branch_id.upper()
            and metrics_store.known_ids(get_db(), "branch", [branch_id.upper()])):
        branch_id = branch_id.upper()
    period = request.args.get("period")
    return redirect(url_for("pages.branch_page", branch_id=branch_id, lang=page_lang(),
                            period=period if is_period(period) else None), code=303)


def _period_for(branch_id: str, periods: list[str]) -> str:
    """The month asked for (?period), or the branch's latest; a page explaining what is wrong otherwise."""
    lang = page_lang()
    t = PAGE_TEXT[lang]
    asked = request.args.get("period")
    months = [(t["see_month"].format(period=p), url_for("pages.branch_page", branch_id=branch_id, period=p, lang=lang))
              for p in periods[::-1][:12]]
    if asked is not None and not is_period(asked):
        raise PageProblem(422, t["bad_period"].format(value=asked[:20]), months)
    if asked is None:
        if not periods:
            raise PageProblem(404, t["no_branch_diagnosis"])
        return periods[-1]
    if asked not in periods:
        text = t["no_diagnosis"].format(branch=branch_id, period=asked)
        if periods:
            text += ("" if page_lang() == "zh" else " ") + t["months_available"]  # no space between Chinese sentences
        raise PageProblem(404, text, months)
    return asked


@bp.get("/branches/<branch_id>/report")
def branch_page(branch_id: str):
    """The branch's month (支部党建诊疗报告) as a workbench: lamp, weaknesses, named lists, the plan
    with its feedback buttons, six months, the members' points."""
    identity = g.get("identity")
    if identity is None:
        return login_redirect()
    require_branch(branch_id)
    periods = results_store.subject_periods(get_db(), "branch", branch_id)
    if not periods and not metrics_store.known_ids(get_db(), "branch", [branch_id]):  # not "not diagnosed yet"
        raise PageProblem(404, PAGE_TEXT[page_lang()]["no_branch"].format(value=branch_id[:40]))
    period = _period_for(branch_id, periods)
    snap = snapshot()
    who = f"{identity.role}:{identity.name}"
    acts = identity.role in FEEDBACK_ROLES
    # The branch's first view of a month serves (and logs) its prescription list: a write, once; then reads
    # only. A supervisor's view (admin, street) is not the branch seeing a list: a preview, nothing logged
    # (the model learns from what was shown to branches).
    preview = report_data.needs_serving(get_db(), branch_id, period)
    if preview and acts:
        write(lambda conn: report_data.ensure_served(snap, conn, branch_id, period, who))
    data = report_data.build(report_data.from_store(snap, get_db(), branch_id, period, preview=not acts), snap)
    lang = page_lang()
    controls = _controls(data, branch_id, period, periods, lang, identity.display_name, acts,
                         preview=preview and not acts and bool(data.plan))
    return Response(render_html(document(data, snap.ruleset.registry, lang), controls), mimetype="text/html")


def _controls(data: BranchReport, branch_id: str, period: str, periods: list[str], lang: str, user: str,
              answers: bool, preview: bool = False) -> Controls:
    """The page's controls: the navigation, a notice, and under each plan item its feedback buttons (a
    role that answers) or the branch's answer (a role that supervises)."""
    t = PAGE_TEXT[lang]
    k = periods.index(period)
    csrf = csrf_token()
    nav = render_template("_nav.html", t=t, lang=lang, branch_id=branch_id, period=period, periods=periods,
                          prev=periods[k - 1] if k > 0 else None, next=periods[k + 1] if k + 1 < len(periods) else None,
                          csrf=csrf, user=user, print_js=PRINT_JS)
    notice, message = "", None
    saved = session.pop("notice", None)
    if isinstance(saved, dict) and saved.get("branch_id") == branch_id and saved.get("period") == period:
        message = (str(saved.get(lang, "")), "error" if saved.get("kind") == "error" else "notice",
                   saved.get("resource_id"))
    elif answers and request.args.get("unsaved") == "1":  # back from signing in again after a timed-out click
        message = (t["unsaved"], "error", None)
    today = district_today().isoformat()
    plan = {}
    for item in data.plan:
        if not item.prescription_ids:
            continue
        status = data.status(item)
        if not answers:
            plan[item.resource_id] = str(Markup('<p class="branch-status">{}<span class="status">{}</span></p>').format(
                t["branch_status"], _status_text(t, status)))
            continue
        here = message is not None and message[2] == item.resource_id
        plan[item.resource_id] = render_template(
            "_feedback.html", t=t, lang=lang, csrf=csrf, period=period, resource_id=item.resource_id,
            action=url_for("pages.feedback_post", branch_id=branch_id), status=status[0] if status else None,
            status_text=_status_text(t, status), today=today, first_day=f"{period}-01",
            # the day recorded, when the item is done: the form shows what was said, not today again
            done_on=status[1] if status and status[0] == "completed" and parse_day(status[1]) else today,
            message=message[:2] if here else None)
        if here:
            message = None
    if message is not None:  # an item no longer in the plan: said under the facts
        notice = str(Markup('<p class="{}" id="notice" role="status">{}</p>').format(message[1], message[0]))
    elif preview:
        notice = str(Markup('<p class="notice" id="notice" role="status">{}</p>').format(t["preview"]))
    return Controls(nav=nav, notice=notice, plan=plan)


def _status_text(t: dict, status: tuple[str, str] | None) -> str:
    return t[f"st_{status[0]}"].format(date=status[1]) if status else t["st_none"]


@bp.post("/branches/<branch_id>/feedback")
def feedback_post(branch_id: str):
    """采纳 / 不采纳 / 已完成 on an item of the month's plan: the same feedback as the API's, on every
    prescription of that resource in the branch's list for the month."""
    identity = g.get("identity")
    if identity is None:  # the session ended while the page was open: sign in, then back to the month
        period = request.form.get("period")
        # ``unsaved``: the month's page, once signed in again, says the answer was not recorded
        return login_redirect(url_for("pages.branch_page", branch_id=branch_id,
                                       period=period if is_period(period) else None, lang=page_lang(), unsaved=1))
    check_csrf()
    lang = page_lang()
    t = PAGE_TEXT[lang]
    if identity.role not in FEEDBACK_ROLES:
        raise PageProblem(403, t["not_yours_to_answer"], [(t["go"], url_for(
            "pages.branch_page", branch_id=branch_id, period=request.form.get("period") or None, lang=lang))])
    require_branch(branch_id)
    period, resource_id, status = (request.form.get(k, "") for k in ("period", "resource_id", "status"))
    if not is_period(period):
        raise PageProblem(422, t["bad_period"].format(value=period[:20]))
    body = {"status": status}
    if status == "completed":
        body["done_on"] = request.form.get("done_on", "")
    who = f"{identity.role}:{identity.name}"

    def step(conn) -> dict | None:
        items = [s for s in served_store.latest_list(conn, branch_id, period) or [] if s["resource_id"] == resource_id]
        if not items:
            return None
        for s in items:
            prescriptions.record_feedback(conn, s["prescription_id"], body, who)
        return items[0]

    back = url_for("pages.branch_page", branch_id=branch_id, period=period, lang=lang, _anchor="plan")
    # Back to the item answered, where its message is shown: in view, not at the top of the page.
    at_item = url_for("pages.branch_page", branch_id=branch_id, period=period, lang=lang,
                      _anchor=f"plan-{resource_id}") if SAFE_ID.fullmatch(resource_id) else back
    today = district_today()
    bad_day = {code: PAGE_TEXT[code]["bad_day"].format(first=f"{period}-01", today=today.isoformat())
               for code in PAGE_TEXT}
    day = parse_day(body.get("done_on")) if status == "completed" else None
    if day is not None and day > today:  # the API allows a day more (a caller's clock ahead): the page says today
        _notice(branch_id, period, bad_day, resource_id, "error")
        return redirect(at_item, code=303)
    try:
        item = write(step)
    except InputError as exc:
        if status == "completed" and any(p.field == ("done_on",) for p in exc.problems):
            _notice(branch_id, period, bad_day, resource_id, "error")
            return redirect(at_item, code=303)
        raise
    if item is None:
        raise PageProblem(404, t["not_in_list"], [(t["own_report"] if identity.role == "secretary" else t["go"], back)])
    when = body.get("done_on") or today.isoformat()
    _notice(branch_id, period, {code: PAGE_TEXT[code]["saved"].format(
        title=item.get(f"title_{code}", ""), status=PAGE_TEXT[code][f"st_{status}"].format(date=when))
        for code in PAGE_TEXT}, resource_id)
    return redirect(at_item, code=303)


def district_today() -> date:
    """Today on the district's clock (DIAGNOSIS_DISTRICT_UTC_OFFSET): a secretary's "today" at 7 in the
    morning in Beijing is the server's (UTC) yesterday."""
    offset = runtime().settings.district_utc_offset
    return datetime.now(timezone(timedelta(hours=offset))).date()


def _notice(branch_id: str, period: str, texts: dict[str, str], resource_id: str | None = None,
            kind: str = "notice") -> None:
    """A message shown once, on the next view of that month (Post/Redirect/Get), beside the plan item it
    is about."""
    session["notice"] = {"branch_id": branch_id, "period": period, "resource_id": resource_id, "kind": kind,
                         **texts}


__all__ = ["CSP", "SAFE_NEXT", "bp"]
