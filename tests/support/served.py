"""``simulation.served.Service`` over Flask's test client: a real store (SQLite), the service's HTTP API,
the closed loop's world driving it (tests/simulation/test_served.py, tests/service/test_model_routine.py)."""

from __future__ import annotations

from dataclasses import replace

from diagnosis_service.data.csvdir import write_dir
from diagnosis_service.data.model import Dataset
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.pipeline.ingest import import_source
from diagnosis_service.service import create_app
from diagnosis_service.store import make_engine
from diagnosis_service.store import tokens as tokens_store
from diagnosis_service.store.migrate import upgrade
from tests.support.service import settings_for


class ClientService:
    """``served.Service`` over the Flask test client. The administrator's routine is not run: this test is
    about what is served (promotion has tests of its own, and bench_served_loop.py runs the routine)."""

    def __init__(self, tmp, ruleset, **settings):
        self.tmp, self.registry, self.settings = tmp, ruleset.registry, settings
        self.engine = make_engine(f"sqlite:///{tmp / 'loop.db'}")
        self.statuses: list[str] = []
        self.diagnosed: list[dict] = []  # what each month's POST /v1/diagnoses answered

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
        self.app = app
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
        self.diagnosed.append(self._call("POST", "/v1/diagnoses?wait=true", "platform", {"period": period}, 201))

    def prescribe(self, branch_id, period) -> dict:
        return self._call("POST", "/v1/prescriptions", "platform", {"branch_id": branch_id, "period": period}, 201)

    def feedback(self, prescription_id, status) -> None:
        self.statuses.append(status)
        self._call("POST", f"/v1/prescriptions/{prescription_id}/feedback", "platform", {"status": status}, 201)

    def activate(self, resources) -> None:
        self._catalog(resources, True)

    def month_end(self, period) -> None:
        pass
