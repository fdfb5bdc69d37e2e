"""The overview as a page: the document of ``reports.overview`` after a trend chart and a heat map.

The chart is inline SVG drawn here: no script, no library fetched by the browser, the same bytes for
the same overview; its words are text the browser renders in the page's font (Chinese glyphs included).
"""

from __future__ import annotations

import html
import re

from .labels import fmt
from .overview import SERIES, WORDS, document, pct
from .render import CSS, html_block

PAGE_CSS = """
body{max-width:72rem}svg.chart{width:100%;height:auto;max-width:60rem;min-width:40rem;display:block}
@media (max-width:42rem){svg.chart{min-width:0}}
svg.chart text{font-size:12px;fill:#333}svg.chart .axis{stroke:#999}svg.chart .grid{stroke:#eee}
table.heat td{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
table.heat td.street,table.heat th{text-align:left}.scroll{overflow-x:auto}
.legend{display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;font-size:.9em}.small{font-size:.85em;color:#666}
"""


def chart_svg(data: dict, lang: str = "zh") -> str:
    """The lamp rates of each month as lines (solid: red or yellow; dashed: red only), inline SVG."""
    w = WORDS[lang]
    e = html.escape
    months = data["months"]
    width, height, left, right, top, bottom = 720, 300, 52, 16, 16, 84
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [m[s][r] for m in months if m["diagnosed"] for s, r, *_ in SERIES if m[s][r] is not None]
    ymax = _nice_max(max(values, default=0.0))
    n = len(months)
    step = plot_w / n

    def x(i: int) -> float:
        return left + (i + 0.5) * step

    def y(v: float) -> float:
        return top + plot_h * (1 - v / ymax)

    label = w["chart_label"].format(start=data["from"], end=data["to"])
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{e(label)}">', f"<title>{e(label)}</title>"]
    for k in range(6):
        v = ymax * k / 5
        out.append(f'<line class="grid" x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{fmt(round(v, 2))}%</text>')
    out.append(f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}"/>')
    # At most 10 month labels, counted back from the last one, which is always labelled (a label of its own
    # beside an earlier one's overlapped it at 24 months).
    every = max(1, -(-n // 10))
    for i, m in enumerate(months):
        if (n - 1 - i) % every == 0:
            out.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{e(m["period"])}</text>')
    for subject, rate, key, color, dash in SERIES:
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        run: list[str] = []
        points = []
        for i, m in enumerate(months + [None]):
            v = m[subject][rate] if m and m["diagnosed"] else None
            if v is None:
                if len(run) > 1:
                    out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash_attr} '
                               f'points="{" ".join(run)}" data-series="{key}"/>')
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
            points.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{color}"><title>{e(w[key])} '
                          f'{e(m["period"])}: {fmt(v)}%</title></circle>')
        out += points
    legend_y = height - 36
    for k, (_, _, key, color, dash) in enumerate(SERIES):
        lx = left + k * (plot_w / 4)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{lx:.1f}" y1="{legend_y}" x2="{lx + 28:.1f}" y2="{legend_y}" stroke="{color}" '
                   f'stroke-width="2"{dash_attr}/>')
        out.append(f'<text x="{lx + 34:.1f}" y="{legend_y + 4}">{e(w[key])}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _nice_max(v: float) -> float:
    """The chart's top: the smallest of 5, 10, 20, 25, 50, 100 (percent) not below ``v``."""
    for top in (5.0, 10.0, 20.0, 25.0, 50.0, 100.0):
        if v <= top:
            return top
    return 100.0


def heat_table(data: dict, lang: str = "zh") -> str:
    """Streets × months, each cell the share of the street's branches with a red lamp, shaded by it."""
    w = WORDS[lang]
    e = html.escape
    diagnosed = data["diagnosed"]
    rates = [m["branch_red_rate"] for s in data["streets"] for m in s["months"] if m["branch_red_rate"] is not None]
    scale = max([1.0, *rates])  # the darkest cell is the highest rate shown (at least 1%)
    out = ['<div class="scroll"><table class="heat"><thead><tr><th>' + e(w["h_street"]) + "</th>"
           + "".join(f"<th>{e(p)}</th>" for p in diagnosed) + "</tr></thead><tbody>"]
    for s in data["streets"]:
        cells = []
        for m in s["months"]:
            v = m["branch_red_rate"]
            if v is None:
                cells.append("<td>—</td>")
                continue
            a = min(1.0, v / scale)
            ink = "#fff" if a > 0.55 else "#222"
            tip = f"{s['street']} {m['period']}: {w['h_branch_red_rate']} {fmt(v)}%, {w['h_member_lamp_rate']} " \
                  f"{pct(m['member_lamp_rate'], w)}"
            cells.append(f'<td style="background:rgba(198,40,40,{a:.2f});color:{ink}" title="{e(tip)}">{fmt(v)}</td>')
        out.append(f'<tr><td class="street">{e(s["street"])}</td>{"".join(cells)}</tr>')
    out.append("</tbody></table></div>")
    # The shades are relative to this table (a street's own page has its own darkest): said under it.
    out.append(f'<p class="small" id="heat-note">{e(w["heat_note"].format(top=fmt(scale)))}</p>')
    return "\n".join(out)


_NUMBER = re.compile(r"^[-+]?[0-9][0-9,.]*%?$|^—$")
_PERIOD = re.compile(r"^\d{4}-\d{2}$")  # a month: on one line (it wrapped as 2025- / 10)


def _table(block: tuple) -> list[str]:
    """A table of the overview: numbers (counts, rates) right-aligned in every column alike."""
    e = html.escape
    _, headers, rows = block
    out = ['<div class="scroll"><table><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in headers)
           + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="num">{e(v)}</td>' if _NUMBER.match(v) else
                                    f'<td class="short">{e(v)}</td>' if _PERIOD.match(v) else f"<td>{e(v)}</td>"
                                    for v in row) + "</tr>")
    out.append("</tbody></table></div>")
    return out


def render_html(data: dict, lang: str = "zh", type_name=lambda t: t, nav: str = "", extra: str = "") -> str:
    """The overview as a complete page: facts, the trend chart, the heat map, then the document's tables.
    ``nav`` goes above the title and ``extra`` (HTML) at the end (a served page's links)."""
    w = WORDS[lang]
    e = html.escape
    doc = document(data, lang, type_name)
    out = ["<!doctype html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', "<head>", '<meta charset="utf-8">', '<link rel="icon" href="data:,">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{e(doc.title)}</title>",
           f"<style>{CSS}{PAGE_CSS}</style>", "</head>", "<body>"]
    if nav:
        out.append(nav)
    out += ['<main id="main">', f"<h1>{e(doc.title)}</h1>", '<dl class="facts">']
    out += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in doc.facts]
    out.append("</dl>")
    if data["diagnosed"]:
        out += ['<section id="trend">', f"<h2>{e(w['trend'])}</h2>", f'<div class="scroll">{chart_svg(data, lang)}</div>', "</section>",
                '<section id="heatmap">', f"<h2>{e(w['heat'])}</h2>", heat_table(data, lang), "</section>"]
    for section in doc.sections:
        out.append(f'<section id="{e(section.key)}"><h2>{e(section.heading)}</h2>')
        for block in section.blocks:
            out += _table(block) if block[0] == "table" else html_block(block)
        out.append("</section>")
    if extra:
        out.append(extra)
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


__all__ = ["chart_svg", "heat_table", "render_html"]
