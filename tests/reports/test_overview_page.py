"""The overview page's chart: month labels that never overlap, however long the range."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from diagnosis_service.periods import parse_period, period_str
from diagnosis_service.reports.overview_page import chart_svg


def months_data(n: int) -> dict:
    start = parse_period("2024-01")
    months = [{"period": period_str(start + k), "diagnosed": True,
               "branches": {"lamp_rate": 2.0 + k % 3, "red_rate": 0.5},
               "members": {"lamp_rate": 1.0, "red_rate": 0.2}} for k in range(n)]
    return {"months": months, "from": months[0]["period"], "to": months[-1]["period"]}


@given(st.integers(min_value=1, max_value=60), st.sampled_from(["zh", "en"]))
def test_month_labels_are_spaced_evenly_end_on_the_last_month_and_are_ten_at_most(n, lang):
    data = months_data(n)
    svg = chart_svg(data, lang)
    labels = re.findall(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">(\d{4}-\d{2})</text>', svg)
    periods = [m["period"] for m in data["months"]]
    assert labels and labels[-1][1] == periods[-1] and len(labels) <= 10
    xs = [float(x) for x, _ in labels]
    gaps = [b - a for a, b in zip(xs, xs[1:], strict=False)]
    assert not gaps or max(gaps) - min(gaps) < 0.5, gaps  # one spacing: no label squeezed beside another
    # 720 units wide, "2025-11" about 50 at 12px: labels at least that far apart.
    assert all(g >= 60 for g in gaps), gaps
