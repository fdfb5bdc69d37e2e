"""Human-readable output of a diagnosed month: the district summary, the explanation of one subject's
rules and prescriptions (``--explain``), and the catalog as a table. Chinese first, English with
``lang="en"``. A month is anything with the fields of ``pipeline.month.Month`` (``DiagnosedMonth``).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Protocol

from ..engine.evaluator import Evaluator
from ..engine.findings import SubjectResult, clean_number
from ..engine.vectorized import explain
from ..periods import parse_period, period_str
from ..remedies.catalog import FORMAT_NAMES, KIND_NAMES, Resource
from ..remedies.prescribe import Choice
from ..rules.model import OPS, Registry, RuleSet
from .labels import LABELS, fmt


class DiagnosedMonth(Protocol):
    period: str
    ruleset: RuleSet
    branches: list[SubjectResult]
    members: list[SubjectResult]
    evaluator: Evaluator
    choices: dict[str, list[Choice]]


def summary(diag: DiagnosedMonth, lang: str = "zh", limit: int = 10) -> str:
    t = LABELS[lang]
    lines = [t["summary"].format(period=diag.period, version=diag.ruleset.version, branches=len(diag.branches),
                                 members=len(diag.members))]
    for label, results in ((t["branch_lamps"], diag.branches), (t["member_lamps"], diag.members)):
        counts = Counter(r.lamp for r in results)
        lines.append(f"{label}{t['colon']}" + "  ".join(f"{t[c]} {counts.get(c, 0)}" for c in ("red", "yellow", "green")))
    topics = diag.ruleset.registry.topics
    weak = Counter(w for r in diag.branches for w in r.weaknesses)
    lines.append(t["top_weak"] + t["colon"])
    for topic, n in sorted(weak.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        name = topics[topic].name_zh if lang == "zh" else topics[topic].name_en
        lines.append(f"  {name}: {n}")
    rules = Counter(f.rule for r in diag.branches + diag.members for f in r.findings)
    lines.append(t["top_rules"] + t["colon"])
    for rule_id, n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        rule = diag.ruleset.rule(rule_id)
        lines.append(f"  {rule.title(lang) if rule else rule_id}: {n}")
    red = [r.id for r in diag.branches if r.lamp == "red"]
    if red:
        more = f" {t['more'].format(n=len(red) - limit)}" if len(red) > limit else ""
        lines.append(f"{t['red_branches']}{t['colon']}" + t["sep"].join(red[:limit]) + more)
    return "\n".join(lines)


def render_explain(diag: DiagnosedMonth, subject: str, subject_id: str, lang: str = "zh") -> str:
    t = LABELS[lang]
    lines = [t["explain_title"].format(id=subject_id, period=diag.period)]
    for rule, state, traces, pos in explain(diag.evaluator, subject, subject_id, diag.period):
        if rule.months and not traces:
            verdict = t["skipped"]
        else:
            verdict = t["fired"] if state else (t["unknown"] if state is None else t["not_fired"])
        mark = "✔" if state else ("?" if state is None else "✘")
        lines.append(f"{mark} {rule.id} [{rule.severity}{', lamp' if rule.lamp else ''}]: {verdict}")
        for tr in traces:
            period = period_str(parse_period(diag.period) - tr.lag)
            what = tr.node.indicator if tr.node.change is None else f"{tr.node.change}({tr.node.indicator})"
            ref = tr.node.ref.describe()
            res = "true" if tr.result.true[pos] else ("false" if tr.result.known[pos] else "unknown")
            lines.append(f"    {period}: {what} = {fmt(tr.value[pos])} {OPS[tr.node.op]} {ref}"
                         f"{'' if tr.node.ref.kind == 'const' else ' = ' + fmt(tr.reference[pos])} -> {res}")
    return "\n".join(lines)


def render_prescriptions_explain(diag: DiagnosedMonth, branch_id: str, lang: str = "zh") -> str:
    """Why each prescription of a branch was chosen: filters, score factors, diversity discount."""
    t = LABELS[lang]
    choices = diag.choices.get(branch_id, [])
    ranker = choices[0].ranker if choices else "-"
    lines = [t["rx_explain_title"].format(id=branch_id, period=diag.period, ranker=ranker)]
    if not choices:
        lines.append(t["no_weakness"])
    topics = diag.ruleset.registry.topics
    for choice in choices:
        need = choice.need
        name = topics[need.topic].name_zh if lang == "zh" else topics[need.topic].name_en
        lines.append(t["weakness_of"].format(topic=name, rule=need.rule))
        lines.append("  " + t["rx_pool"].format(n=choice.candidates, inactive=choice.inactive,
                                                unsuitable=choice.unsuitable, recent=len(choice.recent),
                                                months=choice.repeat_months) + (" " + t["rx_repeats"] if choice.used_repeats else ""))
        for k, p in enumerate(choice.prescriptions, start=1):
            factors = " x ".join(f"{name} {clean_number(v)}" for name, v in p.parts)
            discount = (f" x diversity {clean_number(choice.diversity ** p.same_kind_before)}"
                        if p.same_kind_before else "")
            lines.append(f"  {k}. {p.resource.id} [{p.resource.kind}] {p.resource.title(lang)}")
            lines.append(f"     score {clean_number(p.score)} = {factors}{discount}")
    return "\n".join(lines)


def catalog_table(resources: list[Resource], registry: Registry, lang: str = "zh") -> str:
    """A plain table of resources for a terminal."""
    t = LABELS[lang]
    rows = [(t["id_col"], t["kind_col"], t["format_col"], t["active_col"], t["topics_col"], t["title_col"])]
    for r in resources:
        kind = KIND_NAMES[r.kind][0 if lang == "zh" else 1]
        fmt = FORMAT_NAMES[r.format][0 if lang == "zh" else 1]
        topics = t["sep"].join((registry.topics[x].name_zh if lang == "zh" else registry.topics[x].name_en)
                               for x in r.topics)
        rows.append((r.id, kind, fmt, t["yes"] if r.active else t["no"], topics, r.title(lang)))
    return "\n".join([*aligned(rows), f"({len(resources)})"])


def aligned(rows: list[tuple[str, ...]], gap: str = "  ") -> list[str]:
    """Rows of cells as lines of a terminal table: each column but the last padded to its widest cell as
    a terminal shows it (a CJK character takes two columns, so Chinese names do not push the rest out)."""
    if not rows:
        return []
    n = max(len(row) for row in rows)
    widths = [max((display_width(row[c]) for row in rows if c < len(row)), default=0) for c in range(n - 1)]
    return [gap.join([cell + " " * (widths[c] - display_width(cell)) if c < n - 1 else cell
                      for c, cell in enumerate(row)]).rstrip() for row in rows]


def display_width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
