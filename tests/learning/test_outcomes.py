"""Outcomes of served prescriptions on hand-made cases: against non-adopters, by the rule's direction, with other remedies and the baseline accounted for."""


import numpy as np
import pandas as pd
import pytest

from diagnosis_service.learning.outcomes import compute
from tests.support.learning import log_row, metrics


def test_outcome_is_the_change_against_comparable_non_adopters(ruleset):
    log = pd.DataFrame([log_row("A", "adopted"), log_row("B", "declined"), log_row("C", "ignored"),
                        log_row("D", "completed", value=0.0, reference=4.0)])
    m = metrics({"A": [1, 3, 3, 3], "B": [1, 1, 2, 1], "C": [1, 2, 2, 2], "D": [0, 2, 2, 2]})
    out = compute(log, m, ruleset, horizon=3).set_index("branch_id")
    # A: own change 2; control (B, C): mean of (1/3, 1) = 2/3; gap |2 - 1| = 1.
    assert out.loc["A", "own_change"] == pytest.approx(2.0)
    assert out.loc["A", "control_change"] == pytest.approx(2 / 3)
    assert out.loc["A", "improvement"] == pytest.approx(4 / 3)
    # D (completed counts as adopted): own 2, same control, gap 4 -> (2 - 2/3) / 4.
    assert out.loc["D", "improvement"] == pytest.approx((2 - 2 / 3) / 4)
    assert list(out["adopted"]) == [True, False, False, True]
    # Declined and ignored stay apart.
    assert set(out["status"]) == {"adopted", "declined", "ignored", "completed"}

def test_outcomes_follow_the_rule_direction_and_need_later_months(ruleset):
    # A "greater than" rule: lower is better (no such shipped branch rule: use a made-up one by id).
    log = pd.DataFrame([log_row("A", "adopted"), log_row("B", "declined")])
    m = metrics({"A": [1], "B": [1]})  # no later month
    out = compute(log, m, ruleset, horizon=3)
    assert out["improvement"].isna().all()
    m2 = metrics({"A": [1, 3], "B": [1, 1]})
    out2 = compute(log, m2, ruleset, horizon=3)
    assert out2.set_index("branch_id").loc["A", "improvement"] == pytest.approx(2.0)

def overlapping_district(n=600, months=14, effect=0.5, seed=0, levels=0.0, fade=(1.0, 1.0, 1.0), last=3):
    """Every branch weak every month (gap 1); a secretary who did not adopt last month adopts more often
    this month, so the non-adopters' later months carry more remedies than the adopters': the bias
    an outcome must not have. Each adopted remedy lifts the next three months by ``effect`` times
    ``fade`` of each month. Lists are logged up to ``last`` months before the end."""
    rng = np.random.default_rng(seed)
    base = 2025 * 12
    values = rng.normal(0.0, levels, (n, 1)) + rng.normal(0.0, 0.4, (n, months))  # a level per branch + noise
    adopted = np.zeros((n, months), dtype=bool)
    for t in range(3, months - last):
        adopted[:, t] = rng.random(n) < np.where(adopted[:, t - 1], 0.25, 0.75)
        for h in (1, 2, 3):
            if t + h < months:
                values[adopted[:, t], t + h] += effect * fade[h - 1]
    log = [{**log_row(f"B{b:04d}", "adopted" if adopted[b, t] else rng.choice(["declined", "ignored"]),
                      value=values[b, t], reference=values[b, t] + 1.0),
            "period": f"2025-{t + 1:02d}" if t < 12 else f"2026-{t - 11:02d}", "pidx": base + t}
           for b in range(n) for t in range(3, months - last)]
    rows = [{"branch_id": f"B{b:04d}", "pidx": base + t, "theory_study_sessions": values[b, t]}
            for b in range(n) for t in range(months)]
    return pd.DataFrame(log), pd.DataFrame(rows)

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_outcomes_discount_the_other_remedies_in_their_windows(ruleset, seed):
    log, m = overlapping_district(seed=seed)
    out = compute(log, m, ruleset, horizon=3)
    naive = compute(log, m, ruleset, horizon=3, rounds=0)
    adopted = out["adopted"]
    # The true effect of every adopted remedy is 0.5 of the gap. Without accounting for the others,
    # the non-adopters' later remedies make it look much smaller; with it, it is recovered.
    assert naive.loc[adopted, "improvement"].mean() < 0.4
    assert out.loc[adopted, "improvement"].mean() == pytest.approx(0.5, abs=0.03)
    # Not adopted: no effect of their own, measured as none (not exactly: each control mean is shrunk a
    # little toward its wider group's).
    assert out.loc[~adopted, "improvement"].mean() == pytest.approx(0.0, abs=1e-3)
    # The discounted share is reported, and zero where no other remedy is near.
    assert (naive["other_remedies"] == 0).all() and out["other_remedies"].abs().gt(0).any()

@pytest.mark.parametrize(("levels", "effect", "weight"), [(0.0, 0.5, 0.0), (3.0, 0.5, 1.0), (0.0, 0.0, 0.0)])
def test_the_baseline_counts_as_much_as_it_predicts(ruleset, levels, effect, weight):
    # Months that are pure noise: the baseline predicts nothing and subtracting it would only add its
    # noise (weight 0). Branches with lasting levels: the baseline carries the level (weight 1). The
    # same when no remedy works.
    log, m = overlapping_district(seed=3, levels=levels, effect=effect)
    out = compute(log, m, ruleset, horizon=3)
    assert out["baseline_weight"].to_numpy() == pytest.approx(weight, abs=0.08)
    assert out.loc[out["adopted"], "improvement"].mean() == pytest.approx(effect, abs=0.03)
    assert (compute(log, m, ruleset, horizon=3, rounds=0)["baseline_weight"] == 1.0).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_the_months_are_weighed_by_how_long_effects_last(ruleset, seed):
    # Effects that halve each month: the profile is found from the data, and the effect's size (its
    # mean over the three months, 0.5 x 7/12) is measured without bias, also from lists whose later
    # months are not all in yet (the last two months of lists).
    fade = (1.0, 0.5, 0.25)
    log, m = overlapping_district(seed=seed, fade=fade, last=1)
    out = compute(log, m, ruleset, horizon=3)
    assert out.attrs["window_profile"] == pytest.approx(np.array(fade) / np.mean(fade), abs=0.15)
    size = 0.5 * np.mean(fade)
    adopted = out["adopted"]
    partial = out["pidx"] >= out["pidx"].max() - 1
    assert out.loc[adopted & ~partial, "improvement"].mean() == pytest.approx(size, abs=0.03)
    assert out.loc[adopted & partial, "improvement"].mean() == pytest.approx(size, abs=0.06)
    # Weighing the first month most measures each effect with less noise than the plain mean.
    flat = compute(log, m, ruleset, horizon=3, profile=False)
    assert flat.attrs["window_profile"] == [1.0, 1.0, 1.0]
    spread = out.loc[adopted & ~partial, "improvement"].std()
    assert spread < 0.9 * flat.loc[adopted & ~partial, "improvement"].std()


def test_effects_that_last_keep_the_plain_mean(ruleset):
    log, m = overlapping_district(seed=4)
    out = compute(log, m, ruleset, horizon=3)
    assert out.attrs["window_profile"] == pytest.approx([1.0, 1.0, 1.0], abs=0.1)


@pytest.mark.parametrize(("levels", "drop"), [(0.0, 0.15), (2.0, 0.1)])
def test_a_branch_level_cancels_whatever_the_profile_and_the_months_missing(ruleset, levels, drop):
    # The months' weights sum to 1 only when every month weighs alike: the outcome must still measure
    # changes, so that adding a constant to an indicator changes nothing, with months missing here and
    # there (late reports) and with lasting branch levels.
    fade = (1.0, 0.5, 0.25)
    results = []
    for shift in (0.0, 50.0):
        log, m = overlapping_district(seed=0, fade=fade, levels=levels)
        m = m[np.random.default_rng(1).random(len(m)) >= drop].copy()
        log["value"] += shift
        log["reference"] += shift
        m["theory_study_sessions"] += shift
        results.append(compute(log, m, ruleset, horizon=3))
    plain, shifted = results
    assert plain.attrs["window_profile"] == shifted.attrs["window_profile"]
    np.testing.assert_allclose(plain["improvement"], shifted["improvement"], atol=1e-6)
    assert plain.loc[plain["adopted"], "improvement"].mean() == pytest.approx(0.5 * np.mean(fade), abs=0.03)
