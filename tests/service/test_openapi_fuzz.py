"""Schemathesis against /openapi.json: generated requests never cause a 500 or a schema violation.

Driven through schemathesis' Python API with hypothesis (its pytest plugin does not run under this
pytest version): every operation of the document, a bounded number of examples each.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.support.service import make_service

ADMIN_PATHS = ("/v1/rules",)


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory):
    svc = make_service("sqlite", tmp_path_factory.mktemp("fuzz"))
    yield svc
    svc.close()


def operations(svc):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", svc.app, headers=svc.h("admin"))
    return [result.ok() for result in schema.get_all_operations()]


def fuzz(op, headers: dict, calls: list) -> None:
    """Run schemathesis' generated cases of one operation with the given credentials."""

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    @given(case=op.as_strategy())
    def run(case):
        # Checked: no 5xx, documented status codes, content types, headers, and every response body
        # against its schema. Not checked: that every schema-valid body is accepted; bodies that pass
        # the JSON schema can still fail business rules (an unknown branch, a rule file that does not
        # parse), and those are answered with a documented 422.
        response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        calls.append(response.status_code)

    run()


@pytest.mark.slow
def test_no_server_errors_and_responses_match_the_schema(fuzz_service):
    ops = operations(fuzz_service)
    assert len(ops) >= 22
    calls: list[int] = []
    for op in ops:
        who = "admin" if op.path.startswith(ADMIN_PATHS) else "platform"
        fuzz(op, fuzz_service.h(who), calls)
    assert len(calls) > 10 * len(ops), "enough generated requests to mean something"
    assert 500 not in calls
