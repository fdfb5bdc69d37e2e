"""The closed loop against a running service: the world of ``loop.World``, its lists asked of the service.

``run_loop`` serves each month's lists in process, with the policy it is given. Here the service serves
them, as deployed, and only what a platform and an administrator do reaches it:
1. the service starts with the district's organisations and the months before the first one served,
   and with the catalog's new resources not yet active (``Service.start``);
2. each month, the month's metrics go in (``put_metrics``), and the month is diagnosed (``diagnose``);
3. each branch with a weakness asks for its prescriptions (``prescribe``);
4. the secretaries act on each list's first item as the world says, and answer (``feedback``: adopted or
   declined). The ignored and the silent say nothing;
5. from the end of the history months on, the administrator's monthly routine runs (``month_end``:
   ``model train``, then ``model promote``, which activates the candidate as ``learning.rollout`` says);
6. halfway through the counted months, the new resources join the catalog (``activate``).

The service never sees the truth; the world reads each weakness from its own diagnosis of the same
metrics (the same rules: the same weaknesses). The figures compare with ``run_loop``'s for the same
spec and seed: the same district, truth and draws in the same order, and its oracle's total is the
denominator (``benchmarks/bench_served_loop.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pandas as pd

from ..data.model import KEYS, Dataset
from ..periods import period_str
from ..pipeline.month import diagnose_month
from ..pipeline.snapshot import Snapshot
from ..remedies.catalog import Catalog, Resource
from ..remedies.prescribe import Prescriber
from ..rules.model import RuleSet
from .loop import LoopResult, LoopSpec, World, close_month, new_month


class Service(Protocol):
    """What the loop asks of a running service (an HTTP client and the administrator's commands)."""

    def start(self, dataset: Dataset, before: int, inactive: list[Resource]) -> None:
        """Serve ``dataset``'s organisations and its months before ``before`` (a month index), with the
        ``inactive`` resources of the catalog not active."""

    def put_metrics(self, period: str, body: dict) -> None: ...

    def diagnose(self, period: str) -> None: ...

    def prescribe(self, branch_id: str, period: str) -> dict:
        """The body of POST /v1/prescriptions: ``weaknesses`` and ``prescriptions`` (topic, resource_id,
        prescription_id), each weakness's list in order."""

    def feedback(self, prescription_id: int, status: str) -> None: ...

    def activate(self, resources: list[Resource]) -> None: ...

    def month_end(self, period: str) -> None:
        """The administrator's routine after ``period``."""


def month_body(dataset: Dataset, period: str, registry) -> dict:
    """The body of PUT /v1/periods/{period}/metrics: every subject's reported indicators that month."""
    out = {}
    for subject, field in (("branch", "branches"), ("member", "members")):
        frame = dataset.metrics(subject)
        columns = [KEYS[subject], *[i.id for i in registry.reported(subject) if i.id in frame.columns]]
        part = frame.loc[frame["period"] == period, columns]
        records = part.astype(object).where(part.notna(), None).to_dict("records")  # NaN as null
        out[field] = [{k: v.item() if hasattr(v, "item") else v for k, v in r.items()} for r in records]
    return out


def run_served_loop(spec: LoopSpec, ruleset: RuleSet, catalog: Catalog, service: Service, *,
                    on_month: Callable[[dict], None] | None = None) -> LoopResult:
    """``spec.history`` months served by the service before any model (the prior, exploring as it is
    configured), then ``spec.months`` counted; the administrator trains and promotes after every month
    from the end of the history on. ``spec.policy`` is only a label here: the service decides."""
    spec.validate()
    w = World(spec, ruleset, catalog)
    new = [r for r in catalog.resources if r.id in w.truth.new and r.active]  # one withdrawn stays so
    service.start(w.dataset(), w.first, new)
    needs_of = Prescriber(catalog, ruleset, per_weakness=0)  # the world's own reading of each weakness
    monthly: list[dict] = []
    rows: list[dict] = []
    previous_weak: set[tuple[str, str]] = set()
    for step in range(spec.history + spec.months):
        counted = step >= spec.history
        pidx = w.first + step
        period = period_str(pidx)
        if new and step - spec.history == spec.months // 2:  # as loop.catalog_at: halfway through
            service.activate(new)
        dataset = w.dataset()
        service.put_metrics(period, month_body(dataset, period, ruleset.registry))
        service.diagnose(period)
        diagnosed = diagnose_month(dataset, Snapshot(ruleset, catalog), period)
        month = new_month(period)
        month["ranker"] = None  # which ranker served the month's lists, as the service says
        weak_now: set[tuple[str, str]] = set()
        for result in diagnosed.branches:
            needs = {n.topic: n for n in needs_of.needs(result, w.streets.get(result.id), w.sizes.get(result.id, 0))}
            if not needs:
                continue
            body = service.prescribe(result.id, period)
            month["ranker"] = month["ranker"] or body["ranker"]
            lists: dict[str, list[dict]] = {}
            for item in body["prescriptions"]:
                lists.setdefault(item["topic"], []).append(item)
            for topic in body["weaknesses"]:
                weak_now.add((result.id, topic))
                need, items = needs.get(topic), lists.get(topic)
                if need is None or not items:
                    continue
                status, realized = w.act(month, need, [i["resource_id"] for i in items], pidx)
                if status != "ignored":
                    service.feedback(items[0]["prescription_id"], status)
                rows.append({"branch_id": result.id, "period": period, "topic": topic, "rule": need.rule,
                             "resource_id": items[0]["resource_id"], "status": status, "ranker": body["ranker"],
                             "truth_effect": realized})
        close_month(month, previous_weak, weak_now)
        previous_weak = weak_now
        if counted:
            monthly.append(month)
        if step + 1 >= spec.history:
            service.month_end(period)
        if on_month is not None and counted:
            on_month(month)
    return LoopResult(spec, monthly, pd.DataFrame(rows), w.truth, w.adjust.frame, w.dataset(), w.untouched)


__all__ = ["Service", "month_body", "run_served_loop"]
