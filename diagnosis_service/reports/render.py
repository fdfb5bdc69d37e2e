"""The branch report document rendered as text, Markdown or HTML (escaped for each)."""

from __future__ import annotations

import html

from .branch import Document
from .labels import LABELS

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
            elif block[0] == "list":
                for text, subs in block[1]:
                    lines.append(f"  · {text}")
                    lines.extend(f"      {sub}" for sub in subs)
            else:
                _, headers, rows = block
                for row in rows:
                    lines.append(f"  · [{row[3]}] {row[0]}")
                    lines.append(f"      {headers[1]} {row[1]}{LABELS[doc.lang]['sep']}{headers[2]} {row[2]}")
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
            elif block[0] == "list":
                for text, subs in block[1]:
                    lines.append(f"- {_md(text)}")
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
vertical-align:top}th{background:#f6f1f1}td.num{text-align:right;white-space:nowrap}
li{margin:.25rem 0}li .note{color:#666;font-size:.9em}
"""


def render_html(doc: Document) -> str:
    e = html.escape
    lang = "zh-CN" if doc.lang == "zh" else "en"
    out = ["<!doctype html>", f'<html lang="{lang}">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{e(doc.title)}</title>",
           f"<style>{CSS}</style>", "</head>", "<body>", f"<h1>{e(doc.title)}</h1>", '<dl class="facts">']
    for k, v in doc.facts[:-1]:
        out.append(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>")
    k, _ = doc.facts[-1]
    out.append(f'<dt>{e(k)}</dt><dd><span class="lamp lamp-{e(doc.lamp)}">{e(doc.lamp_label)}</span></dd>')
    out.append("</dl>")
    for section in doc.sections:
        out.append(f"<section><h2>{e(section.heading)}</h2>")
        for block in section.blocks:
            if block[0] == "p":
                out.append(f"<p>{e(block[1])}</p>")
            elif block[0] == "h":
                out.append(f"<h3>{e(block[1])}</h3>")
            elif block[0] == "list":
                out.append("<ul>")
                for text, subs in block[1]:
                    notes = "".join(f'<br><span class="note">{e(s)}</span>' for s in subs)
                    out.append(f"<li>{e(text)}{notes}</li>")
                out.append("</ul>")
            else:
                _, headers, rows = block
                out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr></thead><tbody>")
                for row in rows:
                    out.append(f"<tr><td>{e(row[0])}</td><td class=\"num\">{e(row[1])}</td>"
                               f"<td class=\"num\">{e(row[2])}</td><td>{e(row[3])}</td></tr>")
                out.append("</tbody></table>")
        out.append("</section>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


__all__ = ["FORMATS", "render", "render_html", "render_markdown", "render_text"]
