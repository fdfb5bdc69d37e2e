"""The closed loop against the service (simulation.served): the service, asked over its HTTP API (Flask's
test client, a real store), serves exactly the lists the loop serves in process with the same ranking,
and keeps in its store what the world did with them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from diagnosis_service.simulation.loop import LoopSpec, run_loop
from diagnosis_service.simulation.served import run_served_loop
from diagnosis_service.store.schema import branch_metrics, feedback, served
from tests.support.served import ClientService

pytestmark = pytest.mark.slow  # closed loops

SPEC = LoopSpec(policy="prior", seed=3, branches=30, members=300, months=2, history=2, history_epsilon=0.0,
                world="silent")


def test_the_service_serves_what_the_loop_serves_in_process(tmp_path, ruleset, catalog):
    # No model and no exploration: the service ranks with the prior, as the in-process loop's prior does.
    # (With its default exploration it serves other lists: tests/service/test_api.py says which.)
    # The same world (draws in the same order) then gives the same months, to the last digit: the
    # service's diagnoses, weaknesses, repeat filter (from its served log) and catalog (new resources
    # activated halfway over the API) are the loop's.
    service = ClientService(tmp_path, ruleset, prior_exploration=0)
    remote = run_served_loop(SPEC, ruleset, catalog, service)
    local = run_loop(SPEC, ruleset, catalog)
    assert [{k: v for k, v in m.items() if k != "ranker"} for m in remote.monthly] == local.monthly
    assert {m["ranker"] for m in remote.monthly} == {"prior"}
    assert remote.true_improvement == local.true_improvement > 0
    assert list(remote.log["resource_id"]) == list(local.log["resource_id"])
    # What the world did is in the store: every month's metrics, one list per weakness acted on, and an
    # answer for each list but the ignored and the silent secretaries'.
    with service.engine.connect() as conn:
        months = conn.execute(select(func.count(func.distinct(branch_metrics.c.period)))).scalar_one()
        lists = {(list_id, topic) for list_id, topic in conn.execute(select(served.c.list_id, served.c.topic))}
        answers = conn.execute(select(func.count()).select_from(feedback)).scalar_one()
    assert months == 3 + SPEC.history + SPEC.months  # the warm-up months imported, then one PUT a month
    assert len(lists) == len(remote.log)  # a branch's request serves one list per weakness
    assert answers == len(service.statuses) == int((remote.log["status"] != "ignored").sum())
    assert set(service.statuses) <= {"adopted", "declined"}

