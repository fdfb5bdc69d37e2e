"""The remedy catalog as a page for district administrators (/catalog): every resource of the active
version with its use (times served, adoption) and what the model learned of it, filtered by kind,
topic, street and status; the workbook to download, edit and import (docs/catalog.md)."""

from __future__ import annotations

from flask import Response, abort, g, render_template, request, url_for

from ..pipeline.catalog_xlsx import export_xlsx
from ..remedies.catalog import FORMAT_NAMES, KIND_NAMES
from ..remedies.catalog_sheets import XLSX_MIME
from ..store import metrics as metrics_store
from ..store import served as served_store
from ..store.catalogs import CATALOGS
from .db import get_db, runtime, snapshot
from .page_errors import PageProblem, page_lang
from .page_text import PAGE_TEXT
from .pages import bp, login_redirect
from .session import csrf_token

CATALOG_ROLES = ("admin", "platform")
PAGE_SIZE = 200
STATUSES = ("all", "active", "retired")


def _identity():
    identity = g.get("identity")
    if identity is not None and identity.role not in CATALOG_ROLES:
        abort(403, description="the catalog page is for district administrators")
    return identity


def _active(t: dict):
    active = runtime().catalog()
    if active is None:
        raise PageProblem(503, t["catalog_missing"])
    return active


def _filters(t: dict, registry, streets: list[str]) -> dict:
    args = {k: request.args.get(k, "").strip() or None for k in ("kind", "topic", "street", "q")}
    args["status"] = request.args.get("status", "all")
    for name, allowed in (("kind", KIND_NAMES), ("topic", registry.topics), ("street", streets),
                          ("status", STATUSES)):
        if args[name] is not None and args[name] not in allowed:  # an address edited by hand: start again
            raise PageProblem(422, t["bad_filter"].format(what=t["status_label" if name == "status" else name],
                                                          value=args[name][:40]),
                              [(t["catalog_title"], url_for("pages.catalog_page", lang=page_lang()))])
    if args["q"] is not None:
        args["q"] = args["q"][:100]
    return args


def _keep(r, f: dict) -> bool:
    q = (f["q"] or "").lower()
    return ((f["kind"] is None or r.kind == f["kind"]) and (f["topic"] is None or f["topic"] in r.topics)
            and (f["street"] is None or not r.streets or f["street"] in r.streets)
            and (f["status"] == "all" or r.active == (f["status"] == "active"))
            and (not q or q in r.id.lower() or q in r.title_zh.lower() or q in r.title_en.lower()))


@bp.get("/catalog")
def catalog_page():
    """The active catalog version's resources, 200 a page, by kind and id."""
    identity = _identity()
    if identity is None:
        return login_redirect()
    lang = page_lang()
    t = PAGE_TEXT[lang]
    active = _active(t)  # the catalog first: without one there is nothing to list
    snap = snapshot()
    registry = snap.ruleset.registry
    conn = get_db()
    streets = metrics_store.streets(conn) or list(active.catalog.streets)
    f = _filters(t, registry, sorted(set(streets) | set(active.catalog.streets)))
    order = list(KIND_NAMES)
    chosen = sorted((r for r in active.catalog.resources if _keep(r, f)), key=lambda r: (order.index(r.kind), r.id))
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    try:
        page = min(max(int(request.args.get("page", "1")), 1), pages)
    except ValueError:
        page = 1
    counts = served_store.resource_counts(conn)
    model = getattr(snap.ranker, "model", None)
    rows = []
    for r in chosen[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]:
        served, answered, adopted = counts.get(r.id, (0, 0, 0))
        effect = n = None
        if model is not None:
            n = model.evidence(r.id)
            effect = model.coef_.get(f"resource={r.id}", 0.0) if n else None
        types = ", ".join(_name(registry.branch_types, b, lang) for b in r.branch_types) or t["all_types_short"]
        rows.append({
            "id": r.id, "title": r.title(lang), "kind": KIND_NAMES[r.kind][0 if lang == "zh" else 1],
            "topics": [_name(registry.topics, x, lang) for x in r.topics],
            "format": FORMAT_NAMES[r.format][0 if lang == "zh" else 1],
            "where": (", ".join(r.streets if lang == "zh" else (active.catalog.street_en(s) for s in r.streets))
                      or t["everywhere"]) + " · " + types,
            "active": r.active, "served": served,
            "adoption": f"{adopted / answered:.0%} ({adopted}/{answered})" if answered else "—",
            "effect": f"{effect * 100:+.0f}% (n={n})" if effect is not None else "—"})
    row = CATALOGS.get(conn, active.version) or {}
    when = row.get("created_at")
    args = {k: v for k, v in f.items() if v and not (k == "status" and v == "all")}
    return render_template(
        "catalog.html", t=t, lang=lang, rows=rows, f=f, args=args, csrf=csrf_token(), user=identity.display_name,
        version=t["catalog_version"].format(version=active.version, digest=active.catalog.version,
                                            # 系统于, not 系统 于: a space only beside a Latin id (admin 于)
                                            author=t["system"] if row.get("author") == "system" else
                                            row.get("author", "?") + (" " if lang == "zh" else ""),
                                            when=when.strftime("%Y-%m-%d %H:%M") if when else "?",
                                            # the first version's, stored in English: said in the page's words
                                            comment=t["bundled"] if row.get("author") == "system" and
                                            row.get("comment") == "bundled catalog" else row.get("comment", "")),
        summary=t["catalog_counts"].format(total=len(active.catalog.resources),
                                           active=sum(r.active for r in active.catalog.resources), shown=len(chosen)),
        kinds=[(k, v[0 if lang == "zh" else 1]) for k, v in KIND_NAMES.items()],
        topics=[(k, _name(registry.topics, k, lang)) for k in registry.topics],
        streets=[(s, s if lang == "zh" else active.catalog.street_en(s)) for s in sorted(active.catalog.streets)],
        model=model is not None, page=page, pages=pages,
        prev_url=url_for("pages.catalog_page", lang=lang, page=page - 1, **args) if page > 1 else None,
        next_url=url_for("pages.catalog_page", lang=lang, page=page + 1, **args) if page < pages else None)


def _name(table, key: str, lang: str) -> str:
    named = table.get(key)
    return key if named is None else (named.name_zh if lang == "zh" else named.name_en)


@bp.get("/catalog.xlsx")
def catalog_export():
    """The active catalog as a workbook (the page's users; the API has GET /v1/catalog?format=xlsx)."""
    identity = _identity()
    if identity is None:
        return login_redirect()
    active = _active(PAGE_TEXT[page_lang()])
    resp = Response(export_xlsx(active.catalog, snapshot().ruleset.registry, active.version), mimetype=XLSX_MIME)
    resp.headers["Content-Disposition"] = f'attachment; filename="catalog-v{active.version}.xlsx"'
    return resp
