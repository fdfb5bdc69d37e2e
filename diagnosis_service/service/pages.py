"""The secretary's page: the branch report as HTML (zh by default, ?lang=en), behind a token login."""

from __future__ import annotations

import html
import re

from flask import Blueprint, Response, g, redirect, request, session, url_for

from ..pipeline import report_data
from ..reports.branch import document
from ..reports.render import render_html
from ..store import tokens as tokens_store
from .auth import require_branch
from .db import get_db, snapshot, write
from .request_args import period_arg

bp = Blueprint("pages", __name__)

LOGIN = {
    "zh": ("登录", "请输入您的访问令牌（由管理员发放）", "令牌", "登录", "令牌无效或已停用"),
    "en": ("Sign in", "Enter your access token (issued by the administrator)", "Token", "Sign in",
           "The token is not valid or has been revoked"),
}


def _login_page(lang: str, next_url: str, error: bool = False, status: int = 200) -> Response:
    title, intro, label, button, bad = LOGIN[lang]
    e = html.escape
    body = f"""<!doctype html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{e(title)}</title>
<style>body{{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;max-width:28rem;margin:4rem auto;
padding:0 1rem}}input{{width:100%;padding:.5rem;margin:.5rem 0}}button{{padding:.5rem 1.5rem}}
.error{{color:#c62828}}</style></head><body>
<h1>{e(title)}</h1><p>{e(intro)}</p>{f'<p class="error">{e(bad)}</p>' if error else ''}
<form method="post" action="{e(url_for('pages.login_post'))}">
<input type="hidden" name="next" value="{e(next_url)}"><input type="hidden" name="lang" value="{e(lang)}">
<label>{e(label)}<input type="password" name="token" autocomplete="off" required></label>
<button type="submit">{e(button)}</button></form></body></html>"""
    return Response(body, status=status, mimetype="text/html")


def _lang() -> str:
    return "en" if request.values.get("lang") == "en" else "zh"


SAFE_NEXT = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")  # a path of this site, in URL characters


def _safe_next(url: str) -> str:
    """Where to go after the login: only a path of this site (no scheme, no host, no '//' or '/\\' that a
    browser reads as another host, no whitespace or control characters a browser would drop)."""
    return url if isinstance(url, str) and len(url) <= 2000 and SAFE_NEXT.fullmatch(url) else url_for("pages.login")


# The pages' own inline style; nothing else loads, nothing frames them, forms post only here.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


@bp.after_app_request
def security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"  # a branch's report is not for shared caches
    return response


@bp.get("/login")
def login():
    return _login_page(_lang(), request.args.get("next", "/"))


@bp.post("/login")
def login_post():
    token = request.form.get("token", "").strip()
    identity = tokens_store.verify(get_db(), token) if token else None
    next_url = _safe_next(request.form.get("next", "/"))
    if identity is None:
        return _login_page(_lang(), next_url, error=True, status=401)
    session.clear()
    session["token_hash"] = tokens_store.token_hash(token)
    return redirect(next_url, code=303)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("pages.login"), code=303)


@bp.get("/branches/<branch_id>/report")
def branch_page(branch_id: str):
    """The branch diagnosis report (支部党建诊疗报告) of a period, for its secretary."""
    if g.get("identity") is None:
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?"), lang=_lang()), code=303)
    require_branch(branch_id)
    period = period_arg()
    snap = snapshot()
    who = f"{g.identity.role}:{g.identity.name}"
    # The page serves (and logs) a prescription list when none was served yet: a write.
    inputs = write(lambda conn: report_data.from_store(snap, conn, branch_id, period, who))
    page = render_html(document(report_data.build(inputs, snap), snap.ruleset.registry, _lang()))
    return Response(page, mimetype="text/html")
