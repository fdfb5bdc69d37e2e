"""The one period parser: what it takes and what it refuses, the first time and every time after."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diagnosis_service.periods import is_period, parse_period, period_str

ANY_TEXT = st.one_of(st.text(max_size=9), st.from_regex(r"\A(19|20)[0-9]{2}-(0[1-9]|1[0-2])\Z"),
                     st.from_regex(r"\A[0-9]{4}-[0-9]{2}\Z"))


@given(ANY_TEXT)
def test_a_period_parses_to_the_same_index_every_time_and_a_bad_one_is_refused_every_time(text):
    if is_period(text):
        first = parse_period(text)
        assert first == int(text[:4]) * 12 + int(text[5:7]) - 1 and period_str(first) == text
        assert parse_period(text) == first  # the second time from what was kept
    else:
        for _ in range(2):  # nothing is kept of a refused one
            with pytest.raises(ValueError, match="expected YYYY-MM"):
                parse_period(text)


class Period(str):
    """A str subclass: equal to a kept period, yet checked as itself."""


@pytest.mark.parametrize("value", [None, 202503, b"2025-03", "2025-03\n", "２０２５-03", ["2025-03"]])
def test_what_is_not_a_period_is_refused_even_after_the_period_was_kept(value):
    parse_period("2025-03")
    with pytest.raises(ValueError, match="bad period"):
        parse_period(value)


def test_a_subclass_of_str_is_checked_and_parsed_as_its_text():
    assert parse_period(Period("2025-03")) == parse_period("2025-03")
    with pytest.raises(ValueError):
        parse_period(Period("2025-13"))


@pytest.mark.parametrize(("value", "why"), [("2025-13", "the month is 13: months are 01 to 12"),
                                            ("9999-12", "the year is 9999: years are 1900 to 2099"),
                                            ("2025-1", "four digits of the year, a hyphen, two digits of the month"),
                                            (202512, "a period is text, not int")])
def test_a_bad_period_says_what_is_wrong_with_it(value, why):
    from diagnosis_service.errors import InputError
    from diagnosis_service.periods import check_period

    with pytest.raises(InputError) as caught:
        check_period(value, "query", "period")
    (problem,) = caught.value.problems
    assert why in problem.message and problem.field == ("query", "period")
