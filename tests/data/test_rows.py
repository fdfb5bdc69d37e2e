"""The plain-Python row checks of the event path say what the table checks say, row for row."""

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.data.csvdir import validate_metrics
from diagnosis_service.data.rows import check_rows
from diagnosis_service.data.validate import Problems, numeric_column
from diagnosis_service.errors import InputError
from diagnosis_service.rules import load_ruleset
from tests.support.paths import RULES

FIELDS = ["dues_paid", "group_meetings_attended", "party_lectures_attended"]
cells = st.one_of(st.none(), st.integers(-2, 3), st.sampled_from([0.5, 1.0, 250.0]), st.booleans(),
                  st.sampled_from(["", " 1 ", "abc", "1.5", "-1", "2e0", "七"]))


def table_problems(rows, registry):
    frame = pd.DataFrame(rows)
    frame.insert(1, "member_id", "M1")
    for ind in registry.reported("member"):
        if ind.id not in frame:
            frame[ind.id] = None
    problems = Problems()
    validate_metrics(frame, "member", registry, "history", lambda pos: ("history", pos + 1), problems, None)
    return sorted(str(p) for p in problems.items)


def row_problems(rows, registry):
    try:
        check_rows(rows, "member", registry)
    except InputError as exc:
        return sorted(str(p) for p in exc.problems)
    return []


REGISTRY = load_ruleset(RULES).registry


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=4))
def test_row_checks_say_what_table_checks_say(values):
    rows = [{"period": f"2025-{k + 1:02d}", **dict(zip(FIELDS, v, strict=True))} for k, v in enumerate(values)]
    assert row_problems(rows, REGISTRY) == table_problems(rows, REGISTRY)


def test_row_shape_problems_name_the_row_and_field(ruleset):
    rows = [{"period": "2025-13", "dues_paid": 1}, {"period": "2025-01", "vanguard_points": 3, "dues_payd": 1},
            "not a row", {"period": "2025-01"}]
    got = row_problems(rows, ruleset.registry)
    assert got == sorted([
        "history:1:period: bad period '2025-13' (write it as YYYY-MM, e.g. 2025-03)",
        "history:2:vanguard_points: 'vanguard_points' is derived by the service and must not be sent "
        "(remove the column)",
        "history:2:dues_payd: unknown member indicator 'dues_payd' (did you mean 'dues_paid'?)",
        "history:3: a row must be an object of field: value",
        "history:4:period: duplicate row for period 2025-01 (one row per subject and period)",
    ])


def test_clean_rows_give_every_reported_indicator(ruleset):
    out = check_rows([{"period": "2025-02", "dues_paid": "1"}], "member", ruleset.registry)
    (pidx,) = out
    assert pidx == 2025 * 12 + 1
    assert out[pidx]["dues_paid"] == 1.0
    assert set(out[pidx]) == {i.id for i in ruleset.registry.reported("member")}


numbers = st.lists(st.one_of(st.none(), st.integers(-10**20, 10**20), st.integers(10**308, 10**400),
                             st.floats(allow_nan=True, allow_infinity=True)), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(numbers)
def test_a_column_of_numbers_reads_as_the_same_column_written_as_text(values):
    """JSON numbers and nulls skip the text parse: the same floats, the same problems as their text."""
    ind = REGISTRY.get("member", "group_meetings_attended")
    got = []
    for column in (values, ["" if v is None or v != v else str(v) for v in values]):  # NaN: missing, as null
        problems = Problems()
        arr = numeric_column(pd.DataFrame({ind.id: pd.Series(column, dtype=object)}), ind,
                             lambda pos: ("rows", pos + 1), problems)
        got.append(([x.hex() for x in arr.tolist()], sorted(str(p) for p in problems.items)))
    assert got[0] == got[1]
