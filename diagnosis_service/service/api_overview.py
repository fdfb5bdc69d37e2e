"""The district's view: the overview of a range of months and the monthly circular's workbooks."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..pipeline import exports, overview
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


def workbook_response(data: bytes, kind: str, period: str) -> Response:
    """A workbook as a download named after its kind and month."""
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = f'attachment; filename="{kind}-{period}.xlsx"'
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
    return workbook_response(data, kind, period)
