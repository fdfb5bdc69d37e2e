"""The closed loop against the service (simulation.served): the service, asked over its HTTP API (Flask's
test client, a real store), serves exactly the lists the loop serves in process with the same ranking,
and keeps in its store what the world did with them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from diagnosis_service.data.csvdir import write_dir
from diagnosis_service.data.model import Dataset
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.pipeline.ingest import import_source
from diagnosis_service.service import create_app
from diagnosis_service.simulation.loop import LoopSpec, run_loop
from diagnosis_service.simulation.served import run_served_loop
from diagnosis_service.store import make_engine
from diagnosis_service.store import tokens as tokens_store
from diagnosis_service.store.migrate import upgrade
from diagnosis_service.store.schema import branch_metrics, feedback, served
from tests.support.service import settings_for

pytestmark = pytest.mark.slow  # closed loops


class ClientService:
    """``served.Service`` over the Flask test client. The administrator's routine is not run: this test is
    about what is served (promotion has tests of its own, and bench_served_loop.py runs the routine)."""

    def __init__(self, tmp, ruleset, **settings):
        self.tmp, self.registry, self.settings = tmp, ruleset.registry, settings
        self.engine = make_engine(f"sqlite:///{tmp / 'loop.db'}")
        self.statuses: list[str] = []

    def start(self, dataset, before, inactive) -> None:
        upgrade(self.engine)
        bm, mm = dataset.branch_metrics, dataset.member_metrics
        write_dir(Dataset(dataset.branches, dataset.members, bm[bm["pidx"] < before], mm[mm["pidx"] < before],
                          source="test"), self.tmp / "district", self.registry)
        import_source(self.engine, self.registry, CsvDir(self.tmp / "district"), actor="test")
        with self.engine.begin() as conn:
            self.tokens = {role: tokens_store.create(conn, role, role) for role in ("platform", "admin")}
        app = create_app({"SETTINGS": replace(settings_for(self.tmp), **self.settings),
                          "DATABASE_URL": str(self.engine.url), "TESTING": True})
        self.client = app.test_client()
        self._catalog(inactive, False)

    def _call(self, method: str, path: str, role: str, body: object, want: int) -> dict:
        r = self.client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {self.tokens[role]}"})
        assert r.status_code == want, (method, path, r.get_json())
        return r.get_json()

    def _catalog(self, resources, active: bool) -> None:
        for r in resources:
            self._call("PUT", f"/v1/catalog/resources/{r.id}", "admin",
                       {"resource": {**{k: v for k, v in r.as_dict().items() if v is not None}, "active": active},
                        "comment": "new resources join halfway"}, 200)

    def put_metrics(self, period, body) -> None:
        self._call("PUT", f"/v1/periods/{period}/metrics", "platform", body, 200)

    def diagnose(self, period) -> None:
        self._call("POST", "/v1/diagnoses?wait=true", "platform", {"period": period}, 201)

    def prescribe(self, branch_id, period) -> dict:
        return self._call("POST", "/v1/prescriptions", "platform", {"branch_id": branch_id, "period": period}, 201)

    def feedback(self, prescription_id, status) -> None:
        self.statuses.append(status)
        self._call("POST", f"/v1/prescriptions/{prescription_id}/feedback", "platform", {"status": status}, 201)

    def activate(self, resources) -> None:
        self._catalog(resources, True)

    def month_end(self, period) -> None:
        pass


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

