"""The district's view: the overview of a range of months and the monthly circular's workbooks."""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from ..pipeline import exports, overview
from ..pipeline.rankings import Scope
from ..pipeline.snapshot import Snapshot
from .auth import roles, scoped
from .db import get_db, snapshot
from .request_args import choice_arg, int_arg, period_arg

bp = Blueprint("overview", __name__, url_prefix="/v1")


@bp.get("/overview")
@roles("platform", "admin", "street")
def get_overview():
    """Branches and members by lamp for each month from ``from`` to ``to``, the changes, the most frequent
    weaknesses and findings, streets side by side and the branches red 2+ months in a row (a street
    role: its street's)."""
    period_from = period_arg("from")
    period_to = period_arg("to")
    branch_type = choice_arg("type", tuple(snapshot().ruleset.registry.branch_types))
    top = int_arg("top", overview.TOP, 1, 100)
    scope = scoped(request.args.get("street"), branch_type)
    return jsonify(overview.from_store(get_db(), snapshot().ruleset, period_from, period_to, scope, top))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook_response(data: bytes, kind: str, period: str, scope_parts: tuple[str | None, ...] = (),
                      lang: str = "zh") -> Response:
    """A workbook as a download named after its kind, month, scope (street, type) and language, so that
    the downloads of two filters do not overwrite each other: ``circular-2025-12-古林镇-village-en.xlsx``
    (RFC 6266: UTF-8 in ``filename*``, an ASCII ``filename`` without the parts that are not ASCII)."""
    parts = [kind, period, *(p for p in scope_parts if p), *(["en"] if lang == "en" else [])]
    safe = [re.sub(r"[^\w.-]+", "_", p).strip("_") for p in parts]
    ascii_name = "-".join(p for p in safe if p.isascii() and p) + ".xlsx"
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = (f'attachment; filename="{ascii_name}"; '
                                               f"filename*=UTF-8''{quote('-'.join(safe) + '.xlsx')}")
    return response


@bp.get("/exports/<kind>.xlsx")
@roles("platform", "admin", "street")
def export(kind: str):
    """A workbook of the monthly circular for a period: ``circular`` (all sheets), ``branch-lamps``,
    ``member-lamps``, ``rankings``, ``weaknesses`` or ``dues`` (a street role: its street's)."""
    period = period_arg()
    branch_type = choice_arg("type", tuple(snapshot().ruleset.registry.branch_types))
    lang = choice_arg("lang", ("zh", "en")) or "zh"
    scope = scoped(request.args.get("street"), branch_type)
    snap = snapshot()
    data = exports.workbook(get_db(), snap.ruleset, period, kind, scope, lang, snap.street_names(lang))
    return workbook_response(data, kind, period, file_scope(scope, snap, lang), lang)


def file_scope(scope: Scope, snap: Snapshot, lang: str) -> tuple[str | None, ...]:
    """The scope as a file name says it: the street (by its English name in English) and the type."""
    names = snap.street_names(lang)
    return (names(scope.street) if names and scope.street else scope.street), scope.branch_type
