"""GET /openapi.json: an OpenAPI 3.1 description of every endpoint, its schemas and its auth.

Written by hand (the schemas are the contract the platform codes against); a test checks that every
route of the application is described here and schemathesis checks responses against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flask import Blueprint, jsonify

from .. import __version__
from ..rules.model import Indicator
from . import openapi_catalog, openapi_data, openapi_jobs, openapi_model, openapi_points, openapi_webhooks
from .auth import READERS, roles
from .db import snapshot
from .openapi_schemas import ID_SCHEMA, ID_TEXT, ONE_LINE, PERIOD, SCHEMAS, SUBJECT_ID, q, ref

bp = Blueprint("openapi", __name__)

ERRORS = {
    "400": "Malformed request (not JSON)", "401": "No or bad token", "403": "The role may not do this",
    "404": "Not found", "405": "Method not allowed", "409": "Not possible in the current state",
    "413": "Body too large", "422": "Validation failed: see errors",
    "503": "Not ready, or the database is down or slow: try again after Retry-After seconds",
}


def _responses(ok: str, schema: dict | None, codes: tuple[str, ...], media: str = "application/json") -> dict:
    out = {ok: {"description": "OK", "content": {media: {"schema": schema}} if schema else {}}}
    if not schema:
        out[ok].pop("content")
    for code in codes:
        out[code] = {"description": ERRORS[code],
                     "content": {"application/problem+json": {"schema": ref("Problem")}}}
    return out


def _op(summary: str, roles_: tuple[str, ...], ok: str, schema: dict | None, *, body: dict | None = None,
        params: list[dict] | None = None, codes: tuple[str, ...] = (), secured: bool = True,
        media: str = "application/json", body_required: bool = True) -> dict:
    op = {"summary": summary, "description": f"Roles: {', '.join(roles_)}." if secured else "No token needed.",
          "responses": _responses(ok, schema, (("401", "403", "503") if secured else ()) + codes, media)}
    if not secured:
        op["security"] = []
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": body}}}
    return op


def p(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


PERIOD_Q = q("period", PERIOD, True, "YYYY-MM")
STREET_Q = q("street", ID_TEXT | {"maxLength": 100},
             description="a street (街道/镇); one no branch is in: 404 naming the streets (platform, admin)")
ALL = READERS
YAML_FILE_Q = q("file", ONE_LINE | {"maxLength": 100},
                description="with a YAML body (Content-Type: application/yaml): which file it is, e.g. lamps.yaml")
ADMIN_READ = ("platform", "admin")


def document(topics: tuple[str, ...] = (), branch_types: tuple[str, ...] = (),
             indicators: Mapping[str, Sequence[Indicator]] | None = None) -> dict:
    """The document; ``topics`` and ``branch_types`` (the registry's ids) make those parameters enums;
    ``indicators`` (subject -> the indicators a platform reports) describe a metric row field by field."""
    topic_schema = {"enum": list(topics)} if topics else {"type": "string"}
    type_q = q("type", {"enum": list(branch_types)} if branch_types else {"type": "string"},
               description="a branch type id")
    paths = {
        "/healthz": {"get": _op("Liveness", (), "200", ref("Health"), secured=False)},
        "/readyz": {"get": _op("Readiness: database, schema, rules, catalog, ranking (the first failing one as "
                               "'reason'; every check's details for a platform or admin token)", (), "200",
                               ref("Ready"), secured=False)
                    | {"responses": {**_responses("200", ref("Ready"), ()),
                                     "503": {"description": "Not ready",
                                             "content": {"application/json": {"schema": ref("Ready")}}}}}},
        "/v1/indicators": {"get": _op("The indicator registry", ALL, "200", ref("Indicators"))},
        "/v1/catalog/resources": {"get": _op(
            "Catalog resources", ALL, "200", ref("Catalog"), codes=("409", "422"),
            params=[q("kind", {"enum": ["lecturer", "lesson", "video", "base", "activity"]}),
                    q("topic", topic_schema)])},
        "/v1/periods/{period}/metrics": {"put": _op(
            "Store a period's metrics (all or nothing, idempotent, corrections recorded)", ("platform",), "200",
            ref("MetricsPutResult"), body=ref("MetricsPut"), params=[p("period", PERIOD)],
            codes=("400", "413", "422"))},
        "/v1/branches/{branch_id}/diagnosis": {"get": _op(
            "A branch's diagnosis", ALL, "200", ref("BranchResult"), params=[p("branch_id"), PERIOD_Q],
            codes=("404", "422"))},
        "/v1/members/{member_id}/report": {"get": _op(
            "A member's report: points, ranks, lamp, findings", ALL, "200", ref("MemberReport"),
            params=[p("member_id"), PERIOD_Q], codes=("404", "422"))},
        "/v1/events": {"post": _op("One subject's new values, re-evaluated at once", ("platform",), "200",
                                   ref("EventResult"), body=ref("Event"), codes=("400", "404", "409", "422"))},
        "/v1/lamps": {"get": _op(
            "Lamps of a period", ("platform", "admin", "street (its street)"), "200", ref("Lamps"), codes=("404", "422"),
            params=[PERIOD_Q, q("color", {"enum": ["red", "yellow", "green"]}),
                    q("subject", {"enum": ["branch", "member"]}), STREET_Q,
                    q("weaknesses", {"enum": ["true", "false"], "description": "true: each branch's weaknesses "
                                     "(topics) too, as its diagnosis has them"}),
                    q("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
                    q("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000})])},
        "/v1/lamps/changes": {"get": _op("Lamps changed since the previous period",
                                         ("platform", "admin", "street (its street)"), "200",
                                         ref("LampChanges"), codes=("404", "422"),
                                         params=[PERIOD_Q, q("subject", {"enum": ["branch", "member"]}), STREET_Q])},
        "/v1/prescriptions": {"post": _op(
            "Ranked prescriptions for a branch (the shown list is logged)", ("platform", "secretary (own branch)"),
            "201", ref("PrescriptionList"), body=ref("PrescriptionRequest"), codes=("400", "404", "409", "422"))},
        "/v1/prescriptions/{prescription_id}/feedback": {"post": _op(
            "Feedback on a served prescription", ("platform", "secretary (own branch)"), "201",
            ref("FeedbackResult"), body=ref("Feedback"), params=[p("prescription_id", ID_SCHEMA)],
            codes=("400", "404", "422"))},
        "/v1/rules": {
            "get": _op("The active rule-set version", ADMIN_READ, "200", ref("RuleVersion")),
            "put": _op("Publish a new rule-set version (refused whole when any check fails)", ("admin",), "201",
                       ref("Published"), body=ref("RuleFiles"), codes=("400", "409", "422"),
                       params=[YAML_FILE_Q, q("comment", ONE_LINE | {"maxLength": 2000},
                                              description="with a YAML body: why (the JSON body's comment)")]),
        },
        "/v1/rules/validate": {"post": _op("Validate rule files without publishing", ADMIN_READ, "200",
                                           ref("RuleValidation"), body=ref("RuleFiles"), codes=("400", "422"),
                                           params=[YAML_FILE_Q])},
        "/v1/rules/preview": {"post": _op("Who would change lamp or findings under candidate rules", ADMIN_READ,
                                          "200", ref("RulePreview"), body=ref("RulePreviewRequest"),
                                          codes=("400", "404", "422"))},
        "/v1/rules/versions": {"get": _op("Every rule-set version with its audit", ADMIN_READ, "200",
                                          ref("RuleVersions"))},
        "/v1/rules/versions/{version}": {"get": _op("One rule-set version with files and diff", ADMIN_READ, "200",
                                                    ref("RuleVersion"), params=[p("version", ID_SCHEMA)],
                                                    codes=("404",))},
        "/v1/rules/versions/{version}/activate": {"post": _op(
            "Activate (roll back to) a version", ("admin",), "200", ref("Published"),
            params=[p("version", ID_SCHEMA)], codes=("404", "422"))},
        "/v1/rankings": {"get": _op(
            "Vanguard-index ranking: members by the year's points (by=month: the month's), or branches by their "
            "members' mean (by=ytd|month|lamp); ties ranked alike", ("platform", "admin", "street (its street)",
                                                                     "secretary (members of own branch, branch_id "
                                                                     "required)"), "200",
            ref("Ranking"), codes=("404", "422"),
            params=[PERIOD_Q, q("subject", {"enum": ["member", "branch"]}),
                    q("by", {"enum": ["ytd", "month", "lamp"]}, description="lamp: branches only"),
                    STREET_Q, type_q, q("branch_id", SUBJECT_ID),
                    q("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
                    q("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000})])},
        "/v1/reminders": {"get": _op(
            "What branches must still do this quarter or year, and by when (the reminder findings of the "
            "period's diagnosis)", ("platform", "admin", "street (its street)",
                                   "secretary (own branch, branch_id required)"), "200", ref("Reminders"),
            codes=("404", "422"), params=[PERIOD_Q, STREET_Q, type_q, q("branch_id", SUBJECT_ID)])},
        "/v1/overview": {"get": _op(
            "The overview of a range of months: branches and members by lamp, lamp rates and their change (against "
            "the first month and the same month a year before), top weaknesses and findings, streets side by side, "
            "branches red 2+ months in a row", ("platform", "admin", "street (its street)"), "200", ref("Overview"),
            codes=("404", "422"), params=[q("from", PERIOD, True, "first month, YYYY-MM"),
                                    q("to", PERIOD, True, "last month, YYYY-MM (at most 60 months in all)"),
                                    STREET_Q, type_q, q("top", {"type": "integer", "minimum": 1, "maximum": 100},
                                                        description="weaknesses and findings listed (10)")])},
        "/v1/exports/{kind}.xlsx": {"get": _op(
            "A workbook of the monthly circular (通报): circular (every sheet), branch-lamps, member-lamps, "
            "rankings, weaknesses (by street) or dues (reminders); Chinese sheets, or lang=en",
            ("platform", "admin", "street (its street)"), "200", {"type": "string", "format": "binary"},
            media="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", codes=("404", "422"),
            params=[p("kind", {"enum": ["circular", "branch-lamps", "member-lamps", "rankings", "weaknesses",
                                        "dues"]}), PERIOD_Q, STREET_Q, type_q, q("lang", {"enum": ["zh", "en"]})])},
        "/v1/login-tickets": {"post": _op(
            "A one-time login ticket for a branch's secretary: open `url` within five minutes, once, to arrive "
            "signed in on the branch's page", ("platform",), "201", ref("LoginTicket"), body=ref("LoginTicketRequest"),
            codes=("400", "404", "422"))},
        "/branches/{branch_id}/report": {"get": _op(
            "The branch's month as the secretary's page (HTML; zh, or lang=en; without period, the latest month "
            "diagnosed); without a token or session, a redirect to the login form", ALL,
            "200", {"type": "string"}, media="text/html", codes=("404", "422"),
            params=[p("branch_id"), q("period", PERIOD, False, "YYYY-MM (default: the latest diagnosed)"),
                    q("lang", {"enum": ["zh", "en"]})])
            | {"security": [{"bearer": []}, {}]}},  # without a token: the login form (303), not a 401
        "/openapi.json": {"get": _op("This document", ALL, "200", {"type": "object"})},
        **openapi_catalog.paths(_op, p, PERIOD_Q),
        **openapi_points.paths(_op, PERIOD_Q),
        **openapi_jobs.paths(_op, p, q),
        **openapi_model.paths(_op, q),
        **openapi_webhooks.paths(_op, p, q),
    }
    page = paths["/branches/{branch_id}/report"]["get"]["responses"]
    page.pop("401")  # never: without a token or session, the login form
    for code, answer in page.items():  # a page's errors are pages too (what happened, what to do next)
        if code != "200":
            answer["content"] = {"text/html": {"schema": {"type": "string"}}}
    page["303"] = {"description": "No token or session: a redirect to the login form (Location: /login?next=...)"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "diagnosis-service", "version": __version__,
                 "description": "Diagnosis (lamps, findings, weaknesses, vanguard points) and prescriptions for "
                                "grassroots party branches. Errors are application/problem+json."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "webhooks": openapi_webhooks.webhooks(),
        "components": {"schemas": {**SCHEMAS, **openapi_catalog.SCHEMAS, **openapi_points.SCHEMAS, **openapi_jobs.SCHEMAS,
                                   **openapi_model.SCHEMAS, **openapi_webhooks.SCHEMAS,
                                   **openapi_data.SCHEMAS, **openapi_data.metric_rows(indicators, branch_types)},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "diagnosis-service tokens create ..."}}},
    }


@bp.get("/openapi.json")
@roles(*ALL)
def openapi_json():
    registry = snapshot().ruleset.registry
    return jsonify(document(tuple(registry.topics), tuple(registry.branch_types),
                            {s: registry.reported(s) for s in ("branch", "member")}))
