"""Turn located YAML documents into the validated rule model, collecting every problem.

Validation never stops at the first problem: administrators fix a file in one pass.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import Problem, did_you_mean
from .model import (
    OP_ALIASES,
    OPS,
    REMEDY_KINDS,
    SEVERITIES,
    SOURCES,
    SUBJECTS,
    UNIT_RANGES,
    AllOf,
    AnyOf,
    Compare,
    Condition,
    Indicator,
    Named,
    Not,
    Ref,
    Registry,
    Rule,
    leaves,
    template_problems,
)
from .yamlsafe import Located

ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_FOR_PERIODS = 36
DERIVATIONS = ("sum", "run", "points", "year_to_date", "member_share", "member_mean")

RULE_KEYS = ("id", "subject", "when", "severity", "lamp", "topic", "message", "source", "description",
             "indicator", "superseded_by", "remedy_kinds", "months")
COMPARE_KEYS = ("indicator", "op", "value", "ref", "change", "for_periods")
REF_KEYS = ("mean", "quantile", "peers", "scale")
REF_SHORTCUTS = {"district_mean": Ref("mean"), "peer_mean": Ref("mean", peers="type")}
PEERS = {"district": "district", "peers": "type", "type": "type"}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _unknown_keys(doc: Located, path: tuple, mapping: dict, allowed: tuple, problems: list[Problem],
                  what: str, rule_id: str | None = None) -> None:
    for key in mapping:
        if key not in allowed:
            problems.append(doc.problem(path + (key,), f"unknown key '{key}' in {what}", key=True,
                                        rule_id=rule_id,
                                        suggestion=did_you_mean(key, allowed) or "allowed: " + ", ".join(allowed)))


# --------------------------------------------------------------------------------------------- registry

def parse_registry(doc: Located, problems: list[Problem]) -> Registry:
    data = doc.data
    if not isinstance(data, dict):
        problems.append(doc.problem((), "the indicator registry must be a mapping with 'branch' and 'member'"))
        return Registry({"branch": {}, "member": {}}, {}, {})
    _unknown_keys(doc, (), data, ("version", "branch", "member", "topics", "branch_types"), problems,
                  "the indicator registry")
    topics = _parse_named(doc, data, "topics", problems)
    types = _parse_named(doc, data, "branch_types", problems)
    indicators: dict[str, dict[str, Indicator]] = {}
    for subject in SUBJECTS:
        table: dict[str, Indicator] = {}
        items = data.get(subject)
        if not isinstance(items, list):
            problems.append(doc.problem((subject,), f"'{subject}' must be a list of indicators"))
            indicators[subject] = table
            continue
        for i, item in enumerate(items):
            ind = _parse_indicator(doc, (subject, i), item, subject, problems)
            if ind is None:
                continue
            if ind.id in table:
                problems.append(doc.problem((subject, i, "id"), f"duplicate indicator id '{ind.id}'"))
            table[ind.id] = ind
        indicators[subject] = table
    registry = Registry(indicators, topics, types)
    _check_derivations(doc, registry, problems)
    return registry


def _parse_named(doc: Located, data: dict, key: str, problems: list[Problem]) -> dict[str, Named]:
    out: dict[str, Named] = {}
    items = data.get(key)
    if not isinstance(items, list) or not items:
        problems.append(doc.problem((key,), f"'{key}' must be a non-empty list of {{id, zh, en}}"))
        return out
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("id", "zh", "en")):
            problems.append(doc.problem((key, i), f"each entry of '{key}' needs id, zh and en"))
            continue
        out[item["id"]] = Named(item["id"], item["zh"], item["en"])
    return out


def _parse_indicator(doc: Located, path: tuple, item: Any, subject: str,
                     problems: list[Problem]) -> Indicator | None:
    if not isinstance(item, dict):
        problems.append(doc.problem(path, "an indicator must be a mapping with id, zh, en, unit"))
        return None
    _unknown_keys(doc, path, item, ("id", "zh", "en", "unit", "range", "derived", "norm"), problems,
                  "an indicator")
    ind_id = item.get("id")
    if not isinstance(ind_id, str) or not ID_RE.match(ind_id):
        problems.append(doc.problem(path + ("id",), f"bad indicator id {ind_id!r}",
                                    suggestion="lower-case letters, digits and _"))
        return None
    ok = True
    for key in ("zh", "en"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            problems.append(doc.problem(path + (key,), f"indicator {ind_id}: '{key}' name is required"))
            ok = False
    unit = item.get("unit")
    if unit not in UNIT_RANGES:
        problems.append(doc.problem(path + ("unit",), f"indicator {ind_id}: unknown unit {unit!r}",
                                    suggestion="one of " + ", ".join(UNIT_RANGES)))
        return None
    lo, hi, integer = UNIT_RANGES[unit]
    if "range" in item:
        rng = item["range"]
        if (not isinstance(rng, list) or len(rng) != 2 or not _is_number(rng[0])
                or not (rng[1] is None or _is_number(rng[1]))):
            problems.append(doc.problem(path + ("range",), f"indicator {ind_id}: range must be [min, max]"))
            ok = False
        else:
            lo, hi = rng
    derived = item.get("derived")
    if derived is not None and (not isinstance(derived, dict) or len(derived) != 1
                                or next(iter(derived)) not in DERIVATIONS):
        problems.append(doc.problem(path + ("derived",), f"indicator {ind_id}: unknown derivation",
                                    suggestion="one of " + ", ".join(DERIVATIONS)))
        ok = False
    if not ok:
        return None
    return Indicator(ind_id, subject, item["zh"], item["en"], unit, lo, hi, integer, derived,
                     item.get("norm"))


def _check_derivations(doc: Located, registry: Registry, problems: list[Problem]) -> None:
    # Derivations name other indicators; a typo here would silently produce empty columns.
    for subject, table in registry.indicators.items():
        items = doc.data.get(subject) or []
        index = {it.get("id"): i for i, it in enumerate(items) if isinstance(it, dict)}
        for ind in table.values():
            if ind.derived is None:
                continue
            kind, arg = next(iter(ind.derived.items()))
            path = (subject, index.get(ind.id, 0), "derived", kind)
            names: list[tuple[str, str]] = []
            if kind == "sum":
                names = [(subject, n) for n in arg] if isinstance(arg, list) else [(subject, "")]
            elif kind == "run":
                if not isinstance(arg, dict) or arg.get("op") not in OP_ALIASES or not _is_number(arg.get("value")):
                    problems.append(doc.problem(path, f"indicator {ind.id}: run needs indicator, op and value"))
                    continue
                names = [(subject, arg.get("indicator"))]
            elif kind == "year_to_date":
                names = [(subject, arg)]
            elif kind == "member_mean":
                names = [("member", arg)]
            elif kind == "member_share" and (not isinstance(arg, dict) or arg.get("lamp") not in ("red", "yellow")):
                problems.append(doc.problem(path, f"indicator {ind.id}: member_share needs lamp: red|yellow"))
            for subj, name in names:
                if not isinstance(name, str) or registry.get(subj, name) is None:
                    problems.append(doc.problem(path, f"indicator {ind.id}: derivation names unknown "
                                                      f"{subj} indicator {name!r}",
                                                suggestion=did_you_mean(str(name), registry.indicators[subj])))


# --------------------------------------------------------------------------------------------- points

def parse_points(doc: Located, registry: Registry, problems: list[Problem]) -> dict[str, float]:
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("points"), dict):
        problems.append(doc.problem((), "the points file must have a 'points' mapping of member indicator -> weight"))
        return {}
    _unknown_keys(doc, (), data, ("version", "points"), problems, "the points file")
    out: dict[str, float] = {}
    for name, spec in data["points"].items():
        path = ("points", name)
        ind = registry.get("member", name)
        if ind is None or not ind.reported:
            problems.append(doc.problem(path, f"'{name}' is not a reported member indicator", key=True,
                                        suggestion=did_you_mean(name, [i.id for i in registry.reported("member")])))
            continue
        weight = spec.get("weight") if isinstance(spec, dict) else spec
        if not _is_number(weight) or weight < 0:
            problems.append(doc.problem(path, f"weight of '{name}' must be a number >= 0, got {weight!r}"))
            continue
        out[name] = float(weight)
    return out


# --------------------------------------------------------------------------------------------- rules

class _RuleParser:
    def __init__(self, doc: Located, registry: Registry, problems: list[Problem]):
        self.doc = doc
        self.registry = registry
        self.problems = problems
        self.node_counter = 0

    def err(self, path: tuple, message: str, rule_id: str | None, *, key: bool = False,
            suggestion: str | None = None) -> None:
        self.problems.append(self.doc.problem(path, message, key=key, rule_id=rule_id, suggestion=suggestion))

    def parse_file(self) -> list[Rule]:
        data = self.doc.data
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            self.err((), "a rule file must be a mapping with a 'rules' list", None)
            return []
        _unknown_keys(self.doc, (), data, ("version", "rules", "description"), self.problems, "a rule file")
        rules = []
        for i, item in enumerate(data["rules"]):
            rule = self.parse_rule(("rules", i), item)
            if rule is not None:
                rules.append(rule)
        return rules

    def parse_rule(self, path: tuple, item: Any) -> Rule | None:
        if not isinstance(item, dict):
            self.err(path, "a rule must be a mapping", None)
            return None
        rule_id = item.get("id")
        if not isinstance(rule_id, str) or not ID_RE.match(rule_id):
            self.err(path + ("id",), f"bad or missing rule id {rule_id!r}", None,
                     suggestion="lower-case letters, digits and _, starting with a letter")
            rule_id = None
        before = len(self.problems)
        _unknown_keys(self.doc, path, item, RULE_KEYS, self.problems, "a rule", rule_id)
        subject = item.get("subject")
        if subject not in SUBJECTS:
            self.err(path + ("subject",), f"subject must be branch or member, got {subject!r}", rule_id)
            subject = None
        severity = item.get("severity")
        if severity not in SEVERITIES:
            self.err(path + ("severity",), f"severity must be yellow or red, got {severity!r}", rule_id)
        lamp = item.get("lamp", False)
        if not isinstance(lamp, bool):
            self.err(path + ("lamp",), f"lamp must be true or false, got {lamp!r}", rule_id)
        topic = item.get("topic")
        if topic not in self.registry.topics:
            self.err(path + ("topic",), f"unknown topic {topic!r}", rule_id,
                     suggestion=did_you_mean(str(topic), self.registry.topics)
                     or "one of " + ", ".join(self.registry.topics))
        source = item.get("source")
        if source not in SOURCES:
            self.err(path + ("source",), f"source must be one of {', '.join(SOURCES)}, got {source!r}", rule_id)
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
                indicator = names[0]
            elif indicator not in names:
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
        if len(self.problems) > before or rule_id is None or when is None or messages is None:
            return None
        line, _ = self.doc.where(path)
        return Rule(id=rule_id, subject=subject, when=when, severity=severity, lamp=lamp, topic=topic,
                    message_zh=messages[0], message_en=messages[1], source=source, indicator=indicator,
                    description=description, superseded_by=superseded, remedy_kinds=kinds,
                    months=tuple(sorted(set(months))), file=self.doc.file, line=line)

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
        _unknown_keys(self.doc, path, value, ("zh", "en"), self.problems, "message", rule_id)
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
        kinds = [k for k in ("indicator", "all", "any", "not") if k in node]
        if len(kinds) != 1:
            self.err(path, "a condition needs exactly one of: indicator (a comparison), all, any, not", rule_id)
            return None
        for_periods = self.parse_for_periods(path, node, rule_id)
        self.node_counter += 1
        node_id = self.node_counter
        kind = kinds[0]
        if kind == "indicator":
            return self.parse_compare(path, node, subject, rule_id, for_periods, node_id)
        _unknown_keys(self.doc, path, node, (kind, "for_periods"), self.problems, f"an '{kind}' condition", rule_id)
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
        _unknown_keys(self.doc, path, node, COMPARE_KEYS, self.problems, "a comparison", rule_id)
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
        ref = self.parse_ref(path, node, subject, rule_id)
        if ref is None or not ok:
            return None
        return Compare(name, op, ref, change, for_periods, path, node_id)

    def parse_ref(self, path: tuple, node: dict, subject: str, rule_id: str | None) -> Ref | None:
        if ("value" in node) == ("ref" in node):
            self.err(path, "a comparison needs exactly one of 'value' (a constant) or 'ref' "
                           "(district_mean, peer_mean, {mean: ...} or {quantile: ...})", rule_id)
            return None
        if "value" in node:
            value = node["value"]
            if not _is_number(value):
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
        _unknown_keys(self.doc, path + ("ref",), ref, REF_KEYS, self.problems, "a reference", rule_id)
        if ("mean" in ref) == ("quantile" in ref):
            self.err(path + ("ref",), "ref needs exactly one of 'mean' or 'quantile'", rule_id)
            return None
        scale = ref.get("scale", 1.0)
        if not _is_number(scale) or scale <= 0:
            self.err(path + ("ref", "scale"), f"scale must be a number > 0, got {scale!r}", rule_id)
            return None
        if "mean" in ref:
            peers = PEERS.get(ref["mean"]) if isinstance(ref["mean"], str) else None
            if peers is None:
                self.err(path + ("ref", "mean"), f"mean must be 'district' or 'peers', got {ref['mean']!r}", rule_id)
                return None
            return Ref("mean", peers=peers, scale=float(scale))
        q = ref["quantile"]
        if not _is_number(q) or not 0 <= q <= 1:
            self.err(path + ("ref", "quantile"), f"quantile must be a number from 0 to 1, got {q!r}", rule_id)
            return None
        peers_name = ref.get("peers", "district")
        peers = PEERS.get(peers_name) if isinstance(peers_name, str) else None
        if peers is None:
            self.err(path + ("ref", "peers"), f"peers must be 'district' or 'peers', got {peers_name!r}", rule_id)
            return None
        return Ref("quantile", q=float(q), peers=peers, scale=float(scale))


def parse_rules(doc: Located, registry: Registry, problems: list[Problem]) -> list[Rule]:
    return _RuleParser(doc, registry, problems).parse_file()


def cross_check(rules: list[Rule], problems: list[Problem]) -> None:
    """Checks that need every file: unique ids, superseded_by pointing at real rules of the same subject."""
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
            if target is None or other == rule.id or target.subject != rule.subject:
                problems.append(Problem(f"superseded_by names '{other}', which is not another {rule.subject} rule",
                                        file=rule.file, line=rule.line, column=1, rule_id=rule.id,
                                        suggestion=did_you_mean(other, [r.id for r in rules if r.subject == rule.subject])))
