"""The schemas of the OpenAPI document (``openapi``): every request and response body the API knows."""

from __future__ import annotations

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
               "severity": {"enum": ["red", "yellow", "reminder"]}, "topic": {"type": "string"}, "value": NUM, "reference": NUM,
               "message_zh": {"type": "string"}, "message_en": {"type": "string"}},
              ["rule", "indicator", "severity", "topic", "value", "reference", "message_zh", "message_en"])
LAMP = {"enum": ["red", "yellow", "green"]}
REMINDER = obj({"subject": {"const": "branch"}, "id": {"type": "string"}, "branch_id": {"type": "string"},
                "rule": {"type": "string"}, "topic": {"type": "string"}, "message_zh": {"type": "string"},
                "message_en": {"type": "string"}}, ["id", "rule", "message_zh", "message_en"])
# An id: 1 to 64 characters, no control characters, no spaces around it.
ID_TEXT = {"type": "string", "minLength": 1, "maxLength": 64,
           "pattern": ("^[^\\s\\u0000-\\u001f\\u007f-\\u009f](?:[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*"
                       "[^\\s\\u0000-\\u001f\\u007f-\\u009f])?$")}
# One line of text in a query parameter: no control characters, no line or paragraph separators.
ONE_LINE = {"type": "string", "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"}
# A branch's or member's id: also a segment of addresses (data.text.id_problem): none of / \\ ? # % or
# spaces, not dots alone.
_NOT_IN_ID = "\\s\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029/\\\\?#%"
SUBJECT_ID = {"type": "string", "minLength": 1, "maxLength": 64,
              "pattern": f"^[^{_NOT_IN_ID}]*[^{_NOT_IN_ID}.][^{_NOT_IN_ID}]*$"}
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
                         "rank": obj({"by": {"const": "ytd"},
                                      "district": {"type": ["integer", "null"]}, "district_of": {"type": "integer"},
                                      "branch": {"type": ["integer", "null"]}, "branch_of": {"type": "integer"}})},
                        ["id", "period", "lamp", "findings", "rank"]),
    "DiagnosisRequest": obj({"period": PERIOD}, ["period"], extra=False),
    "DiagnosisRun": obj({"period": PERIOD, "run_id": {"type": "integer"}, "rules_version": {"type": "integer"},
                         "branches": {"type": "integer"}, "members": {"type": "integer"},
                         "lamps": {"type": "object"}, "seconds": {"type": "number"},
                         # What the model's monthly routine did before the diagnosis (DIAGNOSIS_MODEL_ROUTINE).
                         "model": {"type": "object", "properties": {
                             "state": {"type": "string", "enum": ["promoted", "on trial", "kept", "nothing to learn",
                                                                  "skipped", "failed", "off"]},
                             "reason": {"type": ["string", "null"]}, "reason_zh": {"type": ["string", "null"]},
                             "candidate": {"type": ["string", "null"]},
                             "active_before": {"type": ["string", "null"]}, "verdict": {"type": "string"},
                             "promoted": {"type": "string", "description": "the model the routine activated "
                                                                          "(the refit of the candidate that "
                                                                          "passed)"},
                             "trial_ended": {"type": "string"}, "seconds": {"type": "number"},
                             "at": {"type": "string", "format": "date-time"},
                             "repeated": {"type": "boolean", "description": "this month's routine had run "
                                                                           "already: what it did then"}},
                          "required": ["state", "reason"]},
                         "warnings": {"type": "array", "description": "diagnosed all the same: branches with "
                                      "metrics for the month before have none for this one (a month sent in part)",
                                      "items": obj({"field": {"type": "array"}, "branch_ids": arr({"type": "string"}),
                                                    "missing": {"type": "integer"}, "detail": {"type": "string"},
                                                    "suggestion": {"type": "string"}})}},
                        ["period", "run_id", "rules_version", "branches", "members", "lamps"]),
    "Lamps": obj({"period": PERIOD, "total": {"type": "integer"}, "limit": {"type": "integer"},
                  "offset": {"type": "integer"},
                  "lamps": arr(obj({"subject": {"type": "string"}, "id": {"type": "string"},
                                    "branch_id": {"type": "string"}, "lamp": LAMP,
                                    "weaknesses": arr({"type": "string"})}))},
                 ["period", "total", "lamps"]),
    "LampChanges": obj({"period": PERIOD, "previous": ANY_PERIOD, "previous_diagnosed": {"type": "boolean"},
                        "count": {"type": "integer"},
                        "changes": arr(obj({"subject": {"type": "string"}, "id": {"type": "string"},
                                            "branch_id": {"type": "string"}, "from": {"type": ["string", "null"]},
                                            "to": LAMP})),
                        "reminders": arr(REMINDER)}, ["period", "previous", "changes"]),
    "Ranking": obj({"period": PERIOD, "subject": {"enum": ["member", "branch"]},
                    "by": {"enum": ["ytd", "month", "lamp"]}, "branch_id": STR_NULL, "total": {"type": "integer"},
                    "scope": obj({"street": STR_NULL, "type": STR_NULL, "branch_id": STR_NULL}),
                    "ranking": arr({"anyOf": [
                        obj({"rank": {"type": "integer"}, "member_id": {"type": "string"}, "name": STR_NULL,
                             "branch_id": {"type": "string"}, "vanguard_points": NUM, "vanguard_points_ytd": NUM},
                            ["rank", "member_id", "branch_id"]),
                        obj({"rank": {"type": "integer"}, "branch_id": {"type": "string"}, "name": {"type": "string"},
                             "street": {"type": "string"}, "type": {"type": "string"}, "lamp": LAMP,
                             "members": {"type": "integer"}, "mean_points": NUM, "mean_points_ytd": NUM},
                            ["rank", "branch_id", "lamp"])]})},
                   ["period", "subject", "by", "total", "scope", "ranking"]),
    "Overview": obj({
        "from": PERIOD, "to": PERIOD, "scope": obj({"street": STR_NULL, "type": STR_NULL, "branch_id": STR_NULL}),
        "diagnosed": arr(PERIOD), "last": {"type": ["string", "null"]},
        "months": arr(obj({"period": PERIOD, "diagnosed": {"type": "boolean"}, "branches": ref("LampCounts"),
                           "members": ref("LampCounts"), "change_vs_first": {"anyOf": [ref("LampChange"),
                                                                                       {"type": "null"}]},
                           "change_vs_year_before": {"anyOf": [ref("LampChange"), {"type": "null"}]}},
                          ["period", "diagnosed", "branches", "members"])),
        "weaknesses": arr(obj({"topic": {"type": "string"}, "name_zh": {"type": "string"},
                               "name_en": {"type": "string"}, "branches_last": {"type": "integer"},
                               "branch_months": {"type": "integer"}}, ["topic", "name_zh", "name_en"])),
        "findings": arr(obj({"rule": {"type": "string"}, "subject": STR_NULL, "title_zh": {"type": "string"},
                             "title_en": {"type": "string"}, "count_last": {"type": "integer"},
                             "count": {"type": "integer"}}, ["rule", "title_zh", "title_en"])),
        "streets": arr(obj({"street": {"type": "string"}, "branches": {"type": "integer"},
                            "members": {"type": "integer"}, "months": arr({"type": "object"})}, ["street"])),
        "persistent_red": arr(obj({"branch_id": {"type": "string"}, "name": {"type": "string"},
                                   "street": {"type": "string"}, "months": {"type": "integer"}, "from": PERIOD,
                                   "to": PERIOD, "red_months_now": {"type": "integer"}},
                                  ["branch_id", "months", "from", "to"])),
    }, ["from", "to", "scope", "months", "diagnosed", "weaknesses", "findings", "streets", "persistent_red"]),
    "Reminders": obj({"period": PERIOD, "count": {"type": "integer"},
                      "scope": obj({"street": STR_NULL, "type": STR_NULL, "branch_id": STR_NULL}),
                      "reminders": arr(REMINDER)},
                     ["period", "count", "reminders"]),
    "LampCounts": obj({"total": {"type": "integer"}, "red": {"type": "integer"}, "yellow": {"type": "integer"},
                       "green": {"type": "integer"}, "red_rate": NUM, "lamp_rate": NUM},
                      ["total", "red", "yellow", "green", "red_rate", "lamp_rate"]),
    "LampChange": obj({k: obj({r: {"anyOf": [obj({"points": {"type": "number"}, "relative": NUM}),
                                             {"type": "null"}]} for r in ("red_rate", "lamp_rate")})
                       for k in ("branches", "members")}),
    "PrescriptionRequest": obj({"branch_id": SUBJECT_ID, "period": PERIOD}, ["branch_id", "period"],
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
                             "catalog_version": {"type": ["integer", "null"]},
                             "prescriptions": arr(ref("Prescription")),
                             "repeated": {"type": "boolean", "description": (
                                 "true: the same list as the latest one served to the branch for the month (the "
                                 "same ranker, catalog version and items), answered with its ids and not logged "
                                 "again")}},
                            ["branch_id", "period", "list_id", "prescriptions"]),
    "Feedback": obj({"status": {"enum": ["adopted", "declined", "completed"]},
                     "done_on": {"type": "string", "format": "date",
                                 "description": "the day a completed remedy was done (only with completed)"},
                     "note": {"type": ["string", "null"], "maxLength": 2000,
                              "pattern": "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"}},
                    ["status"], extra=False),
    "FeedbackResult": obj({"feedback_id": {"type": "integer"}, "prescription_id": {"type": "integer"},
                           "status": {"type": "string"}, "done_on": {"type": "string", "format": "date"},
                           "repeated": {"type": "boolean", "description": "the prescription's latest feedback "
                                        "said the same (a double click, a retry): nothing new was stored"}},
                          ["feedback_id", "prescription_id", "status"]),
    "LoginTicketRequest": obj({"branch_id": SUBJECT_ID, "user": ID_TEXT | {"description": "the secretary's name, shown on the page"},
                               "period": PERIOD, "lang": {"enum": ["zh", "en"]}}, ["branch_id", "user"], extra=False),
    "LoginTicket": obj({"ticket": {"type": "string"}, "url": {"type": "string"}, "branch_id": {"type": "string"},
                        "expires_at": {"type": "string", "format": "date-time"}, "expires_in": {"type": "integer"}},
                       ["ticket", "url", "branch_id", "expires_at", "expires_in"]),
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
                        "rules": arr(obj({"rule": {"type": "string"}, "severity": STR_NULL, "subject": STR_NULL,
                                          "before": {"type": "integer"}, "after": {"type": "integer"}},
                                         ["rule", "before", "after"])),
                        "truncated": {"type": "boolean"}, "diff": {"type": "string"}},
                       ["period", "changed", "subjects"]),
    "Published": obj({"version": {"type": "integer"}, "digest": {"type": "string"}, "rules": {"type": "integer"},
                      "based_on": {"type": "integer"},
                      "same_rules": {"type": "boolean", "description": "the digest equals the version it replaced: "
                                     "only comments or layout changed, and diagnoses stay the same"}},
                     ["version", "digest", "rules"]),
    "Health": obj({"status": {"type": "string"}}, ["status"]),
    "Ready": obj({"status": {"enum": ["ready", "not ready"]},
                  "reason": {"enum": ["database", "schema", "rules", "catalog", "ranking"]},
                  "checks": {"type": "object"}}, ["status"]),
}


def q(name: str, schema: dict, required: bool = False, description: str = "") -> dict:
    """A query parameter of an operation."""
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


__all__ = ["q", "ONE_LINE", "ANY_PERIOD", "ID_SCHEMA", "ID_TEXT", "NUM", "PERIOD", "SCHEMAS", "STR_NULL", "SUBJECT_ID", "arr", "obj", "ref"]
