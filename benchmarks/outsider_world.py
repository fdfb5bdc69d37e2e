"""An outsider's district for diagnosis-service: branches, members, monthly metrics and a hidden truth.

Written from the service's public face only (README, docs without effectiveness.md, the rule and catalog
files, the HTTP answers), never from its model or its own simulator: the truth below is this file's own.
`bench_outsider.py` drives a real service with it over HTTP and scores the service's recommendations.

Every branch has a health in [0, 1] per "key" (a thing it can be good or bad at); the month's metrics
are drawn from the health with noise. An adopted remedy raises the health of the keys its rule is
about by `effect x (1 - health)` for the next three months (faded 1, 0.5, 0.2). The effect is the
resource's own quality (log-normal, per topic), times a kind-by-branch-type table, times 1.3 for an
on-site resource in the branch's own street, times 0.3 for a resource the branch adopted in the six
months before. Draws are keyed by (seed, purpose, month, branch, ...), so two policies run on the same
seed see the same district and, for the same situation, the same draws (common random numbers).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import yaml

STREETS = ("鼓楼街道", "南门街道", "月湖街道", "白云街道", "石碶街道", "古林镇", "横街镇", "高桥镇")
TYPES = {"village": .24, "community": .24, "enterprise": .16, "social_org": .10, "government": .10,
         "school": .09, "hospital": .07}
# The truth's kind x branch-type multipliers: the outsider's own, deliberately unlike the rules' remedy_kinds
# (which put bases and activities first) and unlike the prior's flat preferences.
KIND_TYPE = {
    "lecturer": dict(village=.55, community=.8, enterprise=1.0, social_org=.7, government=1.35, school=1.1, hospital=.9),
    "lesson": dict(village=1.2, community=.9, enterprise=.7, social_org=1.0, government=.8, school=1.4, hospital=1.0),
    "video": dict(village=1.4, community=.7, enterprise=1.5, social_org=1.3, government=.9, school=.8, hospital=1.5),
    "base": dict(village=.7, community=1.4, enterprise=.6, social_org=.8, government=1.0, school=.7, hospital=.6),
    "activity": dict(village=.8, community=.6, enterprise=.9, social_org=1.2, government=.6, school=.9, hospital=.8),
}


def _reported(subject):
    """The indicators a platform sends for ``subject`` (branch, member): the rule files' registry, less the
    derived ones the service computes."""
    registry = yaml.safe_load((Path(__file__).resolve().parents[1] / "rules" / "indicators.yaml").read_text(
        encoding="utf-8"))
    return tuple(i["id"] for i in registry[subject] if not i.get("derived"))


BRANCH_IND, MEMBER_IND = _reported("branch"), _reported("member")
KEYS = ("committee", "group", "theme_day", "assembly", "lecture", "disclosure", "attendance", "theory", "consult",
        "dues", "transfer", "mobile", "report", "talks", "activists", "volunteer", "wishes", "posts", "base",
        "star", "project", "appraisal", "olmeeting", "absentees")
K = {k: i for i, k in enumerate(KEYS)}
# Which keys a weakness's rule is about (what an adopted remedy for it improves).
RULE_KEYS = {
    "theory_study_below_average": ("theory",), "democratic_consultation_below_average": ("consult",),
    "committee_meetings_missing": ("committee",), "group_meetings_missing": ("group",),
    "theme_party_day_missing": ("theme_day",), "member_assembly_missing_quarter": ("assembly",),
    "party_lecture_missing_quarter": ("lecture",), "org_life_attendance_low": ("attendance",),
    "dues_rate_below_100": ("dues",), "appraisal_not_done_by_december": ("appraisal",),
    "org_life_meeting_not_done_by_december": ("olmeeting",), "affairs_disclosure_missing_quarter": ("disclosure",),
    "transfer_completion_low": ("transfer",), "star_rating_low": ("star",),
    "secretary_project_slipping": ("project",), "secretary_project_lagging": ("project",),
    "mobile_contact_low": ("mobile",), "talks_below_average": ("talks",), "activists_below_average": ("activists",),
    "volunteer_hours_below_average": ("volunteer",), "micro_wishes_below_average": ("wishes",),
    "model_posts_below_average": ("posts",), "community_report_low": ("report",),
    "base_activities_below_average": ("base",),
    "branch_no_org_life_2_months": ("committee", "group", "theme_day"),
    "branch_no_org_life_this_month": ("committee", "group", "theme_day"),
    "branch_red_members_20": ("absentees",), "branch_red_members_10": ("absentees",),
}
TOPIC_KEYS = {"theory_study": ("theory",), "democratic_consultation": ("consult",), "org_life": ("committee",),
              "dues": ("dues",), "member_management": ("mobile",), "volunteer_service": ("volunteer",),
              "vanguard_role": ("posts",), "member_development": ("activists",), "openness": ("disclosure",)}
FADE = {1: 1.0, 2: 0.5, 3: 0.2}
REPEAT_MONTHS, REPEAT_FACTOR, STREET_FACTOR = 6, 0.3, 1.3
EFFECT_SCALE, EFFECT_CAP, FIRST_SHARE = 0.22, 0.95, 0.85


def periods(n, end="2025-12"):
    """The n months ending with `end`, as YYYY-MM."""
    y, m = map(int, end.split("-"))
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def _h(text):
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


class World:
    """The district and its truth for one seed. Call `metrics(t)` once per month, in order."""

    def __init__(self, seed, n_branches, months, catalog):
        self.seed, self.months = seed, list(months)
        rng = np.random.default_rng([seed, 1])
        types = list(TYPES)
        self.ids = [f"B{i + 1:04d}" for i in range(n_branches)]
        self.type = [types[i] for i in rng.choice(len(types), n_branches, p=list(TYPES.values()))]
        self.street = [STREETS[i] for i in rng.integers(0, len(STREETS), n_branches)]
        self.size = np.clip(np.round(rng.normal(15, 4, n_branches)), 6, 30).astype(int)
        struggling = rng.random(n_branches) < 0.25
        weak = rng.random((n_branches, len(KEYS))) < np.where(struggling, 0.12, 0.006)[:, None]
        good = np.where(struggling[:, None], rng.uniform(0.75, 0.95, weak.shape), rng.uniform(0.82, 1.0, weak.shape))
        self.h0 = np.where(weak, rng.uniform(0.15, 0.55, weak.shape), good)
        self.rate = rng.uniform(0.5, 0.7, n_branches)           # adopts the first item this often
        self.answers = rng.random(n_branches) >= 0.4            # 40% never send feedback
        self.members = []
        first = 0
        for b in range(n_branches):
            self.members.append([f"M{first + j + 1:06d}" for j in range(self.size[b])])
            first += self.size[b]
        p_chronic = 0.2 * (1 - self.h0[:, K["absentees"]]) ** 1.5
        self.chronic = [rng.random(self.size[b]) < p_chronic[b] for b in range(n_branches)]
        self.boosts = [[] for _ in range(n_branches)]            # (month, {key: delta}, effect)
        self.adopted = [[] for _ in range(n_branches)]           # (month, resource id)
        self.progress = np.zeros(n_branches)
        self.appraisal = np.zeros(n_branches, bool)
        self.olmeeting = np.zeros(n_branches, bool)
        self._catalog(catalog)
        self._suitable = {}

    # --- the catalog's truth ---------------------------------------------------------------------------
    def _catalog(self, catalog):
        self.res = {r["id"]: r for r in catalog}
        self.quality, self.home = {}, {}
        for rid, r in self.res.items():
            g = np.random.default_rng([self.seed, 7, _h(rid)])
            q = float(np.exp(0.75 * g.standard_normal()))
            tq = {}
            for i, topic in enumerate(r["topics"]):
                tq[topic] = q * float(np.exp(0.25 * g.standard_normal() if i == 0 else -0.15 + 0.35 * g.standard_normal()))
            self.quality[rid] = tq
            loc, streets = r.get("location_zh"), r.get("streets") or []
            if loc in STREETS:
                self.home[rid] = loc
            elif len(streets) == 1 and streets[0] != "all":
                self.home[rid] = streets[0]
            else:
                self.home[rid] = STREETS[_h(f"{self.seed}:{rid}") % len(STREETS)]

    def suitable(self, b, topic):
        key = (b, topic)
        if key not in self._suitable:
            typ, street = self.type[b], self.street[b]
            self._suitable[key] = [
                rid for rid, r in self.res.items()
                if r["active"] and topic in r["topics"]
                and ("all" in r["branch_types"] or typ in r["branch_types"])
                and ("all" in r["streets"] or street in r["streets"])]
        return self._suitable[key]

    def effect(self, t, b, rid, topic):
        """The share of the gap to health 1 an adoption closes (before fading)."""
        r = self.res.get(rid)
        if r is None:
            return 0.0
        e = EFFECT_SCALE * self.quality[rid].get(topic, 0.0) * KIND_TYPE[r["kind"]][self.type[b]]
        if r["format"] == "on_site" and self.home[rid] == self.street[b]:
            e *= STREET_FACTOR
        if any(rid == x and 0 < t - m <= REPEAT_MONTHS for m, x in self.adopted[b]):
            e *= REPEAT_FACTOR
        return min(EFFECT_CAP, e)

    def value(self, t, b, rid, topic):
        """The true expected value of recommending `rid` first: adoption probability x effect."""
        return self.rate[b] * FIRST_SHARE * self.effect(t, b, rid, topic)

    def baselines(self, t, b, topic):
        """random (expected over suitable), best-kind (the truth's best kind, its mean) and oracle values."""
        vals = {rid: self.value(t, b, rid, topic) for rid in self.suitable(b, topic)}
        if not vals:
            return 0.0, 0.0, 0.0
        kinds = {self.res[r]["kind"] for r in vals}
        best = max(kinds, key=lambda k: KIND_TYPE[k][self.type[b]])
        bk = [v for r, v in vals.items() if self.res[r]["kind"] == best]
        return float(np.mean(list(vals.values()))), float(np.mean(bk)), max(vals.values())

    # --- secretaries ----------------------------------------------------------------------------------
    def secretary(self, t, b, topic, n_items):
        """Which item (0, 1) the branch adopts for this weakness, or None."""
        u = np.random.default_rng([self.seed, 4, t, b, _h(topic) % 10**6]).random(2)
        if n_items == 0 or u[0] >= self.rate[b]:
            return None
        return 1 if n_items > 1 and u[1] < 0.15 else 0

    def adopt(self, t, b, rid, topic, rule):
        e = self.effect(t, b, rid, topic)
        keys = RULE_KEYS.get(rule) or TOPIC_KEYS.get(topic, ())
        self.boosts[b].append((t, {k: e * (1 - self.h0[b, K[k]]) for k in keys}, e))
        self.adopted[b].append((t, rid))
        return e

    def health(self, t, b):
        h = self.h0[b].copy()
        ret = 0.0
        for m, deltas, e in self.boosts[b]:
            f = FADE.get(t - m, 0.0)
            for k, d in deltas.items():
                h[K[k]] += d * f
                if k == "absentees":
                    ret = max(ret, min(1.0, 1.5 * e * f))
        return np.clip(h, 0, 1), ret

    # --- the month's metrics --------------------------------------------------------------------------
    def metrics(self, t):
        """Branch and member rows of month t (index into months); advances the cumulative state."""
        period = self.months[t]
        month = int(period[5:])
        branches, members = [], []
        for b in range(len(self.ids)):
            h, ret = self.health(t, b)
            row, mrows = self._branch(t, b, h, ret, month)
            branches.append(row)
            members.extend(mrows)
        return branches, members

    def _branch(self, t, b, h, ret, month):
        g = np.random.default_rng([self.seed, 2, t, b])
        u, z = g.random(24), g.standard_normal(16)
        n = int(self.size[b])

        def hk(k):
            return float(h[K[k]])

        def held(i, k):
            return int(u[i] < 1 - 0.9 * (1 - hk(k)) ** 1.5) * (1 + int(u[i + 1] < 0.2))

        def pct(span, k, zi):  # a rate: near 100 when healthy, falling off fast below about 0.6
            return round(float(np.clip(100 - span * (1 - hk(k)) ** 1.5 + 1.5 * z[zi], 0, 100)), 1)

        def level(top, k, zi, sd=0.25):  # a count most healthy branches hold at `top`
            return max(0, round(top * min(1.0, hk(k) / 0.75) ** 1.5 + sd * z[zi]))

        v = {"committee_meetings": held(0, "committee"), "group_meetings": held(2, "group"),
             "theme_party_days": held(4, "theme_day"),
             "member_assemblies": int(u[6] < 0.1 + 0.65 * hk("assembly")),
             "party_lectures": int(u[7] < 0.1 + 0.65 * hk("lecture")),
             "affairs_disclosures": int(u[8] < 0.1 + 0.65 * hk("disclosure")),
             "org_life_attendance_rate": pct(60, "attendance", 0),
             "theory_study_sessions": level(4, "theory", 1),
             "democratic_consultations": level(2, "consult", 2, 0.2),
             "mobile_member_contact_rate": pct(40, "mobile", 3),
             "heart_to_heart_talks": level(8, "talks", 4, 0.4),
             "activists_in_training": level(4, "activists", 5, 0.3),
             "volunteer_hours_per_member": round(max(0.0, (1 + 5 * hk("volunteer")) * (1 + 0.1 * z[6])), 1),
             "micro_wishes_fulfilled": level(5, "wishes", 7, 0.4),
             "model_post_rate": round(float(np.clip(5 + 40 * hk("posts") + 2 * z[8], 0, 100)), 1),
             "in_service_report_rate": pct(40, "report", 9),
             "base_activities": level(2, "base", 10, 0.2),
             "star_rating": int(np.clip(round(1 + 4 * hk("star") + 0.25 * z[11]), 1, 5))}
        transfer = 100.0
        if u[11] < 0.12 and u[12] >= 0.4 + 0.6 * hk("transfer"):
            transfer = 0.0 if u[13] < 0.5 else 50.0
        v["transfer_completion_rate"] = transfer
        if t == 0 or month == 1:
            self.appraisal[b] = self.olmeeting[b] = False
        if t == 0:
            self.progress[b] = (month - 1) * (1 + 14 * hk("project"))
        self.appraisal[b] |= u[9] < 0.04 + 0.3 * hk("appraisal")
        self.olmeeting[b] |= u[10] < 0.04 + 0.3 * hk("olmeeting")
        v["democratic_appraisal_done"] = int(self.appraisal[b])
        v["org_life_meeting_done"] = int(self.olmeeting[b])
        gain = max(0.0, 1 + 14 * hk("project") + 1.5 * z[12])
        if u[14] < 0.3 * (1 - hk("project")) ** 2:
            gain = -(3 + 5 * u[15])
        self.progress[b] = float(np.clip(self.progress[b] + gain, 0, 100))
        v["secretary_project_progress"] = round(self.progress[b], 1)
        mrows = self._members(t, b, h, ret, v)
        v["dues_on_time_rate"] = round(100.0 * sum(r["dues_paid"] for r in mrows) / n, 1)
        row = {"branch_id": self.ids[b]}
        row.update({k: v[k] for k in BRANCH_IND})
        return row, mrows

    def _members(self, t, b, h, ret, v):
        n = int(self.size[b])
        g = np.random.default_rng([self.seed, 3, t, b])
        u, z = g.random((n, 30)), g.standard_normal((n, 4))

        def hk(k):
            return float(h[K[k]])

        p_att = np.clip(0.55 + 0.43 * hk("attendance") + 0.05 * z[:, 0], 0, 1)
        p_att = np.where(self.chronic[b], ret, p_att)
        p_dues = 1 - 0.1 * (1 - hk("dues")) ** 2
        sessions = ("member_assemblies", "committee_meetings", "group_meetings", "party_lectures", "theme_party_days")
        rows = []
        for j, mid in enumerate(self.members[b]):
            x = u[j]
            r = {"member_id": mid}
            for i, s in enumerate(sessions):
                r[s + "_attended"] = int(v[s]) if x[i] < p_att[j] else 0
            rep = int(x[13] < v["in_service_report_rate"] / 100)
            claimed = int(x[10] < 0.3) + int(x[11] < 0.1)
            done_grade = 0
            if v["democratic_appraisal_done"]:
                done_grade = 2 if x[25] > 0.97 else 3 + int(x[25] < 0.4)
            r.update({
                "dues_paid": int(x[5] < p_dues),
                "theory_study_hours": round(max(0.0, 2 + 4 * hk("theory") + 1.5 * z[j, 1]), 1),
                "online_study_points": round(float(x[6] * 120 * (0.5 + hk("theory")))),
                "study_test_score": round(float(np.clip(70 + 25 * hk("theory") + 8 * z[j, 2], 0, 100)), 1),
                "volunteer_hours": round(float(v["volunteer_hours_per_member"] * (0.4 + 1.2 * x[7])), 1),
                "volunteer_activities": int(x[8] * 3 * (0.5 + hk("volunteer"))),
                "model_posts_created": int(x[9] < 0.03),
                "micro_wishes_claimed": claimed,
                "micro_wishes_fulfilled": claimed if x[12] < 0.5 + 0.5 * hk("wishes") else 0,
                "community_report_done": rep,
                "community_service_hours": round(float(x[14] * 6 * rep), 1),
                "contact_households": int(x[15] * 8),
                "suggestions_adopted": int(x[16] < 0.05),
                "lectures_given": int(x[17] < 0.03),
                "heart_to_heart_talks": int(x[18] * 2.5 * (0.2 + hk("talks"))),
                "base_visits": int(x[19] < 0.1 + 0.3 * hk("base")),
                "emergency_duty_days": int(x[20] < 0.05) * (1 + int(x[21] * 5)),
                "commendations": int(x[22] < 0.01),
                "disciplinary_actions": int(x[23] < 0.002),
                "mass_complaints": int(x[24] < 0.01),
                "democratic_appraisal_grade": done_grade,
                "transfer_pending": int(x[26] < 0.01),
                "platform_active_days": min(31, int(x[27] * 20 * (0.5 + hk("theory"))))})
            rows.append({"member_id": mid, **{k: r[k] for k in MEMBER_IND}})
        return rows
