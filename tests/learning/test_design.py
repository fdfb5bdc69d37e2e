"""The effect fits' one-hot design: the matrix scikit-learn's DictVectorizer makes of the rows' one_hot
dicts, built column by column, the same to the bit."""

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction import DictVectorizer

from diagnosis_service.learning.design import feature_frame, one_hot_design
from diagnosis_service.learning.features import one_hot

TEXT = st.sampled_from(["BASE01", "LEC|02", "党史", "a", "a|b", "b", ""])


def _vectorized(rows: pd.DataFrame):
    vec = DictVectorizer(sort=True)
    matrix = vec.fit_transform([one_hot(r) for r in feature_frame(rows).itertuples(index=False)])
    return vec.get_feature_names_out().tolist(), matrix


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.lists(st.tuples(TEXT, TEXT, TEXT, TEXT, st.booleans(), st.sampled_from([None, math.nan, "古林镇", "S01", ""]),
                          st.sampled_from([math.nan, -4.0, 0.0, 7.0, 1e6]), st.sampled_from([math.nan, -1.0, 0.2, 9.0]),
                          st.sampled_from([0.0, 1.0]), st.sampled_from([0.0, 1.0]),
                          st.sampled_from([0.0, 1.0, True, False, math.nan, None]), st.sampled_from([0.0, 1.0])),
                min_size=1, max_size=30),
       st.booleans(), st.booleans())
def test_the_design_is_the_vectorizers_matrix(rows, arrow, without_repeats):
    frame = pd.DataFrame(rows, columns=["resource_id", "kind", "topic", "branch_type", "main_topic", "street", "members",
                                        "shortfall", "repeat", "repeat_kind", "on_site", "repeat_adopted"])
    if arrow:  # text as the store and the CSV readers give it
        frame = frame.astype({c: "string[pyarrow]" for c in ("resource_id", "kind", "topic", "branch_type")})
    if without_repeats:  # a frame from before the repeat and on-site features
        frame = frame.drop(columns=["repeat", "repeat_kind", "on_site", "repeat_adopted"])
    names, matrix = one_hot_design(frame)
    expected_names, expected = _vectorized(frame)
    assert names == expected_names
    assert type(matrix) is type(expected) and matrix.shape == expected.shape
    for part in ("data", "indices", "indptr"):
        mine, theirs = getattr(matrix, part), getattr(expected, part)
        assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes(), part


def test_an_empty_frame_is_refused_as_the_vectorizer_refuses_it():
    empty = pd.DataFrame(columns=["resource_id", "kind", "topic", "branch_type", "main_topic", "street", "members",
                                  "shortfall"])
    for build in (one_hot_design, _vectorized):
        with pytest.raises(ValueError, match="empty"):
            build(empty)
