"""Prescriptions (药方): for each weakness of a branch, a short, explained list of remedies.

For one weakness (a topic, with the finding that raised it):
1. candidates: catalog resources tagged with the topic;
2. hard filters: active; suitable for the branch's type and street; not prescribed to this branch for
   this topic in the last ``repeat_months`` months (unless nothing else is left: then the repeats are
   used and flagged);
3. scores from a ``Ranker`` (the documented prior, or the effectiveness model);
4. a greedy pick with diversity: each further resource of a kind already chosen has its score
   multiplied by ``diversity`` (0.6), so a list is not five videos.

Everything is deterministic: ties break on resource id. See docs/prescriptions.md.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from ..engine.findings import EncodedList, Finding, SubjectResult, clean_number, json_string_body, json_value
from ..rules.model import SEVERITY_RANK, RuleSet
from .catalog import FORMAT_NAMES, Catalog, Resource
from .history import History
from .ranking import REPEAT_WINDOW, Need, PriorRanker, Ranker, Scored

DEFAULT_PER_WEAKNESS = 5
DEFAULT_REPEAT_MONTHS = 3
DIVERSITY = 0.6


@dataclass(slots=True)  # not frozen: created by the ten thousand; treat as read-only
class Prescription:
    topic: str
    rule: str
    resource: Resource
    score: float
    reason_zh: str
    reason_en: str
    repeated: bool = False
    raw_score: float = 0.0
    parts: tuple[tuple[str, float], ...] = ()
    same_kind_before: int = 0
    advice_zh: str = ""  # the reason without the finding it answers (reports show the finding once)
    advice_en: str = ""
    # What the prescriber had encoded (``prescriptions_json``): the fields it was encoded from (topic, rule,
    # resource, reason_zh, reason_en, score, repeated), then the object's JSON in five pieces: up to the
    # reason, the lead of reason_zh (the finding's, encoded once for its five prescriptions), up to the lead
    # of reason_en, that lead, and the rest (each encoded once for the district). Used only while the fields
    # are these very objects (not after a replace()).
    json_parts: tuple | None = field(default=None, compare=False, repr=False)

    @property
    def resource_id(self) -> str:
        return self.resource.id

    def as_dict(self) -> dict:
        return {
            "topic": self.topic, "rule": self.rule, "resource_id": self.resource.id, "kind": self.resource.kind,
            "title_zh": self.resource.title_zh, "title_en": self.resource.title_en,
            "score": clean_number(self.score), "reason_zh": self.reason_zh, "reason_en": self.reason_en,
            "repeated": self.repeated,
        }


def prescriptions_json(prescriptions: list[Prescription]) -> EncodedList:
    """The prescriptions' ``as_dict`` objects, with their JSON array written from the pieces encoded when
    they were chosen (encoding a district's 50,000 objects whole wrote 40 MB of text a second time)."""
    objects = []
    parts = ["["]
    for p in prescriptions:
        objects.append(p.as_dict())
        m = p.json_parts
        if (m is not None and m[0] is p.topic and m[1] is p.rule and m[2] is p.resource and m[3] is p.reason_zh
                and m[4] is p.reason_en and m[5] is p.score and m[6] is p.repeated):
            parts += m[7:]
        else:
            score = clean_number(p.score)
            repeated = "true" if p.repeated is True else "false" if p.repeated is False else json_value(p.repeated)
            parts += (prescription_head(p.topic, p.rule, p.resource), "null" if score is None else repr(score),
                      ',"reason_zh":"', json_string_body(p.reason_zh), '","reason_en":"',
                      json_string_body(p.reason_en), '","repeated":', repeated, "}")
        parts.append(",")
    if prescriptions:
        parts.pop()
    parts.append("]")
    return EncodedList(objects, "".join(parts))


def prescription_head(topic: str, rule: str, r: Resource) -> str:
    """The JSON of a prescription's object up to its score's value."""
    return (f'{{"topic":"{json_string_body(topic)}","rule":"{json_string_body(rule)}","resource_id":'
            f'"{json_string_body(r.id)}","kind":"{json_string_body(r.kind)}","title_zh":'
            f'"{json_string_body(r.title_zh)}","title_en":"{json_string_body(r.title_en)}","score":')


@dataclass
class Choice:
    """What happened for one weakness: the picks, and what the filters removed (for --explain)."""

    need: Need
    prescriptions: list[Prescription]
    candidates: int = 0
    inactive: int = 0
    unsuitable: int = 0
    recent: list[str] = field(default_factory=list)
    used_repeats: bool = False
    ranker: str = "prior"
    propensity: float = 1.0  # probability with which the shown list was chosen (1: deterministic)
    repeat_months: int = DEFAULT_REPEAT_MONTHS
    diversity: float = DIVERSITY


class Prescriber:
    def __init__(self, catalog: Catalog, ruleset: RuleSet, ranker: Ranker | None = None,
                 per_weakness: int = DEFAULT_PER_WEAKNESS, repeat_months: int = DEFAULT_REPEAT_MONTHS,
                 diversity: float = DIVERSITY):
        self.catalog = catalog
        self.ruleset = ruleset
        self.ranker: Ranker = ranker or PriorRanker()
        self.per_weakness = per_weakness
        self.repeat_months = repeat_months
        self.diversity = diversity
        self._ranked: dict[tuple, tuple] = {}
        self._advice_cache: dict[tuple, tuple[str, str, tuple[str, str]]] = {}
        self._heads: dict[tuple, str] = {}

    # ---------------------------------------------------------------- needs

    def needs(self, result: SubjectResult, street: str | None, members: int | None = None) -> list[Need]:
        """One need per weakness, in the order of the weaknesses (most serious first)."""
        out = []
        for topic in result.weaknesses:
            # A reminder is not a problem; a weakness always has one (stored results of older rules aside).
            findings = ([f for f in result.findings if f.topic == topic and f.severity != "reminder"]
                        or [f for f in result.findings if f.topic == topic])
            main = min(findings, key=lambda f: (-SEVERITY_RANK[f.severity], -_shortfall(f), f.rule))
            kinds: list[str] = []
            for f in [main] + [f for f in findings if f is not main]:
                rule = self.ruleset.rule(f.rule)
                for kind in (rule.remedy_kinds if rule else ()):
                    if kind not in kinds:
                        kinds.append(kind)
            out.append(Need(result.id, result.branch_type or "other", street, result.period, topic, main.rule,
                            main.indicator, main.severity, main.value, main.reference, tuple(kinds), members))
        return out

    # ---------------------------------------------------------------- choosing

    def choose(self, need: Need, history: History | None = None, finding: Finding | None = None) -> Choice:
        counts, scored, picks = self._ranked_pool(need)
        candidates, inactive, unsuitable = counts
        choice = Choice(need, [], candidates, inactive, unsuitable, ranker=self.ranker.name,
                        repeat_months=self.repeat_months, diversity=self.diversity)
        # `is not None`, not truthiness: a History's len() counts every entry (a loop's holds a district's year)
        recent = (history.recent(need.branch_id, need.topic, need.period, self.repeat_months)
                  if history is not None else set())
        fresh = scored
        if recent and any(s.resource.id in recent for s in scored):
            fresh = [s for s in scored if s.resource.id not in recent]
            choice.recent = sorted(s.resource.id for s in scored if s.resource.id in recent)
            if not fresh:
                fresh, choice.used_repeats = scored, True
            picks = self._diverse(fresh)
        explore = getattr(self.ranker, "explore", None)
        if explore is not None and fresh:
            # The ranker chooses the first recommendation (exploring); the probability it had is logged.
            index, choice.propensity = explore(need, fresh)
            picks = self._diverse(fresh, fresh[index])
        lead_zh, lead_en = self._lead(need, finding)
        lead_json = json_string_body(f"{lead_zh}。"), json_string_body(f"{lead_en}. ")
        repeated = choice.used_repeats
        for s, score, before in picks:
            advice_zh, advice_en, (middle, tail) = self._advice(need, s, repeated)
            r = s.resource
            key = (need.topic, need.rule, r.id, r.kind, r.title_zh, r.title_en, score)  # what the head says
            head = self._heads.get(key)
            if head is None:  # kept while few: a learned ranker's scores are many
                clean = clean_number(score)
                head = f'{prescription_head(need.topic, need.rule, r)}{"null" if clean is None else repr(clean)}' \
                       ',"reason_zh":"'
                if len(self._heads) < 100_000:
                    self._heads[key] = head
            reason_zh, reason_en = f"{lead_zh}。{advice_zh}", f"{lead_en}. {advice_en}"
            choice.prescriptions.append(Prescription(
                need.topic, need.rule, r, score, reason_zh, reason_en, repeated, s.score, s.parts, before,
                advice_zh, advice_en,
                (need.topic, need.rule, r, reason_zh, reason_en, score, repeated, head, lead_json[0], middle,
                 lead_json[1], tail)))
        return choice

    def for_branch(self, result: SubjectResult, street: str | None, history: History | None = None,
                   members: int | None = None) -> list[Choice]:
        findings = {f.rule: f for f in result.findings}
        needs = self.needs(result, street, members)
        if history is not None:
            recent = history.first_before(result.id, result.period, REPEAT_WINDOW)
            # Every list has a first recommendation: a branch with none lately had no list lately either
            # (and a district month without a history asks nothing more per weakness).
            if recent:
                kinds = recent_kinds(self.catalog, recent)
                adopted = history.adopted_before(result.id, result.period, REPEAT_WINDOW)
                needs = [dataclasses.replace(n, recent_first=recent, recent_kinds=kinds, recent_adopted=adopted,
                                             weakness_months=history.last_on_topic(n.branch_id, n.topic, n.period,
                                                                                   REPEAT_WINDOW))
                         for n in needs]
        return [self.choose(need, history, findings.get(need.rule)) for need in needs]

    def _ranked_pool(self, need: Need) -> tuple[tuple[int, int, int], list[Scored], list[tuple[Scored, float, int]]]:
        """(candidates, inactive, unsuitable), the suitable resources scored best first (ties by id) and
        the pick without history; reused between needs the ranker cannot tell apart (a district has a
        few thousand weaknesses but only some hundred distinct ones for the prior)."""
        key = self.ranker.cache_key(need)
        if key is not None and key in self._ranked:
            return self._ranked[key]
        pool = self.catalog.for_topic(need.topic)
        inactive = sum(not r.active for r in pool)
        fits = suitable(self.catalog, need)
        scored = sorted(self.ranker.rank(need, fits), key=lambda s: (-s.score, s.resource.id))
        entry = ((len(pool), inactive, len(pool) - inactive - len(fits)), scored, self._diverse(scored))
        if key is not None:
            self._ranked[key] = entry
        return entry

    def _diverse(self, ranked: list[Scored], first: Scored | None = None) -> list[tuple[Scored, float, int]]:
        """Greedy pick: the best score after the diversity discount of its kind, per step: (scored, that
        score rounded to 6 places, how many of its kind before it). ``first``, when given, is the first pick
        (chosen by the ranker's exploration)."""
        queues: dict[str, list[Scored]] = {}
        for s in ranked:  # already best first: each kind's queue is too
            if s is not first:
                queues.setdefault(s.resource.kind, []).append(s)
        heads = dict.fromkeys(queues, 0)
        taken: Counter[str] = Counter()
        out = []
        if first is not None:
            out.append((first, round(first.score, 6), 0))
            taken[first.resource.kind] += 1
        while len(out) < self.per_weakness:
            best = None
            for kind, queue in queues.items():
                if heads[kind] >= len(queue):
                    continue
                s = queue[heads[kind]]
                factor = self.diversity ** taken[kind]
                adjusted = s.score * factor if s.score >= 0 else s.score / factor  # always a penalty
                key = (-adjusted, -s.score, s.resource.id)
                if best is None or key < best[0]:
                    best = (key, s, adjusted)
            if best is None:
                break
            _, s, adjusted = best
            out.append((s, round(adjusted, 6), taken[s.resource.kind]))
            taken[s.resource.kind] += 1
            heads[s.resource.kind] += 1
        return out

    # ---------------------------------------------------------------- reasons

    def _lead(self, need: Need, finding: Finding | None) -> tuple[str, str]:
        """The finding a prescription answers, in both languages."""
        if finding is not None:
            return finding.message_zh.rstrip("。"), finding.message_en.rstrip(".")
        topic = self.ruleset.registry.topics.get(need.topic)
        return (f"{topic.name_zh if topic else need.topic}存在短板",
                f"A weakness in {topic.name_en if topic else need.topic}")

    def _advice(self, need: Need, scored: Scored, repeated: bool) -> tuple[str, str, tuple[str, str]]:
        """What to do and why, in both languages, and the JSON that follows each language's lead in a
        prescription's object (cached: it depends on few things)."""
        r = scored.resource
        key = (r.id, need.topic, need.branch_type if r.branch_types else None, need.street if r.streets else None,
               repeated, scored.note_zh, scored.note_en)
        cached = self._advice_cache.get(key)
        if cached is not None:
            return cached
        reg = self.ruleset.registry
        topic = reg.topics.get(need.topic)
        topic_zh, topic_en = (topic.name_zh, topic.name_en) if topic else (need.topic, need.topic)
        fmt_zh, fmt_en = FORMAT_NAMES[r.format]
        why_zh = [f"针对{topic_zh}" if r.topics[0] == need.topic else f"兼顾{topic_zh}"]
        why_en = [f"made for {topic_en}" if r.topics[0] == need.topic else f"also covers {topic_en}"]
        if r.branch_types and need.branch_type in r.branch_types:
            btype = reg.branch_types.get(need.branch_type)
            why_zh.append(f"适合{btype.name_zh if btype else need.branch_type}")
            why_en.append(f"suited to {btype.name_en if btype else need.branch_type}s")
        if r.streets and need.street in r.streets:
            why_zh.append(f"面向{need.street}")
            why_en.append(f"serves {self.catalog.street_en(need.street)}")
        why_zh.append(f"{fmt_zh}，约{r.duration_minutes}分钟")
        why_en.append(f"{fmt_en}, about {r.duration_minutes} min")
        if repeated:
            why_zh.append(f"近{self.repeat_months}个月曾推荐，暂无其他合适资源")
            why_en.append(f"prescribed in the last {self.repeat_months} months; nothing else fits")
        if scored.note_zh:
            why_zh.append(scored.note_zh)
        if scored.note_en:
            why_en.append(scored.note_en)
        action_zh, action_en = _action(r)
        zh, en = f"推荐{action_zh}（{'，'.join(why_zh)}）。", f"Suggested: {action_en} ({'; '.join(why_en)})."
        advice = zh, en, (f'{json_string_body(zh)}","reason_en":"',
                          f'{json_string_body(en)}","repeated":{"true" if repeated else "false"}}}')
        if len(self._advice_cache) < 100_000:
            self._advice_cache[key] = advice
        return advice


def recent_kinds(catalog: Catalog, recent_first: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """The kinds of a branch's recent first recommendations (``Need.recent_first``), as the catalog knows
    them: what the effectiveness model's kind-repeat feature reads (a resource no longer in the catalog
    is left out)."""
    return tuple(sorted({r.kind for rid, _ in recent_first if (r := catalog.get(rid)) is not None}))


def suitable(catalog: Catalog, need: Need) -> list[Resource]:
    """The candidates of a need: active resources of its topic that suit the branch's type and street."""
    return [r for r in catalog.for_topic(need.topic) if r.active and r.suits(need.branch_type, need.street)]


def _action(r: Resource) -> tuple[str, str]:
    if r.kind == "base":
        return f"组织党员到「{r.title_zh}」开展现场教学", f"on-site teaching at {r.title_en}"
    if r.kind == "lecturer":
        return f"邀请红色讲师宣讲「{r.title_zh}」", f"invite a red lecturer: {r.title_en}"
    if r.kind == "lesson":
        return f"开展{r.title_zh}", f"hold the lesson \"{r.title_en}\""
    if r.kind == "video":
        return f"组织集体观看「{r.title_zh}」", f"watch together \"{r.title_en}\""
    return f"开展「{r.title_zh}」", f"run the activity \"{r.title_en}\""


def _shortfall(f: Finding) -> float:
    if f.value is None or f.reference is None:
        return 0.0
    return abs(f.value - f.reference) / max(abs(f.reference), 1.0)


__all__ = ["Choice", "Prescriber", "Prescription", "prescriptions_json", "recent_kinds", "suitable"]
