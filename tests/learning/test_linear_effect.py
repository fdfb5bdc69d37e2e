"""The model's linear effect, with its categorical part looked up once per combination, is the sum over
the one-hot features in their order: the same float to the bit, however the memo was filled."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.learning import features
from diagnosis_service.learning.features import Row, linear_effect, one_hot

# Text as the data has it, and values equal to each other that print differently (a memo keyed on them
# would mix up their features).
RESOURCES, KINDS, TOPICS, TYPES, STREETS = ["L1", "L2", "V1", 1, True], ["lecturer", "video"], ["t1", "t2"], \
    ["rural", "school", 0.0, -0.0], ["S1", "S2", None, 12, 12.0, math.nan]
NAMES = sorted({name for combo in itertools.product(RESOURCES, KINDS, TOPICS, [True, False], TYPES, STREETS)
                for name in one_hot(Row(*combo, 10.0, 1.0))})
NUMBER = st.floats(-1e3, 1e3, allow_nan=False)
ROWS = st.builds(Row, st.sampled_from(RESOURCES), st.sampled_from(KINDS), st.sampled_from(TOPICS), st.booleans(),
                 st.sampled_from(TYPES), st.sampled_from(STREETS), st.floats(0, 500),
                 st.one_of(st.just(math.nan), NUMBER), st.sampled_from([0.0, 1.0]), st.sampled_from([0.0, 1.0]))
# Every feature's coefficient, or none (a feature the fit never saw)
COEFS = st.lists(st.one_of(st.none(), NUMBER), min_size=len(NAMES), max_size=len(NAMES)).map(
    lambda values: {n: v for n, v in zip(NAMES, values, strict=True) if v is not None})


@settings(max_examples=80, deadline=None)
@given(st.lists(ROWS, min_size=1, max_size=40), COEFS, NUMBER, st.integers(1, 40))
def test_the_memoised_effect_is_the_plain_sum_to_the_bit(rows, coef, intercept, limit):
    memo: dict = {}
    saved = features.MEMO_LIMIT
    features.MEMO_LIMIT = limit  # a memo cleared now and then gives the same figures
    try:
        for row in rows * 2:  # the second time from the memo
            plain = intercept + sum(coef.get(name, 0.0) * value for name, value in one_hot(row).items())
            assert linear_effect(row, coef, intercept, memo).hex() == plain.hex()
            assert len(memo) <= limit
    finally:
        features.MEMO_LIMIT = saved
