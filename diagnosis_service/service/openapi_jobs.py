"""The monthly job's part of the OpenAPI document: POST /v1/diagnoses (202 and a job, or 201 with
?wait=true) and the jobs to follow."""

from __future__ import annotations

from collections.abc import Callable

from .openapi_schemas import ID_SCHEMA, arr, obj, ref

TIME = {"type": ["string", "null"], "format": "date-time"}
SCHEMAS = {
    "Job": obj({
        "job_id": {"type": "integer"}, "kind": {"type": "string", "enum": ["diagnosis"]},
        "state": {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]},
        "stage": {"type": ["string", "null"], "description": "null while queued; then starting, model routine: training a candidate, "
                                                              "model routine: judging the candidate (when the "
                                                              "service runs the model's monthly routine), reading "
                                                              "metrics, diagnosing, storing results, done, failed"},
        "progress": {"type": "number", "minimum": 0, "maximum": 1}, "params": {"type": "object"},
        "attempts": {"type": "integer", "description": "starts so far (a worker that stopped is replaced)"},
        "actor": {"type": "string"},
        "result": {"oneOf": [ref("DiagnosisRun"), {"type": "null"}]},
        "error": {"type": ["object", "null"], "properties": {"message": {"type": "string"},
                                                             "suggestion": {"type": ["string", "null"]}}},
        "created_at": TIME, "started_at": TIME, "finished_at": TIME,
        "lease_until": {**TIME, "description": "a running job: until when its worker holds it. The worker renews "
                                               "it every third of the lease; one that stops moving says the "
                                               "worker stopped, and once it passes another worker takes the job "
                                               "up (a new attempt)"},
        "links": obj({"self": {"type": "string"}})},
        ["job_id", "kind", "state", "progress", "params", "links"]),
    "Jobs": obj({"jobs": arr(ref("Job"))}, ["jobs"]),
}


def paths(op: Callable[..., dict], p: Callable[..., dict], q: Callable[..., dict]) -> dict:
    read = ("platform", "admin")
    diagnose = op("Diagnose a whole period and store it: 202 with a job to follow (GET /v1/jobs/{job_id}; the "
                  "same job while one for the period is queued or running); with wait=true, done in the request "
                  "and answered 201 (409 while the period's job is queued or running)", ("platform",), "202",
                  ref("Job"), body=ref("DiagnosisRequest"),
                  params=[q("wait", {"type": "string", "enum": ["true", "false"]}, description="true: do the work "
                            "in the request (small districts)")], codes=("400", "404", "409", "422"))
    diagnose["responses"]["201"] = {"description": "Done (wait=true)",
                                    "content": {"application/json": {"schema": ref("DiagnosisRun")}}}
    return {
        "/v1/diagnoses": {"post": diagnose},
        "/v1/jobs": {"get": op("The latest jobs, newest first", read, "200", ref("Jobs"), params=[
            q("state", {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]}),
            q("limit", {"type": "integer", "minimum": 1, "maximum": 200})], codes=("422",))},
        "/v1/jobs/{job_id}": {"get": op("A job: state, stage, progress, result or error", read, "200", ref("Job"),
                                        params=[p("job_id", ID_SCHEMA)], codes=("404",))},
    }


__all__ = ["SCHEMAS", "paths"]
