"""A period evaluated part by part (a street, or a few), with the district's references, to the last bit.

Every rule compares a subject with its own rows and with district aggregates (means and quantiles over
the district, a branch type or a size band). A part of the district holds whole branches with their
members, so everything but those aggregates can be computed from the part alone. The aggregates are
computed in passes over all parts, each part giving its values (``reference_inputs``) and one place
reducing them in id order (``merge_references``), exactly as the one-process engine does, so that the
output is byte-identical:

1. members' references, at the period and at the months whose member lamps branch rules read
   (``member_periods``: ``red_member_share`` of an earlier month needs that month's member lamps);
2. branches' references, with the members' fixed (member-based branch columns need member lamps);
3. every subject evaluated with all references fixed (``Evaluator(references_at=...)``).

This module knows nothing of how parts are scheduled: ``pipeline.partitioned`` runs the passes on
dask.distributed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pandas as pd

from ..rules.model import RuleSet
from .evaluator import Evaluator, reduce_reference, slots

# (subject, indicator, change, lag, ref) -> (values by id, peer group by id or None)
Inputs = dict[tuple, tuple[pd.Series, "pd.Series | None"]]
References = dict[tuple, "float | dict[str, float]"]


def member_based(ruleset: RuleSet, kinds: tuple[str, ...] = ("member_share", "member_mean")) -> set[str]:
    """Branch indicators computed from the branch's members (``member_share``: from their lamps)."""
    return {ind.id for ind in ruleset.registry.derived("branch") if ind.derived and next(iter(ind.derived)) in kinds}


def needs_member_pass(ruleset: RuleSet) -> bool:
    """Whether any member rule compares with a district aggregate (else there are no member references)."""
    return any(node.ref.kind != "const" for rule in ruleset.for_subject("member") for node, _ in slots(rule.when))


def branch_references_read_members(ruleset: RuleSet) -> bool:
    """Whether a branch rule compares a member-based indicator (red_member_share, ...) with an aggregate."""
    based = member_based(ruleset)
    return any(node.ref.kind != "const" and node.indicator in based
               for rule in ruleset.for_subject("branch") for node, _ in slots(rule.when))


def member_periods(ruleset: RuleSet, pidx: int) -> list[int]:
    """Month indexes whose member lamps (so whose member references) a diagnosis of ``pidx`` needs."""
    needed = {pidx}
    lamps_based = member_based(ruleset, ("member_share",))
    for rule in ruleset.for_subject("branch"):
        for node, lag in slots(rule.when):
            if node.indicator in lamps_based:
                needed.add(pidx - lag)
                if node.change is not None:
                    needed.add(pidx - lag - 1)
    return sorted(needed)


def reference_inputs(evaluator: Evaluator, subject: str, pidx: int) -> Inputs:
    """This part's share of every non-constant reference the subject's rules use at ``pidx``."""
    ctx = evaluator.context(subject, pidx)
    out: Inputs = {}
    for rule in evaluator.ruleset.for_subject(subject):
        for node, lag in slots(rule.when):
            key = (subject, node.indicator, node.change, lag, node.ref)
            if node.ref.kind != "const" and key not in out:
                out[key] = ctx.reference_input(node, lag)
    return out


def merge_references(parts: Iterable[Inputs]) -> References:
    """The district's references from every part's inputs (each subject in exactly one part)."""
    gathered: dict[tuple, list[tuple[pd.Series, pd.Series | None]]] = defaultdict(list)
    for part in parts:
        for key, item in part.items():
            gathered[key].append(item)
    out: References = {}
    for key, items in gathered.items():
        items = [item for item in items if len(item[0])] or items[:1]
        # Ids in the order one process holds them (sorted), so sums and quantiles see the same sequence.
        values = pd.concat([v for v, _ in items]).sort_index(kind="stable")
        groups = None if items[0][1] is None else pd.concat([g for _, g in items])
        out[key] = reduce_reference(values, groups, key[-1])
    return out


__all__ = ["Inputs", "References", "branch_references_read_members", "member_based", "member_periods",
           "merge_references", "needs_member_pass", "reference_inputs"]
