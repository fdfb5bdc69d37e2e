"""The branch report document rendered as text, Markdown or HTML (escaped for each).

The HTML page can carry what a served page adds (``Controls``): a navigation bar, a notice, and for each
item of the plan its feedback form. The renderer places them; the service writes them.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field

from .branch import Document
from .labels import LABELS


@dataclass
class Controls:
    nav: str = ""  # HTML, placed above the title (hidden in print)
    notice: str = ""  # HTML, placed under the facts
    plan: Mapping[str, str] = field(default_factory=dict)  # resource id -> HTML under that plan item

FORMATS = ("text", "markdown", "html")


def render(doc: Document, fmt: str = "text") -> str:
    return {"text": render_text, "markdown": render_markdown, "html": render_html}[fmt](doc)


def render_text(doc: Document) -> str:
    colon = LABELS[doc.lang]["colon"]
    lines = [doc.title, "    ".join(f"{k}{colon}{v}" for k, v in doc.facts), ""]
    for section in doc.sections:
        lines.append(section.heading)
        for block in section.blocks:
            if block[0] == "p":
                lines.append(f"  {block[1]}")
            elif block[0] == "h":
                lines.append(f"  【{block[1]}】")
            elif block[0] in ("list", "plan", "more"):
                if block[0] == "more":
                    lines.append(f"  【{block[1]}】")
                for k, (text, subs, *_) in enumerate(block[-1], start=1):
                    lines.append(f"  {k}. {text}" if block[0] == "plan" else f"  · {text}")
                    lines.extend(f"      {sub}" for sub in subs)
            elif section.key == "weaknesses":
                _, headers, rows = block
                for row in rows:
                    lines.append(f"  · [{row[3]}] {row[0]}")
                    lines.append(f"      {headers[1]} {row[1]}{LABELS[doc.lang]['sep']}{row[2]}")  # says what it is
            else:
                _, headers, rows = block
                colon = LABELS[doc.lang]["colon"]
                for row in rows:
                    lines.append("  · " + "    ".join(f"{h}{colon}{c}" for h, c in zip(headers, row, strict=True)))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    """Escape what Markdown would otherwise read as markup."""
    out = text
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def render_markdown(doc: Document) -> str:
    colon = LABELS[doc.lang]["colon"]
    lines = [f"# {_md(doc.title)}", ""]
    lines += [f"- **{_md(k)}**{colon}{_md(v)}" for k, v in doc.facts] + [""]
    for section in doc.sections:
        lines += [f"## {_md(section.heading)}", ""]
        for block in section.blocks:
            if block[0] == "p":
                lines += [_md(block[1]), ""]
            elif block[0] == "h":
                lines += [f"### {_md(block[1])}", ""]
            elif block[0] in ("list", "plan", "more"):
                if block[0] == "more":
                    lines += [f"### {_md(block[1])}", ""]
                for k, (text, subs, *_) in enumerate(block[-1], start=1):
                    lines.append(f"{k}. {_md(text)}" if block[0] == "plan" else f"- {_md(text)}")
                    lines.extend(f"  - {_md(sub)}" for sub in subs)
                lines.append("")
            else:
                _, headers, rows = block
                lines.append("| " + " | ".join(_md(h) for h in headers) + " |")
                lines.append("|" + "---|" * len(headers))
                lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


CSS = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",system-ui,sans-serif;max-width:56rem;
margin:2rem auto;padding:0 1rem;color:#222;line-height:1.6}
h1{font-size:1.5rem;border-bottom:3px solid #c00;padding-bottom:.4rem}
h2{font-size:1.2rem;margin-top:1.8rem;color:#900}h3{font-size:1.05rem;margin-bottom:.3rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dl.facts dt{font-weight:600}
.lamp{display:inline-block;padding:0 .6rem;border-radius:1rem;color:#fff;font-weight:600}
.lamp-red{background:#c62828}.lamp-yellow{background:#f9a825;color:#222}.lamp-green{background:#2e7d32}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:.35rem .5rem;text-align:left;
vertical-align:top}th{background:#f6f1f1;white-space:nowrap}td.num{text-align:right;white-space:nowrap}
td.short{white-space:nowrap}.scroll{overflow-x:auto}
li{margin:.25rem 0}li .note{color:#666;font-size:.9em}
ol.plan>li{margin:.8rem 0;padding:.5rem .7rem;border-left:4px solid #c00;background:#fbf6f6}
details summary{cursor:pointer;font-weight:600;margin:.6rem 0}
nav.bar{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;font-size:.95em;padding:.4rem 0;
border-bottom:1px solid #eee}nav.bar form{display:inline;margin:0}
nav.bar .who{margin-left:auto;display:inline-flex;gap:.6rem;align-items:center;white-space:nowrap}
nav.bar form.filters{flex-basis:100%;display:flex;flex-wrap:wrap;gap:.3rem .9rem;align-items:center}
.skip{position:absolute;left:-9999px}.skip:focus{left:1rem;top:.5rem;background:#fff;padding:.3rem .6rem;
border:2px solid #c00;z-index:10}
.notice{padding:.5rem .8rem;background:#e8f5e9;border:1px solid #a5d6a7;border-radius:.3rem}
.feedback{margin-top:.4rem;display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}
.feedback form{display:inline-flex;gap:.3rem;align-items:center;margin:0}
.feedback button{padding:.2rem .8rem;cursor:pointer}.status{font-weight:600;color:#2e7d32}
.feedback[data-status=""] .status{color:#666;font-weight:400}.feedback[data-status="declined"] .status{color:#6d4c41}
.feedback button[aria-pressed="true"]{background:#2e7d32;color:#fff;border:1px solid #2e7d32;border-radius:2px}
.feedback button.fb-declined[aria-pressed="true"]{background:#6d4c41;border-color:#6d4c41}
.feedback .notice,.feedback .error{flex-basis:100%;margin:0 0 .2rem}
.error{padding:.5rem .8rem;background:#ffebee;border:1px solid #ef9a9a;border-radius:.3rem;color:#b71c1c}
@media print{nav.bar,.feedback,.notice,.error,details{display:none}
body{max-width:none;margin:0;padding:0;font-size:11pt;color:#000}@page{size:A4;margin:15mm}
section{break-inside:avoid-page}h2{break-after:avoid}a{color:#000;text-decoration:none}
.lamp{border:1px solid #000;color:#000!important;background:none!important}}
"""


def render_html(doc: Document, controls: Controls | None = None) -> str:
    e = html.escape
    c = controls or Controls()
    lang = "zh-CN" if doc.lang == "zh" else "en"
    out = ["<!doctype html>", f'<html lang="{lang}">', "<head>", '<meta charset="utf-8">', '<link rel="icon" href="data:,">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{e(doc.title)}</title>",
           f"<style>{CSS}</style>", "</head>", "<body>"]
    if c.nav:
        out.append(c.nav)
    out += ['<main id="main">', f"<h1>{e(doc.title)}</h1>", '<dl class="facts">']
    for k, v in doc.facts[:-1]:
        out.append(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>")
    k, _ = doc.facts[-1]
    out.append(f'<dt>{e(k)}</dt><dd><span class="lamp lamp-{e(doc.lamp)}" id="lamp-badge">{e(doc.lamp_label)}</span></dd>')
    out.append("</dl>")
    if c.notice:
        out.append(c.notice)
    for section in doc.sections:
        out.append(f'<section id="{e(section.key)}"><h2>{e(section.heading)}</h2>' if section.key
                   else f"<section><h2>{e(section.heading)}</h2>")
        for block in section.blocks:
            out += _html_block(block, c, e)
        out.append("</section>")
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def html_block(block: tuple) -> list[str]:
    """One block of a document as HTML (for pages that lay out documents of their own)."""
    return _html_block(block, Controls(), html.escape)


def _html_block(block: tuple, c: Controls, e) -> list[str]:
    def item(text: str, subs: list[str], extra: str = "", attrs: str = "", text_id: str = "") -> str:
        notes = "".join(f'<br><span class="note">{e(s)}</span>' for s in subs)
        shown = f'<span id="{e(text_id)}">{e(text)}</span>' if text_id else e(text)
        return f"<li{attrs}>{shown}{notes}{extra}</li>"

    if block[0] == "p":
        return [f"<p>{e(block[1])}</p>"]
    if block[0] == "h":
        return [f"<h3>{e(block[1])}</h3>"]
    if block[0] == "list":
        return ["<ul>", *[item(text, subs) for text, subs in block[1]], "</ul>"]
    if block[0] == "plan":
        # The item's text has an id a page's feedback buttons refer to: a screen reader tells which item each
        # 采纳 / 不采纳 / 已完成 answers (the same in a file: a page is the file plus its controls).
        return ['<ol class="plan">', *[item(text, subs, c.plan.get(p.resource_id, ""),
                                             f' data-resource="{e(p.resource_id)}"', f"plan-{p.resource_id}")
                                        for text, subs, p in block[1]],
                "</ol>"]
    if block[0] == "more":
        return [f"<details><summary>{e(block[1])}</summary><ul>", *[item(text, subs) for text, subs in block[2]],
                "</ul></details>"]
    _, headers, rows = block
    out = ['<div class="scroll"><table><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in headers)
           + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(_cell(k, v, len(row), e) for k, v in enumerate(row)) + "</tr>")
    out.append("</tbody></table></div>")  # a narrow screen scrolls the table, not the page
    return out


def _cell(k: int, v: str, width: int, e) -> str:
    if 0 < k < 3 and width == 4 and _numeric(v):
        return f'<td class="num">{e(v)}</td>'
    short = len(v) <= (16 if v.isascii() else 8)  # a month, a lamp, a severity: on one line
    return f'<td class="short">{e(v)}</td>' if short else f"<td>{e(v)}</td>"


def _numeric(text: str) -> bool:
    """A number (a share in percent too); a dash alone is not one (it aligns as the text of its column)."""
    return text.removesuffix("%").replace(".", "", 1).replace("-", "", 1).isdigit()


__all__ = ["FORMATS", "Controls", "html_block", "render", "render_html", "render_markdown", "render_text"]
