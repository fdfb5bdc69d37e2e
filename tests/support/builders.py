"""Build small datasets in code for engine tests: healthy defaults plus what a test changes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from diagnosis_service.data.model import Dataset
from diagnosis_service.periods import parse_period, period_str

HEALTHY_BRANCH = {
    "member_assemblies": 1, "committee_meetings": 1, "group_meetings": 1, "party_lectures": 1,
    "theme_party_days": 1, "org_life_attendance_rate": 100, "theory_study_sessions": 2,
    "democratic_consultations": 2, "democratic_appraisal_done": 1, "org_life_meeting_done": 1,
    "dues_on_time_rate": 100, "transfer_completion_rate": 100, "mobile_member_contact_rate": 100,
    "heart_to_heart_talks": 5, "activists_in_training": 2, "volunteer_hours_per_member": 3,
    "micro_wishes_fulfilled": 3, "model_post_rate": 20, "in_service_report_rate": 100,
    "affairs_disclosures": 1, "base_activities": 1, "star_rating": 4, "secretary_project_progress": 50,
}
HEALTHY_MEMBER = {
    "member_assemblies_attended": 0, "committee_meetings_attended": 0, "group_meetings_attended": 1,
    "party_lectures_attended": 0, "theme_party_days_attended": 0, "dues_paid": 1,
}


class Builder:
    """Collects rows; ``dataset(registry)`` fills every other reported indicator with healthy values."""

    def __init__(self) -> None:
        self.branches: list[tuple] = []
        self.members: list[tuple] = []
        self.rows: dict[str, list[dict]] = {"branch": [], "member": []}

    def branch(self, bid: str, btype: str = "community") -> Builder:
        self.branches.append((bid, bid, btype, "街道"))
        return self

    def member(self, mid: str, bid: str) -> Builder:
        self.members.append((mid, bid, mid))
        return self

    def row(self, subject: str, sid: str, period: str, **values) -> Builder:
        key = "branch_id" if subject == "branch" else "member_id"
        self.rows[subject].append({"period": period, key: sid, **values})
        return self

    def series(self, subject: str, sid: str, end: str, **series: list) -> Builder:
        """One row per month ending at ``end``; None in a list means a missing value."""
        months = max(len(v) for v in series.values())
        last = parse_period(end)
        for k in range(months):
            values = {name: vals[k] for name, vals in series.items() if k < len(vals)}
            self.row(subject, sid, period_str(last - months + 1 + k), **values)
        return self

    def dataset(self, registry) -> Dataset:
        frames = {}
        for subject, key, healthy in (("branch", "branch_id", HEALTHY_BRANCH), ("member", "member_id", HEALTHY_MEMBER)):
            reported = [i.id for i in registry.reported(subject)]
            records = []
            for row in self.rows[subject]:
                full = {name: healthy.get(name, 0) for name in reported}
                full.update({k: v for k, v in row.items()})
                records.append(full)
            frame = pd.DataFrame(records, columns=["period", key] + reported)
            frame[reported] = frame[reported].astype(float)
            frame.insert(0, "pidx", np.array([parse_period(p) for p in frame["period"]], dtype=np.int64))
            frames[subject] = frame.sort_values(["pidx", key]).reset_index(drop=True)
        return Dataset(
            branches=pd.DataFrame(self.branches, columns=["branch_id", "name", "type", "street"]).set_index("branch_id"),
            members=pd.DataFrame(self.members, columns=["member_id", "branch_id", "name"]).set_index("member_id"),
            branch_metrics=frames["branch"], member_metrics=frames["member"], source="builder")


def months(dataset: Dataset, keep: list[str], branches: pd.DataFrame | None = None,
           members: pd.DataFrame | None = None) -> Dataset:
    """The dataset with only the months ``keep`` (and other organisations, if given)."""
    b, m = dataset.branch_metrics, dataset.member_metrics
    return Dataset(dataset.branches if branches is None else branches,
                   dataset.members if members is None else members,
                   b[b["period"].isin(keep)].reset_index(drop=True), m[m["period"].isin(keep)].reset_index(drop=True))
