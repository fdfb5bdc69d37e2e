"""Turn located rule files into the validated rule model, collecting every problem.

Validation never stops at the first problem: administrators fix a file in one pass.
"""

from __future__ import annotations

from typing import Any

from ..errors import Problem, did_you_mean
from .model import (
    OP_ALIASES,
    OPS,
    REMEDY_KINDS,
    SEVERITIES,
    SOURCES,
    SUBJECTS,
    AllOf,
    AnyOf,
    Compare,
    Condition,
    Indicator,
    Not,
    Ref,
    Registry,
    Rule,
    leaves,
    template_problems,
)
from .parse_calendar import LEFT_KEYS, CalendarConditions
from .parse_common import ID_RE, format_version, is_number, unknown_keys
from .yamlsafe import Located

MAX_FOR_PERIODS = 36

RULE_KEYS = ("id", "subject", "when", "severity", "lamp", "topic", "message", "source", "description",
             "indicator", "superseded_by", "remedy_kinds", "months", "title")
COMPARE_KEYS = ("indicator", "op", "value", "ref", "change", "for_periods", "window", "agg")
REF_KEYS = ("mean", "quantile", "peers", "scale")
REF_SHORTCUTS = {"district_mean": Ref("mean"), "peer_mean": Ref("mean", peers="type")}
PEERS = {"district": "district", "peers": "type", "type": "type", "size": "size"}


# --------------------------------------------------------------------------------------------- rules

class _RuleParser(CalendarConditions):
    def __init__(self, doc: Located, registry: Registry, problems: list[Problem],
                 implied: dict[str, dict[str, Indicator]] | None = None):
        self.doc = doc
        self.registry = registry
        self.problems = problems
        self.node_counter = 0
        # Indicators a condition implies (a calendar window of an indicator, the months left in one),
        # added to the rule set's registry so that every engine derives them like declared ones.
        self.implied = implied if implied is not None else {"branch": {}, "member": {}}
        self.failed: set[str] = set()  # the ids of the rules written here that did not parse

    def err(self, path: tuple, message: str, rule_id: str | None, *, key: bool = False,
            suggestion: str | None = None) -> None:
        self.problems.append(self.doc.problem(path, message, key=key, rule_id=rule_id, suggestion=suggestion))

    def parse_file(self) -> list[Rule]:
        data = self.doc.data
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            self.err((), "a rule file must be a mapping with a 'rules' list", None)
            return []
        unknown_keys(self.doc, (), data, ("version", "rules", "description"), self.problems, "a rule file")
        format_version(self.doc, data, self.problems, "the rule file")
        rules = []
        for i, item in enumerate(data["rules"]):
            rule = self.parse_rule(("rules", i), item)
            if rule is not None:
                rules.append(rule)
            elif isinstance(item, dict) and isinstance(item.get("id"), str):
                self.failed.add(item["id"])
        return rules

    def parse_rule(self, path: tuple, item: Any) -> Rule | None:
        if not isinstance(item, dict):
            self.err(path, "a rule must be a mapping", None)
            return None
        rule_id = item.get("id")
        if not isinstance(rule_id, str) or not ID_RE.fullmatch(rule_id):
            self.err(path + ("id",), f"bad or missing rule id {rule_id!r}", None,
                     suggestion="lower-case letters, digits and _, starting with a letter")
            rule_id = None
        before = len(self.problems)
        unknown_keys(self.doc, path, item, RULE_KEYS, self.problems, "a rule", rule_id)
        subject = item.get("subject")
        if subject not in SUBJECTS:
            self.err(path + ("subject",), "subject is required: branch or member" if subject is None else
                     f"subject must be branch or member, got {subject!r}", rule_id)
            subject = None
        severity = item.get("severity")
        if severity not in SEVERITIES:
            self.err(path + ("severity",), f"severity must be yellow, red or reminder, got {severity!r}", rule_id,
                     suggestion=did_you_mean(str(severity), SEVERITIES))
        lamp = item.get("lamp", False)
        if not isinstance(lamp, bool):
            self.err(path + ("lamp",), f"lamp must be true or false, got {lamp!r}", rule_id)
        elif lamp and severity == "reminder":
            self.err(path + ("lamp",), "a reminder never lights a lamp", rule_id,
                     suggestion="remove 'lamp: true', or make the rule yellow or red")
        topic = item.get("topic")
        if topic not in self.registry.topics:
            self.err(path + ("topic",), f"unknown topic {topic!r}", rule_id,
                     suggestion=did_you_mean(str(topic), self.registry.topics)
                     or "one of " + ", ".join(self.registry.topics))
        source = item.get("source")
        if source not in SOURCES:
            self.err(path + ("source",), f"source is required: one of {', '.join(SOURCES)}" if source is None else
                     f"source must be one of {', '.join(SOURCES)}, got {source!r}", rule_id)
        messages = self.parse_messages(path + ("message",), item.get("message"), rule_id)
        when = None
        if "when" not in item:
            self.err(path, "a rule needs a 'when' condition", rule_id)
        elif subject is not None:
            when = self.parse_condition(path + ("when",), item["when"], subject, rule_id)
        indicator = item.get("indicator")
        if when is not None:
            names = [leaf.indicator for leaf in leaves(when)]
            if indicator is None:
                # The finding reports what the rule is about, not the calendar it checks it by.
                indicator = next((n for n in names if self._derived_kind(subject, n) != "remaining_months"), names[0])
            elif indicator not in names:
                # The indicator a window of the condition sums up names that window.
                indicator = next((n for n in names if self._window_of(subject, n) == indicator), indicator)
            if indicator not in names:
                self.err(path + ("indicator",), f"indicator '{indicator}' does not appear in the condition",
                         rule_id, suggestion="one of " + ", ".join(dict.fromkeys(names)))
        superseded = self.parse_id_list(path + ("superseded_by",), item.get("superseded_by", []), rule_id)
        kinds = self.parse_id_list(path + ("remedy_kinds",), item.get("remedy_kinds", []), rule_id)
        for kind in kinds:
            if kind not in REMEDY_KINDS:
                self.err(path + ("remedy_kinds",), f"unknown remedy kind {kind!r}", rule_id,
                         suggestion=did_you_mean(kind, REMEDY_KINDS) or "one of " + ", ".join(REMEDY_KINDS))
        months = item.get("months", [])
        if (not isinstance(months, list)
                or not all(isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in months)):
            self.err(path + ("months",), f"months must be a list of month numbers 1-12, got {months!r}", rule_id)
            months = []
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            self.err(path + ("description",), "description must be text", rule_id)
        title = item.get("title", {})
        if (not isinstance(title, dict) or set(title) - {"zh", "en"}
                or not all(isinstance(t, str) and t.strip() and len(t) <= 60 for t in title.values())):
            self.err(path + ("title",), "title must be a mapping of zh and en texts of at most 60 characters",
                     rule_id)
            title = {}
        if len(self.problems) > before or rule_id is None or when is None or messages is None:
            return None
        line, _ = self.doc.where(path)
        return Rule(id=rule_id, subject=subject, when=when, severity=severity, lamp=lamp, topic=topic,
                    message_zh=messages[0], message_en=messages[1], source=source, indicator=indicator,
                    description=description, superseded_by=superseded, remedy_kinds=kinds,
                    months=tuple(sorted(set(months))), file=self.doc.file, line=line,
                    title_zh=title.get("zh", ""), title_en=title.get("en", ""))

    def parse_id_list(self, path: tuple, value: Any, rule_id: str | None) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.err(path, "must be a list of ids", rule_id)
            return ()
        return tuple(value)

    def parse_messages(self, path: tuple, value: Any, rule_id: str | None) -> tuple[str, str] | None:
        if not isinstance(value, dict):
            self.err(path, "message must be a mapping with zh and en templates", rule_id)
            return None
        unknown_keys(self.doc, path, value, ("zh", "en"), self.problems, "message", rule_id)
        out = []
        for lang in ("zh", "en"):
            text = value.get(lang)
            if not isinstance(text, str) or not text.strip():
                self.err(path + (lang,), f"message.{lang} is required", rule_id)
                return None
            for reason in template_problems(text):
                self.err(path + (lang,), f"message.{lang}: {reason}", rule_id)
            out.append(text)
        return out[0], out[1]

    def parse_condition(self, path: tuple, node: Any, subject: str, rule_id: str | None) -> Condition | None:
        if not isinstance(node, dict):
            self.err(path, "a condition must be a mapping (indicator/op/value, all, any or not)", rule_id)
            return None
        kinds = [k for k in ("indicator", "remaining_months", "all", "any", "not") if k in node]
        if len(kinds) != 1:
            if not kinds:  # a misspelt key is the likeliest cause: name it, and what it may have meant
                unknown_keys(self.doc, path, node, tuple(dict.fromkeys(COMPARE_KEYS + LEFT_KEYS + ("all", "any", "not"))),
                             self.problems, "a condition", rule_id)
            self.err(path, "a condition needs exactly one of: indicator (a comparison), remaining_months, all, any, "
                           "not", rule_id)
            return None
        for_periods = self.parse_for_periods(path, node, rule_id)
        self.node_counter += 1
        node_id = self.node_counter
        kind = kinds[0]
        if kind == "indicator":
            return self.parse_compare(path, node, subject, rule_id, for_periods, node_id)
        if kind == "remaining_months":
            return self.parse_left(path, node, subject, rule_id, for_periods, node_id)
        unknown_keys(self.doc, path, node, (kind, "for_periods"), self.problems, f"an '{kind}' condition", rule_id)
        if kind == "not":
            inner = self.parse_condition(path + ("not",), node["not"], subject, rule_id)
            return None if inner is None else Not(inner, for_periods, path, node_id)
        items = node[kind]
        if not isinstance(items, list) or not items:
            self.err(path + (kind,), f"'{kind}' needs a non-empty list of conditions", rule_id)
            return None
        parsed = [self.parse_condition(path + (kind, i), c, subject, rule_id) for i, c in enumerate(items)]
        if any(p is None for p in parsed):
            return None
        cls = AllOf if kind == "all" else AnyOf
        return cls(tuple(parsed), for_periods, path, node_id)

    def parse_for_periods(self, path: tuple, node: dict, rule_id: str | None) -> int:
        value = node.get("for_periods", 1)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_FOR_PERIODS:
            self.err(path + ("for_periods",), f"for_periods must be a whole number from 1 to {MAX_FOR_PERIODS}, "
                                              f"got {value!r}", rule_id)
            return 1
        return value

    def parse_compare(self, path: tuple, node: dict, subject: str, rule_id: str | None, for_periods: int,
                      node_id: int) -> Compare | None:
        unknown_keys(self.doc, path, node, COMPARE_KEYS, self.problems, "a comparison", rule_id)
        ok = True
        name = node.get("indicator")
        if not isinstance(name, str) or self.registry.get(subject, name) is None:
            other = "member" if subject == "branch" else "branch"
            if isinstance(name, str) and self.registry.get(other, name) is not None:
                hint = f"'{name}' is a {other} indicator; this rule's subject is {subject}"
            else:
                hint = did_you_mean(str(name), self.registry.indicators[subject])
            self.err(path + ("indicator",), f"unknown {subject} indicator {name!r}", rule_id, suggestion=hint)
            ok = False
        op = OP_ALIASES.get(node.get("op")) if isinstance(node.get("op"), str) else None
        if op is None:
            self.err(path + ("op",), f"unknown operator {node.get('op')!r}", rule_id,
                     suggestion="one of " + ", ".join(f"{k} ({v})" for k, v in OPS.items()))
            ok = False
        change = node.get("change")
        if change not in (None, "delta", "percent"):
            self.err(path + ("change",), f"change must be delta or percent, got {change!r}", rule_id)
            ok = False
        if "window" in node or "agg" in node:
            if change is not None:
                self.err(path + ("change",), "a calendar window and a change cannot be combined", rule_id,
                         suggestion="compare the window's total with a value or a reference")
                ok = False
            if ok:
                name = self.window_indicator(path, node, subject, name, rule_id)
                ok = name is not None
        ref = self.parse_ref(path, node, subject, rule_id)
        if ref is None or not ok:
            return None
        indicator = self.registry.get(subject, name) if change is None and ref.kind == "const" else None
        if indicator is not None and not (indicator.min <= ref.value <= (
                indicator.max if indicator.max is not None else float("inf"))):
            span = f"[{indicator.min:g}, {indicator.max:g}]" if indicator.max is not None else f"{indicator.min:g} or more"
            self.err(path + ("value",), f"value {ref.value:g} is outside {name}'s range {span} ({indicator.unit}): the "
                     "comparison would hold for every subject or for none", rule_id,
                     suggestion=f"a value within {span}")
            return None
        return Compare(name, op, ref, change, for_periods, path, node_id)

    def parse_ref(self, path: tuple, node: dict, subject: str, rule_id: str | None) -> Ref | None:
        if ("value" in node) == ("ref" in node):
            self.err(path, "a comparison needs exactly one of 'value' (a constant) or 'ref' "
                           "(district_mean, peer_mean, {mean: ...} or {quantile: ...})", rule_id)
            return None
        if "value" in node:
            value = node["value"]
            if not is_number(value):
                self.err(path + ("value",), f"value must be a number, got {value!r}", rule_id)
                return None
            return Ref("const", value=float(value))
        ref = node["ref"]
        if isinstance(ref, str):
            if ref in REF_SHORTCUTS:
                return REF_SHORTCUTS[ref]
            self.err(path + ("ref",), f"unknown reference {ref!r}", rule_id,
                     suggestion=did_you_mean(ref, REF_SHORTCUTS) or "district_mean or peer_mean")
            return None
        if not isinstance(ref, dict):
            self.err(path + ("ref",), "ref must be district_mean, peer_mean or a mapping", rule_id)
            return None
        unknown_keys(self.doc, path + ("ref",), ref, REF_KEYS, self.problems, "a reference", rule_id)
        if ("mean" in ref) == ("quantile" in ref):
            self.err(path + ("ref",), "ref needs exactly one of 'mean' or 'quantile'", rule_id)
            return None
        scale = ref.get("scale", 1.0)
        if not is_number(scale) or scale <= 0:
            self.err(path + ("ref", "scale"), f"scale must be a number > 0, got {scale!r}", rule_id)
            return None
        if "mean" in ref:
            peers = PEERS.get(ref["mean"]) if isinstance(ref["mean"], str) else None
            if peers is None:
                self.err(path + ("ref", "mean"), f"mean must be 'district', 'peers' (same type) or 'size' (same size band), got {ref['mean']!r}", rule_id,
                         suggestion=did_you_mean(str(ref["mean"]), PEERS))
                return None
            return Ref("mean", peers=peers, scale=float(scale))
        q = ref["quantile"]
        if not is_number(q) or not 0 <= q <= 1:
            self.err(path + ("ref", "quantile"), f"quantile must be a number from 0 to 1, got {q!r}", rule_id)
            return None
        peers_name = ref.get("peers", "district")
        peers = PEERS.get(peers_name) if isinstance(peers_name, str) else None
        if peers is None:
            self.err(path + ("ref", "peers"), f"peers must be 'district', 'peers' (same type) or 'size' (same size band), got {peers_name!r}",
                     rule_id, suggestion=did_you_mean(str(peers_name), PEERS))
            return None
        return Ref("quantile", q=float(q), peers=peers, scale=float(scale))


def parse_rules(doc: Located, registry: Registry, problems: list[Problem],
                implied: dict[str, dict[str, Indicator]] | None = None,
                failed: set[str] | None = None) -> list[Rule]:
    """The rules of one file; indicators its conditions imply (calendar windows) are added to ``implied``,
    and the ids of the rules written there that did not parse to ``failed``."""
    parser = _RuleParser(doc, registry, problems, implied)
    rules = parser.parse_file()
    if failed is not None:
        failed.update(parser.failed)
    return rules


def cross_check(rules: list[Rule], problems: list[Problem], failed: set[str] | None = None) -> None:
    """Checks that need every file: unique ids, superseded_by pointing at real rules of the same subject.
    ``failed``: the ids of rules written but not parsed: their own problems are told already, and a rule
    superseded by one of them is not also told that it names no rule (nor, until it parses, that it is
    of another subject)."""
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            first = seen[rule.id]
            problems.append(Problem(f"duplicate rule id (first defined at {first.file}:{first.line})",
                                    file=rule.file, line=rule.line, column=1, rule_id=rule.id))
        else:
            seen[rule.id] = rule
    for rule in rules:
        for other in rule.superseded_by:
            target = seen.get(other)
            if target is None and other != rule.id and other in (failed or ()):
                continue  # written, but did not parse: its problems say why
            if target is None or other == rule.id or target.subject != rule.subject:
                problems.append(Problem(f"superseded_by names '{other}', which is not another {rule.subject} rule",
                                        file=rule.file, line=rule.line, column=1, rule_id=rule.id,
                                        suggestion=did_you_mean(other, [r.id for r in rules if r.subject == rule.subject])))
            elif target.severity == "reminder" and rule.severity != "reminder":
                # A reminder says what is still to be done; it must never hide a problem.
                problems.append(Problem(f"superseded_by names the reminder '{other}': a reminder never hides a "
                                        "problem", file=rule.file, line=rule.line, column=1, rule_id=rule.id,
                                        suggestion=f"remove '{other}' from superseded_by"))
