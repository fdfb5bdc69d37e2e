"""A synthetic district for demos, tests and benchmarks, deterministic for a seed.

Defaults follow the seed article: 2,654 organisations (167 village, 103 community branches and the
rest of the contract's types), 47,411 members, 12 months (``DEFAULT_SPEC``, what ``simulate`` writes,
has 24). Each branch has a hidden "health" (most are healthy), a few lapse for a while (no org life),
and a few members drift away (unpaid dues, absent), so every lamp rule has something to find. Member
figures are drawn first from the branch's own meetings, and the branch rates (attendance, dues) are
computed from its members, so the tables agree.

Without a platform (``platform_from=None``, what ``SimulationSpec()`` gives) drifting members only pile up,
so lamp rates rise over the window. With ``platform_from`` (``DEFAULT_SPEC``: 2024-01..2025-12, the
platform from 2025-01) the district tells the seed story instead: steady before the launch, then red and
yellow lamps fall over the platform's first year as weak branches pick up, drifting members are brought
back and reminders cut forgotten dues (simulation/platform.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.model import Dataset
from ..errors import InputError, Problem
from ..periods import HINT, is_period, parse_period, period_str
from ..rules.model import Registry
from .platform import (
    DRIFT_PER_MONTH,
    DRIFT_SPELL,
    MonthByMonth,
    Platform,
    platform_for,
)

DEFAULT_BRANCHES = 2654
DEFAULT_MEMBERS = 47411
DEFAULT_MONTHS = 12
DEFAULT_END = "2025-12"
VILLAGE_SHARE = 167 / 2654
COMMUNITY_SHARE = 103 / 2654
OTHER_TYPES = {"enterprise": 0.38, "government": 0.19, "social_org": 0.15, "school": 0.13,
               "hospital": 0.06, "other": 0.09}
SIZE_WEIGHT = {"village": 3.2, "community": 3.8, "enterprise": 0.8, "government": 1.0, "social_org": 0.5,
               "school": 1.1, "hospital": 1.3, "other": 0.7}
TOWNS = ["集士港镇", "古林镇", "高桥镇", "横街镇", "章水镇", "龙观乡", "鄞江镇", "洞桥镇", "石碶街道"]
STREETS = ["鼓楼街道", "南门街道", "西门街道", "江厦街道", "白云街道", "段塘街道", "望春街道", "月湖街道"]
SYLLABLES = list("东南西北上下前后新老大小金银山水河湖桥塘港岙岭林竹梅兰松柏庄园丰华安康宁泰和平福寿春秋明光")
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉鹏飞慧琳斌宇浩凯晨")
ORG_SUFFIX = {"enterprise": ["科技有限公司", "制造有限公司", "物流有限公司", "服饰有限公司", "电器股份有限公司"],
              "government": ["局机关", "办公室", "服务中心", "管理所"],
              "social_org": ["协会", "商会", "社会工作服务中心", "志愿者联合会"],
              "school": ["小学", "中学", "幼儿园", "职业学校"],
              "hospital": ["医院", "社区卫生服务中心", "中医院"],
              "other": ["市场", "商务楼宇", "产业园", "联合"]}

@dataclass(frozen=True)
class SimulationSpec:
    branches: int = DEFAULT_BRANCHES
    members: int = DEFAULT_MEMBERS
    months: int = DEFAULT_MONTHS
    end: str = DEFAULT_END
    seed: int = 0
    platform_from: str | None = None    # YYYY-MM the platform launches (see simulation/platform.py); None: no platform

    def validate(self) -> None:
        """InputError naming each field out of its range."""
        problems = []
        if self.branches < 1:
            problems.append(Problem("must be at least 1", field=("branches",)))
        if self.members < self.branches:
            problems.append(Problem("must be at least the number of branches (every branch has a member)",
                                    field=("members",)))
        if not 1 <= self.months <= 120:
            problems.append(Problem("must be from 1 to 120", field=("months",)))
        if not is_period(self.end):
            problems.append(Problem(f"bad period {self.end!r}", field=("end",), suggestion=HINT))
        if self.platform_from is not None and not is_period(self.platform_from):
            problems.append(Problem(f"bad period {self.platform_from!r}", field=("platform_from",),
                                    suggestion=HINT))
        if problems:
            raise InputError(problems)


# The demo district: a year of history, then the platform's first year (what `simulate` writes by default).
DEFAULT_SPEC = SimulationSpec(months=24, platform_from="2025-01")


def simulate(spec: SimulationSpec, registry: Registry) -> Dataset:
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    branches = _branches(spec, rng)
    members, branch_index = _members(spec, branches, rng)
    end = parse_period(spec.end)
    pidx = np.arange(end - spec.months + 1, end + 1)
    platform = platform_for(spec.platform_from, pidx)
    # With a platform the monthly figures are drawn month by month (see platform.MonthByMonth), so that the months
    # before the launch are exactly those of the same district with a later launch; without, as always.
    draws = rng if platform is None else MonthByMonth(np.random.SeedSequence(spec.seed))
    branch_metrics, held = _branch_metrics(branches, pidx, draws, platform)
    member_metrics = _member_metrics(members, branch_index, held, branches, pidx, draws, platform)
    _rates_from_members(branch_metrics, member_metrics, members)
    reported_b = [i.id for i in registry.reported("branch")]
    reported_m = [i.id for i in registry.reported("member")]
    for frame, cols in ((branch_metrics, reported_b), (member_metrics, reported_m)):
        for col in cols:
            if col not in frame:
                frame[col] = np.nan
    key_b = ["pidx", "period", "branch_id"]
    key_m = ["pidx", "period", "member_id"]
    return Dataset(
        branches=branches[["branch_id", "name", "type", "street"]].set_index("branch_id"),
        members=members[["member_id", "branch_id", "name"]].set_index("member_id"),
        branch_metrics=branch_metrics[key_b + reported_b].sort_values(["pidx", "branch_id"]).reset_index(drop=True),
        member_metrics=member_metrics[key_m + reported_m].sort_values(["pidx", "member_id"]).reset_index(drop=True),
        source=f"simulate(seed={spec.seed})",
    )


def branch_types(n: int) -> list[str]:
    village = round(n * VILLAGE_SHARE)
    community = round(n * COMMUNITY_SHARE)
    if n >= 2:
        village, community = max(village, 1), max(community, 1)
    rest = n - village - community
    out = ["village"] * village + ["community"] * community
    counts = {t: int(rest * share) for t, share in OTHER_TYPES.items()}
    counts["enterprise"] += rest - sum(counts.values())
    for t, c in counts.items():
        out += [t] * c
    return out[:n]


def _name(rng: np.random.Generator, k: int) -> str:
    return "".join(rng.choice(SYLLABLES, size=k))


def _branches(spec: SimulationSpec, rng: np.random.Generator) -> pd.DataFrame:
    types = branch_types(spec.branches)
    rows = []
    for i, t in enumerate(types):
        if t == "village":
            street = TOWNS[i % len(TOWNS)]
            name = f"{street[:2]}{_name(rng, 2)}村党支部"
        elif t == "community":
            street = STREETS[i % len(STREETS)]
            name = f"{_name(rng, 2)}社区党委"
        else:
            street = (STREETS + TOWNS)[i % (len(STREETS) + len(TOWNS))]
            name = f"{_name(rng, 2)}{rng.choice(ORG_SUFFIX[t])}党支部"
        rows.append((f"B{i + 1:05d}", name, t, street))
    frame = pd.DataFrame(rows, columns=["branch_id", "name", "type", "street"])
    n = len(frame)
    # Hidden health: most branches healthy, a tail of weak ones.
    frame["health"] = rng.beta(8, 2, size=n)
    frame["lapse_start"] = np.where(rng.random(n) < 0.035, rng.integers(0, max(spec.months, 1), size=n), -1)
    frame["lapse_len"] = rng.integers(1, 4, size=n)
    return frame


def _members(spec: SimulationSpec, branches: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    n_b = len(branches)
    weight = branches["type"].map(SIZE_WEIGHT).to_numpy() * rng.lognormal(0, 0.5, size=n_b)
    sizes = rng.multinomial(spec.members - n_b, weight / weight.sum()) + 1
    branch_index = np.repeat(np.arange(n_b), sizes)
    n = len(branch_index)
    names = [f"{SURNAMES[a]}{GIVEN[b]}{GIVEN[c] if c >= 0 else ''}" for a, b, c in zip(
        rng.integers(0, len(SURNAMES), n), rng.integers(0, len(GIVEN), n),
        np.where(rng.random(n) < 0.6, rng.integers(0, len(GIVEN), n), -1), strict=True)]
    members = pd.DataFrame({
        "member_id": [f"M{i + 1:06d}" for i in range(n)],
        "branch_id": branches["branch_id"].to_numpy()[branch_index],
        "name": names,
    })
    members["engagement"] = rng.beta(6, 1.6, size=n)
    # A few members drift away from some month on: they stop paying dues and attending.
    if spec.platform_from is None:
        drift = rng.random(n) < 0.03
        members["drift_from"] = np.where(drift, rng.integers(-6, spec.months, size=n), 10_000)
    else:
        # Starts as far back as the longest spell, at the same rate every month: as many drifting in the
        # first month as in any other before the launch (see DRIFT_SPELL).
        drift = rng.random(n) < DRIFT_PER_MONTH * (spec.months + DRIFT_SPELL[1])
        members["drift_from"] = np.where(drift, rng.integers(-DRIFT_SPELL[1], spec.months, size=n), 10_000)
    members["forgetful"] = rng.random(n) < 0.08
    # Some join during the year (no rows before), a few leave (no rows after).
    members["first"] = np.where(rng.random(n) < 0.04, rng.integers(1, max(spec.months, 2), size=n), 0)
    members["last"] = np.where(rng.random(n) < 0.02, rng.integers(0, spec.months, size=n), spec.months - 1)
    members["last"] = np.maximum(members["last"], members["first"])
    return members, branch_index


def _branch_metrics(branches: pd.DataFrame, pidx: np.ndarray, rng: np.random.Generator,
                    platform: Platform | None = None) -> tuple[pd.DataFrame, dict]:
    n, m = len(branches), len(pidx)
    h = branches["health"].to_numpy()[:, None] * np.ones((1, m))
    month_no = np.arange(m)[None, :]
    start = branches["lapse_start"].to_numpy()[:, None]
    if platform is not None:
        h, start = platform.health(h), platform.lapse_starts(start)
    lapsed = (start >= 0) & (month_no >= start) & (month_no < start + branches["lapse_len"].to_numpy()[:, None])
    active = ~lapsed
    calendar = (pidx % 12 + 1)[None, :]
    quarter_end = calendar % 3 == 0

    def pois(lam):
        return rng.poisson(np.maximum(lam, 0)) * active

    def bern(p):
        return (rng.random((n, m)) < np.clip(p, 0, 1)) * active

    held = {
        "member_assemblies": np.maximum(bern(0.25 + 0.2 * h), bern(quarter_end * 0.9 * h)),
        "committee_meetings": np.maximum(bern(0.55 + 0.42 * h), 0) + pois(0.1 * h),
        "group_meetings": bern(0.5 + 0.45 * h) + pois(0.3 * h),
        "party_lectures": np.maximum(bern(0.2 + 0.15 * h), bern(quarter_end * 0.85 * h)),
        "theme_party_days": bern(0.45 + 0.5 * h),
    }
    size = branches["type"].map(SIZE_WEIGHT).to_numpy()[:, None]
    type_vol = branches["type"].map({"village": 0.8, "community": 1.4}).fillna(1.0).to_numpy()[:, None]
    progress = np.clip(np.cumsum(rng.gamma(2.0, 4.0 * h[:, :1] + 1, size=(n, m)), axis=1)
                       - rng.binomial(1, 0.04, size=(n, m)) * rng.integers(1, 10, size=(n, m)), 0, 100)
    done_month_a = np.where(rng.random(n) < 0.93, rng.integers(2, 12, size=n), 99)[:, None]
    done_month_o = np.where(rng.random(n) < 0.92, rng.integers(1, 12, size=n), 99)[:, None]
    star = np.clip(np.round(1 + 4 * branches["health"].to_numpy() + rng.normal(0, 0.6, size=n)), 1, 5)[:, None]
    frame = {
        **held,
        "theory_study_sessions": pois(0.6 + 2.4 * h),
        "democratic_consultations": pois(0.3 + 1.2 * h),
        "democratic_appraisal_done": (calendar >= done_month_a).astype(float),
        "org_life_meeting_done": (calendar >= done_month_o).astype(float),
        "transfer_completion_rate": np.where(rng.random((n, m)) < 0.06 + 0.1 * (1 - h),
                                             rng.choice([50.0, 66.7, 75.0, 80.0], size=(n, m)), 100.0),
        "mobile_member_contact_rate": np.clip(np.round(100 - rng.gamma(1.2, 6 * (1.3 - h)), 1), 0, 100),
        "heart_to_heart_talks": rng.poisson(np.maximum(size * 2.5 * h, 0.1)),
        "activists_in_training": rng.poisson(np.maximum(size * 0.8 * h, 0.05)),
        "micro_wishes_fulfilled": rng.poisson(np.maximum(size * type_vol * 1.5 * h, 0.05)),
        "model_post_rate": np.clip(np.round(rng.normal(25 * h, 6), 1), 0, 100),
        "in_service_report_rate": np.clip(np.round(100 - rng.gamma(1.1, 5 * (1.4 - h)), 1), 0, 100),
        "affairs_disclosures": np.maximum(bern(0.2 + 0.3 * h), bern(quarter_end * 0.9 * h)),
        "base_activities": pois(0.2 + 0.9 * h),
        "star_rating": star * np.ones((1, m)),
        "secretary_project_progress": np.round(progress, 1),
    }
    out = pd.DataFrame({k: np.asarray(v, dtype=float).ravel() for k, v in frame.items()})
    out.insert(0, "branch_id", np.repeat(branches["branch_id"].to_numpy(), m))
    out.insert(0, "period", [period_str(int(p)) for p in np.tile(pidx, n)])
    out.insert(0, "pidx", np.tile(pidx, n))
    return out, {k: np.asarray(v) for k, v in held.items()}


def _member_metrics(members: pd.DataFrame, branch_index: np.ndarray, held: dict, branches: pd.DataFrame,
                    pidx: np.ndarray, rng: np.random.Generator, platform: Platform | None = None) -> pd.DataFrame:
    n, m = len(members), len(pidx)
    month_no = np.arange(m)[None, :]
    present = (month_no >= members["first"].to_numpy()[:, None]) & (month_no <= members["last"].to_numpy()[:, None])
    e = members["engagement"].to_numpy()[:, None] * np.ones((1, m))
    drift_from = members["drift_from"].to_numpy()
    drifting = month_no >= drift_from[:, None]
    forget_p = 0.12
    if platform is not None:
        e = platform.engagement(e)
        drifting &= month_no < platform.back(drift_from)[:, None]
        forget_p = platform.forgetting(forget_p)
    e = np.where(drifting, 0.0, e)
    health = branches["health"].to_numpy()[branch_index][:, None]
    cols: dict[str, np.ndarray] = {}
    any_attended = np.zeros((n, m), dtype=int)
    for name, counts in held.items():
        per_member = counts[branch_index]
        attended = rng.binomial(per_member.astype(int), np.clip(0.15 + 0.8 * e, 0, 1))
        cols[f"{name}_attended"] = attended
        any_attended += attended
    forget = members["forgetful"].to_numpy()[:, None] & (rng.random((n, m)) < forget_p)
    cols["dues_paid"] = ((~drifting) & ~forget & (rng.random((n, m)) < 0.995)).astype(int)
    cols["theory_study_hours"] = np.round(rng.gamma(2.0, 2.0 * e + 0.1), 1)
    cols["online_study_points"] = np.round(rng.gamma(2.0, 15 * e + 1), 0)
    test_month = rng.random((n, m)) < 0.35
    cols["study_test_score"] = np.where(test_month, np.clip(np.round(rng.normal(70 + 20 * e, 8)), 0, 100), np.nan)
    volunteer = rng.random((n, m)) < 0.2 + 0.5 * e
    cols["volunteer_hours"] = np.where(volunteer, np.round(rng.gamma(1.5, 3.0, size=(n, m)) * 2) / 2, 0.0)
    cols["volunteer_activities"] = np.where(volunteer, 1 + rng.poisson(0.6, size=(n, m)), 0)
    cols["model_posts_created"] = rng.poisson(0.02 + 0.03 * e)
    claimed = rng.poisson(0.15 * e)
    cols["micro_wishes_claimed"] = claimed
    cols["micro_wishes_fulfilled"] = rng.binomial(claimed, 0.8)
    cols["community_report_done"] = (rng.random((n, m)) < 0.5 + 0.45 * e).astype(int)
    cols["community_service_hours"] = np.round(rng.gamma(1.0, 1.5 * e + 0.1), 1)
    cols["contact_households"] = rng.poisson(2 * e)
    cols["suggestions_adopted"] = rng.poisson(0.05 * e)
    cols["lectures_given"] = rng.poisson(0.02 + 0.02 * health * np.ones((1, m)))
    cols["heart_to_heart_talks"] = rng.poisson(0.3 * e)
    cols["base_visits"] = rng.poisson(0.15 * e)
    cols["emergency_duty_days"] = np.minimum(rng.poisson(0.1 * e), 31)
    cols["commendations"] = rng.poisson(0.01 * e)
    cols["disciplinary_actions"] = rng.binomial(1, 0.0005, size=(n, m))
    cols["mass_complaints"] = rng.binomial(1, 0.002, size=(n, m))
    grade = rng.choice([3, 4, 2, 1], p=[0.72, 0.22, 0.05, 0.01], size=n)[:, None] * np.ones((1, m), dtype=int)
    cols["democratic_appraisal_grade"] = grade
    cols["transfer_pending"] = rng.binomial(1, 0.004, size=(n, m))
    cols["platform_active_days"] = np.minimum(rng.binomial(31, np.clip(0.1 + 0.6 * e, 0, 1)), 31)
    keep = present.ravel()
    out = pd.DataFrame({k: np.asarray(v, dtype=float).ravel()[keep] for k, v in cols.items()})
    out.insert(0, "member_id", np.repeat(members["member_id"].to_numpy(), m)[keep])
    out.insert(0, "period", np.array([period_str(int(p)) for p in pidx])[np.tile(np.arange(m), n)][keep])
    out.insert(0, "pidx", np.tile(pidx, n)[keep])
    return out


def _rates_from_members(branch_metrics: pd.DataFrame, member_metrics: pd.DataFrame, members: pd.DataFrame) -> None:
    """Attendance and dues rates of a branch are its members' figures: the two tables agree."""
    branch_of = members.set_index("member_id")["branch_id"]
    frame = pd.DataFrame({
        "pidx": member_metrics["pidx"].to_numpy(),
        "branch_id": branch_of.reindex(member_metrics["member_id"]).to_numpy(),
        "attended": (member_metrics[[c for c in member_metrics if c.endswith("_attended")]].sum(axis=1) > 0),
        "paid": member_metrics["dues_paid"] == 1,
        "volunteer": member_metrics["volunteer_hours"],
    })
    grouped = frame.groupby(["pidx", "branch_id"]).agg(attended=("attended", "mean"), paid=("paid", "mean"),
                                                        volunteer=("volunteer", "mean"))
    keys = pd.MultiIndex.from_arrays([branch_metrics["pidx"], branch_metrics["branch_id"]])
    rates = grouped.reindex(keys)
    held_any = branch_metrics[["member_assemblies", "committee_meetings", "group_meetings", "party_lectures",
                               "theme_party_days"]].sum(axis=1).to_numpy() > 0
    attendance = np.round(rates["attended"].to_numpy() * 100, 1)
    branch_metrics["org_life_attendance_rate"] = np.where(held_any, attendance, 0.0)
    branch_metrics["dues_on_time_rate"] = np.round(rates["paid"].to_numpy() * 100, 1)
    branch_metrics["volunteer_hours_per_member"] = np.round(rates["volunteer"].to_numpy(), 2)
