"""The catalog administration part of the OpenAPI document (published like the rules)."""

from __future__ import annotations

from collections.abc import Callable

from .openapi_schemas import ID_SCHEMA, ONE_LINE, arr, obj, q, ref

COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
FILES = {"type": "object", "minProperties": 1, "description": "file name -> YAML text; null removes the file. Merged "
         "over the active version.", "propertyNames": {"pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,94}[.]yaml$"},
         "additionalProperties": {"type": ["string", "null"]}}

BEFORE_AFTER = {"type": "object", "properties": {"before": {"type": "integer"}, "after": {"type": "integer"}}}
GAINED = {"type": "object", "properties": {
    "resource_id": {"type": "string"}, "kind": {"type": ["string", "null"]}, "title_zh": {"type": ["string", "null"]},
    "title_en": {"type": ["string", "null"]}, "branches": {"type": "integer", "description": "weaknesses (of "
                                                           "branches) whose list gains or loses it"}}}
GROUP = {"type": "object", "properties": {
    "weaknesses": {"type": "integer"}, "prescriptions": BEFORE_AFTER, "without_remedy": BEFORE_AFTER,
    "gained": {"type": "array", "items": GAINED}, "lost": {"type": "array", "items": GAINED}}}

SCHEMAS = {
    "CatalogFiles": obj({"version": {"type": "integer"}, "digest": {"type": "string"},
                         "resources": {"type": "integer"}, "by_kind": COUNTS,
                         "files": {"type": "object", "additionalProperties": {"type": "string"}}},
                        ["version", "digest", "resources", "by_kind", "files"]),
    "CatalogChange": obj({"files": FILES}, ["files"], extra=False),
    "CatalogPublish": obj({"files": FILES, "comment": {"type": "string", "minLength": 1, "maxLength": 2000},
                           "base_version": {"type": "integer", "minimum": 1, "description": "the version edited (or "
                                            "If-Match: its ETag); 409 when another is active by now"}},
                          ["files", "comment"], extra=False),
    "CatalogValidation": obj({"valid": {"type": "boolean"}, "errors": arr(ref("ProblemItem")), "resources": COUNTS,
                              "active": {"type": "integer"}, "digest": {"type": "string"}}, ["valid", "errors"]),
    "CatalogPreview": obj({
        "period": {"type": "string"}, "active_version": {"type": ["integer", "null"]},
        "candidate_digest": {"type": "string"}, "branches": {"type": "integer"}, "weaknesses": {"type": "integer"},
        "branches_changed": {"type": "integer"}, "prescriptions": BEFORE_AFTER,
        "without_remedy": obj({"before": {"type": "integer"}, "after": {"type": "integer"},
                               "weaknesses": arr(obj({"branch_id": {"type": "string"}, "topic": {"type": "string"},
                                                      "rule": {"type": "string"}, "severity": {"type": "string"},
                                                      "had_before": arr({"type": "string"})}))}),
        "resources_gained": arr(GAINED), "resources_lost": arr(GAINED),
        "by_topic": arr(GROUP | {"description": "one per topic with weaknesses in the period"}),
        "by_branch_type": arr(GROUP), "truncated": {"type": "boolean"},
        "changed": arr(obj({"branch_id": {"type": "string"}, "branch_type": {"type": ["string", "null"]},
                            "gained": arr({"type": "string"}), "lost": arr({"type": "string"})})),
        "diff": {"type": "string"}},
        ["period", "branches", "weaknesses", "branches_changed", "prescriptions", "without_remedy", "by_topic",
         "by_branch_type", "diff"]),
    "CatalogResourcePut": obj({"resource": {"type": "object", "description": "every field of the schema "
                                                                      "(docs/catalog.md) and kind"},
                               "comment": {"type": "string", "minLength": 1, "maxLength": 2000},
                               "base_version": {"type": "integer", "minimum": 1}}, ["resource", "comment"], extra=False),
    "CatalogPublished": obj({"version": {"type": "integer"}, "digest": {"type": "string"},
                             "resources": {"type": "integer"}, "based_on": {"type": "integer"}},
                            ["version", "digest", "resources"]),
}


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def paths(op: Callable[..., dict], p: Callable[..., dict], period: dict) -> dict:
    read, admin = ("platform", "admin"), ("admin",)
    version = p("version", ID_SCHEMA)
    yaml_file = q("file", ONE_LINE | {"maxLength": 100},
                  description="with a YAML body (Content-Type: application/yaml): which catalog file it is")
    workbook = q("name", ONE_LINE | {"maxLength": 100}, description="with a workbook body (.xlsx): its file name, as problems "
                                                         "name it (default catalog.xlsx)")
    comment = q("comment", ONE_LINE | {"maxLength": 2000},
                description="with a YAML or workbook body: why (the JSON body's comment)")
    out = {
        "/v1/catalog": {
            "get": op("The active remedy catalog version: its YAML files, digest, resources by kind (ETag: the "
                      "version)", read, "200", ref("CatalogFiles"), codes=("409", "422"),
                      params=[q("format", {"enum": ["json", "xlsx"]},
                                description="xlsx: the catalog as a workbook to edit and PUT back")]),
            "put": op("Publish a new catalog version (refused whole when any check fails; the next prescriptions "
                      "use it)", admin, "201", ref("CatalogPublished"), body=ref("CatalogPublish"),
                      codes=("400", "409", "422"), params=[yaml_file, workbook, comment])},
        "/v1/catalog/validate": {"post": op(
            "Check catalog files merged over the active ones (null removes a file); nothing is stored", read, "200",
            ref("CatalogValidation"), body=ref("CatalogChange"), codes=("400", "409", "422"),
            params=[yaml_file, workbook])},
        "/v1/catalog/preview": {"post": op(
            "How a diagnosed month's prescriptions would change under changed catalog files: resources gained and "
            "lost per topic and branch type, weaknesses left without a remedy (nothing served or stored)", read,
            "200", ref("CatalogPreview"), body=ref("CatalogChange"), params=[period, yaml_file, workbook],
            codes=("400", "404", "409", "422"))},
        "/v1/catalog/resources/{resource_id}": {"put": op(
            "Change one resource (or add it) as a new catalog version whose diff is that resource; problems by "
            "field path", admin, "200", ref("CatalogPublished"), body=ref("CatalogResourcePut"),
            params=[p("resource_id", {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,39}$"})],
            codes=("400", "409", "422"))},
        "/v1/catalog/versions": {"get": op("Every catalog version with its audit", read, "200",
                                           ref("RuleVersions"))},
        "/v1/catalog/versions/{version}": {"get": op("One catalog version with its files and diff", read, "200",
                                                     ref("RuleVersion"), params=[version], codes=("404",))},
        "/v1/catalog/versions/{version}/activate": {"post": op(
            "Activate (roll back to) a catalog version", admin, "200", ref("CatalogPublished"), params=[version],
            codes=("404", "422"))},
    }
    # ?format=xlsx answers a workbook
    out["/v1/catalog"]["get"]["responses"]["200"]["content"][XLSX] = {"schema": {"type": "string", "format": "binary"}}
    put = out["/v1/catalog/resources/{resource_id}"]["put"]
    put["responses"]["201"] = {**put["responses"]["200"], "description": "Created (a new resource)"}
    return out


__all__ = ["SCHEMAS", "paths"]
