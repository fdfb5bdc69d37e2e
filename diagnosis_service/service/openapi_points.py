"""The vanguard-point weights part of the OpenAPI document (versions are the rule set's)."""

from __future__ import annotations

from collections.abc import Callable

from .openapi_schemas import ONE_LINE, arr, obj, q, ref

NUM = {"type": ["number", "null"]}
BEFORE_AFTER_NUM = obj({"before": NUM, "after": NUM})
BEFORE_AFTER_INT = obj({"before": {"type": "integer"}, "after": {"type": "integer"}})
TESTS = {"type": "object", "description": "rule test files (tests/NAME.yaml -> YAML) changed with the weights",
         "additionalProperties": {"type": "string"}}
FILE = {"type": "string", "minLength": 1, "description": "points.yaml as YAML text"}

SCHEMAS = {
    "Points": obj({"version": {"type": ["integer", "null"]}, "digest": {"type": "string"},
                   "weights": arr(obj({"indicator": {"type": "string"}, "weight": {"type": "number"},
                                       "name_zh": {"type": ["string", "null"]}, "name_en": {"type": ["string", "null"]},
                                       "unit": {"type": ["string", "null"]}})),
                   "stored": {"type": "boolean", "description": "false: the version has no points.yaml of its own "
                                                                 "and the deployment's serves"},
                   "file": {"type": "string"}}, ["version", "weights", "file"]),
    "PointsChange": obj({"file": FILE, "tests": TESTS}, ["file"], extra=False),
    "PointsPreviewBody": obj({"file": FILE, "period": {"type": "string"}}, ["file"], extra=False),
    "PointsPublish": obj({"file": FILE, "tests": TESTS, "comment": {"type": "string", "minLength": 1,
                                                                    "maxLength": 2000},
                          "base_version": {"type": "integer", "minimum": 1}}, ["file", "comment"], extra=False),
    "PointsPreview": obj({
        "period": {"type": "string"}, "active_version": {"type": ["integer", "null"]},
        "candidate_digest": {"type": "string"},
        "weights": arr(obj({"indicator": {"type": "string"}, "before": NUM, "after": NUM})),
        "members": {"type": "integer"}, "members_points_changed": {"type": "integer"},
        "members_rank_moved": {"type": "integer"}, "lamps_changed": {"type": "integer"},
        "top_before": arr({"type": "object"}), "top_after": arr({"type": "object"}),
        "largest_moves": arr(obj({"member_id": {"type": "string"}, "branch_id": {"type": ["string", "null"]},
                                  "points": BEFORE_AFTER_NUM, "points_ytd": BEFORE_AFTER_NUM,
                                  "rank": BEFORE_AFTER_INT})),
        "branches": arr(obj({"branch_id": {"type": ["string", "null"]}, "mean_points_ytd": BEFORE_AFTER_NUM,
                             "rank": BEFORE_AFTER_INT})),
        "branches_rank_moved": {"type": "integer"}, "diff": {"type": "string"}},
        ["period", "weights", "members", "members_points_changed", "members_rank_moved", "largest_moves", "diff"]),
}


def paths(op: Callable[..., dict], period: dict) -> dict:
    read, admin = ("platform", "admin"), ("admin",)
    return {
        "/v1/points": {
            "get": op("The active vanguard-point weights (锋领指数): a table and points.yaml (ETag: the rule-set "
                      "version)", read, "200", ref("Points")),
            "put": op("Publish weights (with the rule tests they change) as a new rule-set version; refused whole on "
                      "any problem; roll back with /v1/rules/versions/{version}/activate", admin, "201",
                      ref("Published"), body=ref("PointsPublish"), codes=("400", "409", "422"),
                      params=[q("comment", ONE_LINE | {"maxLength": 2000},
                                description="with a YAML body: why (the JSON body's comment)"),
                              q("base_version", {"type": "integer", "minimum": 1},
                                description="with a YAML body: the version edited (the JSON body's base_version)")])},
        "/v1/points/validate": {"post": op(
            "Check weights with the active rules (rule tests included); nothing stored", read, "200",
            ref("RuleValidation"), body=ref("PointsChange"), codes=("400", "422"))},
        "/v1/points/preview": {"post": op(
            "How a month's rankings would move under these weights (nothing stored)", read, "200",
            ref("PointsPreview"), body=ref("PointsPreviewBody"), params=[period | {"required": False}],
            codes=("400", "404", "422"))},
    }


__all__ = ["SCHEMAS", "paths"]
