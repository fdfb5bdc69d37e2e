"""GET /openapi.json: an OpenAPI 3.1 description of every endpoint, its schemas and its auth.

Written by hand (the schemas are the contract the platform codes against); a test checks that every
route of the application is described here and schemathesis checks responses against it.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import __version__
from .auth import READERS, roles
from .db import snapshot

bp = Blueprint("openapi", __name__)

PERIOD = {"type": "string", "pattern": "^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$", "example": "2025-12"}
ANY_PERIOD = {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}  # e.g. the month before 1900-01
NUM = {"type": ["number", "null"]}
ID_SCHEMA = {"type": "integer", "minimum": 0}
STR_NULL = {"type": ["string", "null"]}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props: dict, required: list[str] | None = None, extra: bool = True) -> dict:
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if not extra:
        out["additionalProperties"] = False
    return out


def arr(item: dict) -> dict:
    return {"type": "array", "items": item}


FINDING = obj({"rule": {"type": "string"}, "indicator": {"type": "string"},
               "severity": {"enum": ["red", "yellow"]}, "topic": {"type": "string"}, "value": NUM, "reference": NUM,
               "message_zh": {"type": "string"}, "message_en": {"type": "string"}},
              ["rule", "indicator", "severity", "topic", "value", "reference", "message_zh", "message_en"])
LAMP = {"enum": ["red", "yellow", "green"]}
# An id: 1 to 64 characters, no control characters, no spaces around it.
ID_TEXT = {"type": "string", "minLength": 1, "maxLength": 64,
           "pattern": "^[^\\s\\u0000-\\u001f\\u007f](?:[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f])?$"}
RULE_FILES = {"type": "object", "minProperties": 1,
              "description": "file name (NAME.yaml or tests/NAME.yaml) -> YAML text; null removes the file. Merged "
                             "over the active version.",
              "propertyNames": {"pattern": "^(tests/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,94}[.]yaml$"},
              "additionalProperties": {"type": ["string", "null"]}}
SCHEMAS = {
    "Problem": obj({"type": {"type": "string"}, "status": {"type": "integer"}, "title": {"type": "string"},
                    "detail": {"type": "string"}, "request_id": {"type": "string"},
                    "errors": arr(ref("ProblemItem"))}, ["status", "title", "detail"]),
    "ProblemItem": obj({"path": {"type": "string"}, "message": {"type": "string"}, "file": {"type": "string"},
                        "line": {"type": "integer"}, "column": {"type": ["integer", "string"]},
                        "rule_id": {"type": "string"}, "suggestion": {"type": "string"}}, ["path", "message"]),
    "Finding": FINDING,
    "BranchResult": obj({"subject": {"const": "branch"}, "id": {"type": "string"}, "period": PERIOD,
                         "type": STR_NULL, "lamp": LAMP, "findings": arr(ref("Finding")),
                         "weaknesses": arr({"type": "string"})},
                        ["subject", "id", "period", "lamp", "findings", "weaknesses"]),
    "MemberReport": obj({"subject": {"const": "member"}, "id": {"type": "string"}, "branch_id": STR_NULL,
                         "period": PERIOD, "lamp": LAMP, "vanguard_points": NUM, "vanguard_points_ytd": NUM,
                         "findings": arr(ref("Finding")),
                         "rank": obj({"district": {"type": ["integer", "null"]}, "district_of": {"type": "integer"},
                                      "branch": {"type": ["integer", "null"]}, "branch_of": {"type": "integer"}})},
                        ["id", "period", "lamp", "findings", "rank"]),
    "MetricRow": {"type": "object", "description": "branch_id or member_id, optional profile fields (branch: name, "
                  "type, street; member: branch_id, name; required for a subject not yet known), and indicator "
                  "values (number or null; a missing indicator is null)", "additionalProperties": True},
    "MetricsPut": obj({"branches": arr(ref("MetricRow")), "members": arr(ref("MetricRow"))}, extra=False)
    | {"minProperties": 1, "description": "A row updates only the fields it carries: an indicator it does not name "
                                         "keeps its stored value (send null to clear one)."},
    "Changes": obj({"inserted": {"type": "integer"}, "updated": {"type": "integer"},
                    "unchanged": {"type": "integer"}}),
    "MetricsPutResult": obj({"period": PERIOD, "branches": {"oneOf": [ref("Changes"), {"type": "null"}]},
                             "members": {"oneOf": [ref("Changes"), {"type": "null"}]},
                             "profiles": {"type": "object"}}, ["period"]),
    "Event": obj({"subject": {"enum": ["branch", "member"]}, "id": {"type": "string"}, "period": PERIOD,
                  "values": {"type": "object", "minProperties": 1,
                             "additionalProperties": {"type": ["number", "null"]}}},
                 ["subject", "id", "period", "values"], extra=False),
    "EventResult": obj({"subject": {"type": "string"}, "id": {"type": "string"}, "branch_id": STR_NULL,
                        "period": PERIOD, "lamp": LAMP, "previous_lamp": {"type": ["string", "null"]},
                        "changed": {"type": "boolean"}, "push": {"type": "boolean"},
                        "findings": arr(ref("Finding")), "branch": {"type": "object"}},
                       ["subject", "id", "period", "lamp", "changed", "push", "findings"]),
    "DiagnosisRequest": obj({"period": PERIOD}, ["period"], extra=False),
    "DiagnosisRun": obj({"period": PERIOD, "run_id": {"type": "integer"}, "rules_version": {"type": "integer"},
                         "branches": {"type": "integer"}, "members": {"type": "integer"},
                         "lamps": {"type": "object"}, "seconds": {"type": "number"}},
                        ["period", "run_id", "rules_version", "branches", "members", "lamps"]),
    "Lamps": obj({"period": PERIOD, "total": {"type": "integer"}, "limit": {"type": "integer"},
                  "offset": {"type": "integer"},
                  "lamps": arr(obj({"subject": {"type": "string"}, "id": {"type": "string"},
                                    "branch_id": {"type": "string"}, "lamp": LAMP}))},
                 ["period", "total", "lamps"]),
    "LampChanges": obj({"period": PERIOD, "previous": ANY_PERIOD, "count": {"type": "integer"},
                        "changes": arr(obj({"subject": {"type": "string"}, "id": {"type": "string"},
                                            "branch_id": {"type": "string"}, "from": {"type": ["string", "null"]},
                                            "to": LAMP}))}, ["period", "previous", "changes"]),
    "Ranking": obj({"period": PERIOD, "branch_id": STR_NULL,
                    "ranking": arr(obj({"rank": {"type": "integer"}, "member_id": {"type": "string"},
                                        "branch_id": {"type": "string"}, "vanguard_points": NUM,
                                        "vanguard_points_ytd": NUM}))}, ["period", "ranking"]),
    "PrescriptionRequest": obj({"branch_id": ID_TEXT, "period": PERIOD}, ["branch_id", "period"],
                               extra=False),
    "Prescription": obj({"prescription_id": {"type": "integer"}, "topic": {"type": "string"},
                         "rule": {"type": "string"}, "resource_id": {"type": "string"},
                         "kind": {"enum": ["lecturer", "lesson", "video", "base", "activity"]},
                         "title_zh": {"type": "string"}, "title_en": {"type": "string"}, "score": {"type": "number"},
                         "reason_zh": {"type": "string"}, "reason_en": {"type": "string"},
                         "repeated": {"type": "boolean"}},
                        ["prescription_id", "topic", "resource_id", "kind", "score", "reason_zh", "reason_en"]),
    "PrescriptionList": obj({"branch_id": {"type": "string"}, "period": PERIOD, "list_id": {"type": "integer"},
                             "ranker": {"type": "string"}, "weaknesses": arr({"type": "string"}),
                             "prescriptions": arr(ref("Prescription"))},
                            ["branch_id", "period", "list_id", "prescriptions"]),
    "Feedback": obj({"status": {"enum": ["adopted", "declined", "completed"]},
                     "note": {"type": ["string", "null"], "maxLength": 2000,
                              "pattern": "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"}},
                    ["status"], extra=False),
    "FeedbackResult": obj({"feedback_id": {"type": "integer"}, "prescription_id": {"type": "integer"},
                           "status": {"type": "string"}}, ["feedback_id", "prescription_id", "status"]),
    "Indicators": obj({"branch": arr({"type": "object"}), "member": arr({"type": "object"}),
                       "topics": arr({"type": "object"}), "branch_types": arr({"type": "object"})},
                      ["branch", "member", "topics", "branch_types"]),
    "Resource": obj({"id": {"type": "string"}, "kind": {"type": "string"}, "title_zh": {"type": "string"},
                     "title_en": {"type": "string"}, "topics": arr({"type": "string"}), "active": {"type": "boolean"},
                     "format": {"type": "string"}, "duration_minutes": {"type": "integer"},
                     "branch_types": arr({"type": "string"}), "streets": arr({"type": "string"}),
                     "capacity": {"type": ["integer", "null"]}},
                    ["id", "kind", "title_zh", "title_en", "topics", "active"]),
    "Catalog": obj({"version": {"type": "string"}, "count": {"type": "integer"}, "resources": arr(ref("Resource"))},
                   ["count", "resources"]),
    "RuleFiles": obj({"files": RULE_FILES,
                      "comment": {"type": "string", "minLength": 1, "maxLength": 2000},
                      "base_version": {"type": "integer", "minimum": 1,
                                       "description": "the version edited (or If-Match: its ETag); 409 when "
                                                      "another is active by now"}}, ["files"]),
    "RulePreviewRequest": obj({"files": RULE_FILES, "period": PERIOD}, ["files", "period"]),
    "RuleVersion": obj({"version": {"type": "integer"}, "digest": {"type": "string"}, "active": {"type": "boolean"},
                        "based_on": {"type": ["integer", "null"]}, "comment": {"type": "string"},
                        "author": {"type": "string"}, "created_at": {"type": "string"},
                        "activated_at": {"type": ["string", "null"]},
                        "files": {"type": "object", "additionalProperties": {"type": "string"}},
                        "diff": {"type": "string"}}, ["version", "digest", "active", "comment", "author"]),
    "RuleVersions": obj({"versions": arr(ref("RuleVersion"))}, ["versions"]),
    "RuleValidation": obj({"valid": {"type": "boolean"}, "errors": arr(ref("ProblemItem"))}, ["valid", "errors"]),
    "RulePreview": obj({"period": PERIOD, "active_version": {"type": "integer"}, "candidate_digest": {"type": "string"},
                        "changed": {"type": "object"}, "subjects": arr({"type": "object"}),
                        "truncated": {"type": "boolean"}, "diff": {"type": "string"}},
                       ["period", "changed", "subjects"]),
    "Published": obj({"version": {"type": "integer"}, "digest": {"type": "string"}, "rules": {"type": "integer"},
                      "based_on": {"type": "integer"}}, ["version", "digest", "rules"]),
    "Health": obj({"status": {"type": "string"}}, ["status"]),
    "Ready": obj({"status": {"enum": ["ready", "not ready"]},
                  "reason": {"enum": ["database", "schema", "rules", "catalog", "ranking"]},
                  "checks": {"type": "object"}}, ["status"]),
}

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


def q(name: str, schema: dict, required: bool = False, description: str = "") -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def p(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


PERIOD_Q = q("period", PERIOD, True, "YYYY-MM")
ALL = READERS
ADMIN_READ = ("platform", "admin")


def document(topics: tuple[str, ...] = ()) -> dict:
    """The document; ``topics`` (the registry's topic ids) make the topic parameter an enum."""
    topic_schema = {"enum": list(topics)} if topics else {"type": "string"}
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
        "/v1/diagnoses": {"post": _op("Diagnose a whole period and store it", ("platform",), "201",
                                      ref("DiagnosisRun"), body=ref("DiagnosisRequest"), codes=("400", "404", "422"))},
        "/v1/branches/{branch_id}/diagnosis": {"get": _op(
            "A branch's diagnosis", ALL, "200", ref("BranchResult"), params=[p("branch_id"), PERIOD_Q],
            codes=("404", "422"))},
        "/v1/members/{member_id}/report": {"get": _op(
            "A member's report: points, ranks, lamp, findings", ALL, "200", ref("MemberReport"),
            params=[p("member_id"), PERIOD_Q], codes=("404", "422"))},
        "/v1/events": {"post": _op("One subject's new values, re-evaluated at once", ("platform",), "200",
                                   ref("EventResult"), body=ref("Event"), codes=("400", "404", "409", "422"))},
        "/v1/lamps": {"get": _op(
            "Lamps of a period", ADMIN_READ, "200", ref("Lamps"), codes=("422",),
            params=[PERIOD_Q, q("color", {"enum": ["red", "yellow", "green"]}),
                    q("subject", {"enum": ["branch", "member"]}),
                    q("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
                    q("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000})])},
        "/v1/lamps/changes": {"get": _op("Lamps changed since the previous period", ADMIN_READ, "200",
                                         ref("LampChanges"), codes=("422",),
                                         params=[PERIOD_Q, q("subject", {"enum": ["branch", "member"]})])},
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
                       ref("Published"), body=ref("RuleFiles"), codes=("400", "409", "422")),
        },
        "/v1/rules/validate": {"post": _op("Validate rule files without publishing", ADMIN_READ, "200",
                                           ref("RuleValidation"), body=ref("RuleFiles"), codes=("400", "422"))},
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
            "Vanguard-index ranking", ("platform", "admin", "secretary (own branch, branch_id required)"), "200",
            ref("Ranking"), codes=("422",),
            params=[PERIOD_Q, q("branch_id", {"type": "string"}),
                    q("limit", {"type": "integer", "minimum": 1, "maximum": 10000})])},
        "/branches/{branch_id}/report": {"get": _op(
            "The branch report page (HTML; zh, or lang=en); without a token, a redirect to the login form", ALL,
            "200", {"type": "string"}, media="text/html", codes=("404", "422"),
            params=[p("branch_id"), PERIOD_Q, q("lang", {"enum": ["zh", "en"]})])
            | {"security": [{"bearer": []}, {}]}},  # without a token: the login form (303), not a 401
        "/openapi.json": {"get": _op("This document", ALL, "200", {"type": "object"})},
    }
    paths["/branches/{branch_id}/report"]["get"]["responses"]["303"] = {
        "description": "No token or session: a redirect to the login form (Location: /login?next=...)"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "diagnosis-service", "version": __version__,
                 "description": "Diagnosis (lamps, findings, weaknesses, vanguard points) and prescriptions for "
                                "grassroots party branches. Errors are application/problem+json."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "diagnosis-service tokens create ..."}}},
    }


@bp.get("/openapi.json")
@roles(*ALL)
def openapi_json():
    return jsonify(document(tuple(snapshot().ruleset.registry.topics)))
