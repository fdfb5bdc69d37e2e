"""The OpenAPI document's schemas of data in (``openapi``): a month's metric rows, field by field from the
indicator registry when the document is made for a service, and single events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..rules.model import Indicator
from .openapi_schemas import ID_TEXT, LAMP, PERIOD, STR_NULL, SUBJECT_ID, arr, obj, ref

SCHEMAS = {
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
                             "profiles": {"type": "object"},
                             "warnings": {"type": "array", "description": "stored all the same: a period after the "
                                          "current month; a branch's street that is not one of the district's (the "
                                          "catalog's district.yaml), so no resource limited to streets matches it",
                                          "items": obj({"field": {"type": "array"}, "branch_id": STR_NULL,
                                                        "detail": {"type": "string"},
                                                        "suggestion": {"type": "string"}})}}, ["period"]),
    "Event": obj({"subject": {"enum": ["branch", "member"]}, "id": SUBJECT_ID, "period": PERIOD,
                  "values": {"type": "object", "minProperties": 1,
                             "additionalProperties": {"type": ["number", "null"]}},
                  "on": {"type": ["string", "null"], "format": "date",
                         "description": "the day the values were recorded (within period): before the month is "
                                        "over, a month's norm is reminded (e.g. dues after the 20th), not missed"}},
                 ["subject", "id", "period", "values"], extra=False),
    "EventResult": obj({"subject": {"type": "string"}, "id": {"type": "string"}, "branch_id": STR_NULL,
                        "period": PERIOD, "lamp": LAMP, "previous_lamp": {"type": ["string", "null"]},
                        "changed": {"type": "boolean"}, "push": {"type": "boolean"},
                        "findings": arr(ref("Finding")), "branch": {"type": "object"}},
                       ["subject", "id", "period", "lamp", "changed", "push", "findings"]),
}


def metric_rows(indicators: Mapping[str, Sequence[Indicator]] | None, branch_types: tuple[str, ...]) -> dict:
    """A metric row of each subject field by field (its key, its profile, each reported indicator with its
    range; nothing else: the service refuses an unknown field), and MetricsPut naming them; none without
    ``indicators`` (MetricRow, open, stands)."""
    if not indicators:
        return {}
    text = {"type": "string", "maxLength": 200}
    profile = {"branch": {"name": text, "type": {"enum": list(branch_types)} if branch_types else text,
                          "street": {"type": "string", "maxLength": 100}},
               "member": {"branch_id": ID_TEXT, "name": text}}
    out = {}
    for subject, key, name in (("branch", "branch_id", "BranchMetricRow"), ("member", "member_id", "MemberMetricRow")):
        fields = {ind.id: {"type": ["integer" if ind.integer else "number", "null"], "minimum": ind.min,
                           **({"maximum": ind.max} if ind.max is not None else {}),
                           "description": f"{ind.name_en} ({ind.unit})"} for ind in indicators.get(subject, ())}
        out[name] = obj({key: ID_TEXT, **profile[subject], **fields}, [key], extra=False) | {
            "description": f"one {subject}'s month: profile fields required for a {subject} not yet known; an "
                           f"indicator it does not name keeps its stored value (null clears it)"}
    out["MetricsPut"] = obj({"branches": arr(ref("BranchMetricRow")), "members": arr(ref("MemberMetricRow"))},
                            extra=False) | {"minProperties": 1, "description": SCHEMAS["MetricsPut"]["description"]}
    return out
