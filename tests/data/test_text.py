"""Ids as the service takes them: a segment of its addresses, whatever the text around it."""

from __future__ import annotations

from urllib.parse import quote, unquote

from hypothesis import given
from hypothesis import strategies as st

from diagnosis_service.data.text import id_problem


@given(st.text(min_size=1, max_size=70))
def test_an_id_taken_is_one_address_segment_that_reads_back_as_itself(text):
    if id_problem(text) is not None:
        return
    assert text == text.strip() and len(text) <= 64 and text.strip(".")
    segment = quote(text, safe="-_.~")
    # One segment, unchanged by the normalising a server or proxy does ('..' or '.' would climb a level).
    assert "/" not in unquote(segment) and unquote(segment) == text and segment not in (".", "..")


@given(st.text(alphabet="/\\?#% \t", min_size=1, max_size=3), st.text(alphabet="AB01-_.", min_size=1, max_size=5))
def test_what_would_end_or_escape_a_segment_is_refused_and_said(bad, good):
    for text in (good + bad + good, bad + good):
        problem = id_problem(text)
        assert problem is not None and ("'/'" in problem or "spaces" in problem or "control" in problem), (text, problem)


def test_ids_of_the_kinds_platforms_use_are_taken():
    for text in ("B00001", "M000123", "330203-001", "支部_01", "a.b", "R-LEC-7"):
        assert id_problem(text) is None, text
    for text in ("..", ".", "../B1", "B/1", "B 1", "B%2F1", "B#1", "B?1", "B\\1"):
        assert id_problem(text) is not None, text
