"""The durable_rules engine: the same rule model compiled to durable_rules rulesets (their JSON form).

Everything that needs more than one fact (district and peer aggregates, earlier months, changes,
runs) is computed before a fact is asserted, so the engine only matches. A subject's fact holds one
property per (indicator, change, month) compared with a constant, and, for a comparison with a
computed reference, the difference ``value - reference`` compared with 0 (exact in IEEE arithmetic:
for finite doubles ``a - b`` is 0 only when ``a == b`` and has the sign of ``a - b``). A missing value
is simply left out of the fact.

Three-valued logic, as in the vectorized engine: ``not`` is pushed down to the comparisons (De Morgan,
and ``not (x < r)`` becomes ``x >= r``), so the compiled condition is a tree of ``$and``/``$or`` over
comparisons. A comparison whose property is absent does not match in durable_rules, which is exactly
"unknown is not true" for a condition without negations.

Measured facts about durable_rules 2.0.28 that shape this module (see docs/engines.md):
- facts, not events: a fact fires every matching rule (an event only the first);
- the C core is process-global and not thread-safe: every call into it holds one lock, and the
  dispatch threads of ``durable.engine.Host`` are never started (we drive ``Ruleset`` directly);
- each session id keeps state until deleted, and ~1,024 live states exhaust a fixed table: every
  evaluation uses a fresh sid and deletes it in ``finally``;
- a registered ruleset name can never be reused or freed: each compiled version gets new names;
- at most 255 properties per fact, and a few hundred rules in one ruleset overflow a stack: rules are
  split into chunks, and a rule too large for one fact is refused by ``rules check``;
- deleting the state of a fact that matched no rule crashes the process (SIGSEGV) when the ruleset
  has not yet run an action (measured here): every ruleset gets a sentinel rule that matches every
  fact, so a fact is always handled and its state can always be deleted.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field

import numpy as np
from durable.engine import MessageNotHandledException
from durable.engine import Ruleset as _DurableRuleset

from ..errors import Problem
from ..rules.model import NEGATED_OP, AllOf, Compare, Condition, Not, Rule, RuleSet
from .evaluator import Context

MAX_PROPERTIES = 200  # durable_rules refuses facts with more than 255 properties (error 302)
MAX_RULES_PER_SET = 50  # a few hundred rules in one ruleset overflow its stack (error 303)
MAX_COMPARISONS = 64  # per rule, after expanding for_periods

SENTINEL_RULE = "_always"  # rule ids of the language start with a letter: no clash
SENTINEL_PROPERTY = "always__"
_DURABLE_OPS = {"lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte", "ne": "$neq"}
_LOCK = threading.RLock()  # one lock for the whole C core (upstream issue #291)
_NAMES = itertools.count(1)
_SIDS = itertools.count(1)


def value_name(indicator: str, change: str | None, lag: int) -> str:
    return f"v_{indicator}_{change or 'level'}_{lag}"


@dataclass
class FactNames:
    """Property names of one subject kind's facts, shared by its rules."""

    values: dict[str, tuple[str, str | None, int]] = field(default_factory=dict)
    diffs: dict[tuple, str] = field(default_factory=dict)
    diff_nodes: dict[str, tuple[Compare, int]] = field(default_factory=dict)

    def value(self, node: Compare, lag: int) -> str:
        name = value_name(node.indicator, node.change, lag)
        self.values[name] = (node.indicator, node.change, lag)
        return name

    def diff(self, node: Compare, lag: int) -> str:
        """The property holding value - reference for a comparison with a computed reference."""
        key = (node.indicator, node.change, lag, node.ref)
        if key not in self.diffs:
            name = f"d{len(self.diffs)}"
            self.diffs[key] = name
            self.diff_nodes[name] = (node, lag)
        return self.diffs[key]


def compile_condition(node: Condition, names: FactNames, lag: int = 0, negated: bool = False) -> dict:
    """A durable_rules condition (JSON form) in negation normal form."""
    parts = [_compile_once(node, names, lag + extra, negated) for extra in range(node.for_periods)]
    return _join("$or" if negated else "$and", parts)


def _compile_once(node: Condition, names: FactNames, lag: int, negated: bool) -> dict:
    if isinstance(node, Compare):
        op = NEGATED_OP[node.op] if negated else node.op
        if node.ref.kind == "const":
            left, right = names.value(node, lag), float(node.ref.value)
        else:
            left, right = names.diff(node, lag), 0.0
        return {left: right} if op == "eq" else {_DURABLE_OPS[op]: {left: right}}
    if isinstance(node, Not):
        return compile_condition(node.item, names, lag, not negated)
    is_all = isinstance(node, AllOf)
    joiner = "$and" if is_all != negated else "$or"
    return _join(joiner, [compile_condition(item, names, lag, negated) for item in node.items])


def _join(op: str, parts: list[dict]) -> dict:
    """Join conditions, flattening nested joins of the same kind and dropping repeats: durable_rules
    refuses some deep or repetitive expressions (error 113) that flat ones express the same way."""
    flat: list[dict] = []
    for part in parts:
        for item in (part[op] if set(part) == {op} else [part]):
            if item not in flat:
                flat.append(item)
    return flat[0] if len(flat) == 1 else {op: flat}


def comparisons(cond: Condition) -> int:
    """Comparisons of a condition once for_periods is expanded (what the compiled form holds)."""
    if isinstance(cond, Compare):
        own = 1
    elif isinstance(cond, Not):
        own = comparisons(cond.item)
    else:
        own = sum(comparisons(item) for item in cond.items)
    return own * cond.for_periods


@dataclass
class _Compiled:
    rule: Rule
    condition: dict
    properties: frozenset[str]


@dataclass
class _Chunk:
    name: str
    rules: list[_Compiled]
    properties: frozenset[str]
    handle: _DurableRuleset | None = None


class _SubjectRules:
    """One subject kind's rules, compiled and registered as one or more durable_rules rulesets."""

    def __init__(self, subject: str, rules: list[Rule], tag: str, sink: list[str]):
        self.subject = subject
        self.names = FactNames()
        compiled = []
        for rule in rules:
            condition = compile_condition(rule.when, self.names)
            compiled.append(_Compiled(rule, condition, frozenset(_properties(condition))))
        self.chunks = _chunk(compiled, f"{tag}_{subject}")
        for chunk in self.chunks:
            definition = {c.rule.id: {"all": [{"m": c.condition}], "run": _recorder(sink, c.rule.id)}
                          for c in chunk.rules}
            definition[SENTINEL_RULE] = {"all": [{"m": {SENTINEL_PROPERTY: 1.0}}], "run": _ignore}
            with _LOCK:
                chunk.handle = _DurableRuleset(chunk.name, None, definition)


def _properties(condition: object) -> set[str]:
    """Property names a compiled condition reads (the keys that are not operators)."""
    found: set[str] = set()
    if isinstance(condition, dict):
        for key, value in condition.items():
            if not key.startswith("$"):
                found.add(key)
            found |= _properties(value)
    elif isinstance(condition, list):
        for item in condition:
            found |= _properties(item)
    return found


def _chunk(compiled: list[_Compiled], prefix: str) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    current: list[_Compiled] = []
    props: set[str] = set()
    for item in compiled:
        if current and (len(current) >= MAX_RULES_PER_SET or len(props | item.properties) > MAX_PROPERTIES):
            chunks.append(_Chunk(f"{prefix}_{len(chunks)}_{next(_NAMES)}", current, frozenset(props)))
            current, props = [], set()
        current.append(item)
        props |= item.properties
    if current:
        chunks.append(_Chunk(f"{prefix}_{len(chunks)}_{next(_NAMES)}", current, frozenset(props)))
    return chunks


def _ignore(_closure) -> None:
    return None


def _recorder(sink: list[str], rule_id: str):
    def run(_closure) -> None:
        sink.append(rule_id)

    return run


class DurableRules:
    """A rule set compiled for durable_rules and registered under names of its own.

    Registered rulesets cannot be freed (upstream #157): each instance costs a little memory for the
    life of the process, so services keep one per published rule-set version.
    """

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self._sink: list[str] = []
        tag = f"ds_{ruleset.version}_{next(_NAMES)}"
        self.subjects = {s: _SubjectRules(s, ruleset.for_subject(s), tag, self._sink) for s in ("branch", "member")}

    def match(self, subject: str, facts: list[dict[str, float]]) -> list[set[str]]:
        """For each fact (property -> value), the ids of the rules that matched."""
        compiled = self.subjects[subject]
        out: list[set[str]] = []
        with _LOCK:
            for fact in facts:
                fired: set[str] = set()
                for chunk in compiled.chunks:
                    fired |= self._match_chunk(chunk, fact)
                out.append(fired)
        return out

    def _match_chunk(self, chunk: _Chunk, fact: dict[str, float]) -> set[str]:
        sid = str(next(_SIDS))
        message = {k: v for k, v in fact.items() if k in chunk.properties}
        message.update({"sid": sid, "id": sid, SENTINEL_PROPERTY: 1.0})
        self._sink.clear()
        handle = chunk.handle
        try:
            state = handle.assert_fact(message)
        except MessageNotHandledException:
            # Cannot happen (the sentinel matches every fact); deleting this state could crash.
            raise RuntimeError(f"durable_rules did not handle a fact in {chunk.name}") from None
        try:
            errors: list = []
            handle.do_actions(state, lambda error, _state: errors.append(error))
            if errors and errors[0]:
                raise errors[0]
            return set(self._sink)
        finally:
            handle.delete_state(sid)
            self._sink.clear()


_CACHE: dict[int, tuple[RuleSet, DurableRules]] = {}
_CACHE_LOCK = threading.Lock()


def compiled_for(ruleset: RuleSet) -> DurableRules:
    """The compiled form of a rule set object, compiled once per object (registration cannot be undone)."""
    with _CACHE_LOCK:
        entry = _CACHE.get(id(ruleset))
        if entry is None or entry[0] is not ruleset:
            entry = (ruleset, DurableRules(ruleset))
            _CACHE[id(ruleset)] = entry
        return entry[1]


class DurableMatcher:
    """Matches subject by subject: one fact per subject, asserted into the compiled rulesets."""

    name = "durable"

    def __init__(self, ruleset: RuleSet, compiled: DurableRules | None = None):
        self.rules = compiled or compiled_for(ruleset)

    def fired(self, rules: list[Rule], ctx: Context) -> dict[str, np.ndarray]:
        facts = build_facts(self.rules.subjects[ctx.subject].names, ctx)
        matches = self.rules.match(ctx.subject, facts)
        out = {rule.id: np.zeros(len(ctx.ids), dtype=bool) for rule in rules}
        for pos, fired in enumerate(matches):
            for rule_id in fired:
                if rule_id in out:
                    out[rule_id][pos] = True
        return out


def build_facts(names: FactNames, ctx: Context) -> list[dict[str, float]]:
    """One fact per subject of the context: every value and reference its rules compare, if known."""
    columns = [(name, ctx.measure(ind, change, lag)) for name, (ind, change, lag) in names.values.items()]
    columns += [(name, ctx.measure(node.indicator, node.change, lag) - ctx.reference(node, lag))
                for name, (node, lag) in names.diff_nodes.items()]
    if not columns:
        return [{} for _ in range(len(ctx.ids))]
    keys = [name for name, _ in columns]
    matrix = np.column_stack([values for _, values in columns]).tolist()
    return [{k: v for k, v in zip(keys, row, strict=True) if v == v} for row in matrix]  # v == v: not NaN


def compile_problems(ruleset: RuleSet) -> list[Problem]:
    """Why a valid rule set cannot run on durable_rules (empty when it can).

    Each rule is compiled and registered alone under a probe name: the engine's own limits are the
    judge. (A probe costs a little memory for the life of the process; checks are rare.)
    """
    problems = []
    for rule in ruleset.rules:
        n = comparisons(rule.when)
        if n > MAX_COMPARISONS:
            problems.append(Problem(
                f"condition has {n} comparisons once for_periods is expanded; the durable_rules engine takes "
                f"at most {MAX_COMPARISONS}", file=rule.file, line=rule.line, column=1, rule_id=rule.id,
                suggestion="split the rule, or use a derived indicator for long runs"))
            continue
        names = FactNames()
        condition = compile_condition(rule.when, names)
        props = _properties(condition)
        if len(props) > MAX_PROPERTIES:
            problems.append(Problem(f"condition reads {len(props)} values; a durable_rules fact holds at most "
                                    f"{MAX_PROPERTIES}", file=rule.file, line=rule.line, column=1, rule_id=rule.id))
            continue
        error = _probe(condition)
        if error:
            problems.append(Problem(f"the durable_rules engine cannot compile this condition ({error})",
                                    file=rule.file, line=rule.line, column=1, rule_id=rule.id,
                                    suggestion="simplify it: fewer nested all/any/not and for_periods"))
    return problems


_PROBES: dict[str, str | None] = {}


def _probe(condition: dict) -> str | None:
    """Register a condition alone; the engine's error message, or None when it compiles."""
    key = json.dumps(condition, sort_keys=True)
    if key not in _PROBES:
        try:
            with _LOCK:
                _DurableRuleset(f"probe_{next(_NAMES)}", None, {"r": {"all": [{"m": condition}], "run": _ignore}})
            _PROBES[key] = None
        except Exception as exc:  # the C core raises its own error type
            _PROBES[key] = str(exc)
    return _PROBES[key]


__all__ = ["DurableMatcher", "DurableRules", "compile_condition", "compile_problems", "compiled_for"]
