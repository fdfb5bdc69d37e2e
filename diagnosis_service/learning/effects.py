"""The effect's fast paths: what ranking asks of the effectiveness model a million times a district.

The effect of a (remedy, branch, weakness) is its one_hot features times their coefficients, summed in
one_hot's order (``EffectivenessModel`` docs). Here it is computed without building the features: a
categorical feature's value is 1.0, so its term is its coefficient, looked up once per model and kept.
Every path adds the same terms in the same order, so every path gives the same float.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .features import NUMBERS, Row, categorical_names, numbers, on_site, on_site_value, onsite_name
from .outcomes import CLIP

if TYPE_CHECKING:
    from .estimator import EffectivenessModel

# The multiplicative estimate is capped beyond what a measured outcome can reach (they are clipped to +-CLIP
# before the zero point is taken off): an unseen combination of large coefficients must not outrank
# everything seen.
MAX_MULTIPLICATIVE_LOG = math.log(2 * CLIP)
# Coefficients kept per (resource, kind, type, topic, main topic) by the fast paths, at most.
MAX_KEPT = 100_000


def in_order(values: Iterable[float]) -> float:
    """The values added one by one from the left, as ``sum`` adds floats on Python 3.11 (3.12's
    compensates): the effect's float is the same on either, and the same on every path that computes it."""
    total = 0.0
    for value in values:
        total += value
    return total


def effect_list(model: EffectivenessModel, rows: Iterable) -> list[float]:
    """The effect of each row: each coefficient times its one_hot feature, added left to right in
    one_hot's order (``in_order``). A categorical feature's value is 1.0, so its term is
    its coefficient, looked up once per model and kept: ranking a district scores a million
    candidates, and building their feature names took most of the time."""
    coef, log_coef, multiplicative = model.coef_, model.log_coef_, model.log_intercept_ is not None
    cache = model.__dict__.get("_terms")
    if (cache is None or cache[0] is not coef or cache[1] is not log_coef or len(cache[2]) > MAX_KEPT
            or len(cache[3]) > MAX_KEPT):
        cache = model._terms = (coef, log_coef, {}, {}, tuple(coef.get(n, 0.0) for n in NUMBERS),
                               tuple(log_coef.get(n, 0.0) for n in NUMBERS))
    _, _, kept, streets, c, g = cache
    out = []
    for row in rows:
        street = row.street if isinstance(row.street, str) else ""
        key = (row.resource_id, row.kind, row.branch_type, row.topic, bool(row.main_topic))
        # Kept by value only where the value is its name's text: 1, 1.0 and True are one key but three
        # names, and a NaN is a new key each time.
        plain = type(key[0]) is str and type(key[1]) is str and type(key[2]) is str and type(key[3]) is str
        terms = kept.get(key) if plain else None
        if terms is None:  # names without the street's (the last): one entry per resource, type and topic
            names = categorical_names(row)[:-1]
            terms = (tuple(coef.get(n, 0.0) for n in names), tuple(log_coef.get(n, 0.0) for n in names))
            if plain:
                kept[key] = terms
        pair = streets.get(street)
        if pair is None:  # the street's coefficient and its on-site one, of each fit
            name, onsite = f"street={street}", onsite_name(street)
            pair = streets[street] = (coef.get(name, 0.0), log_coef.get(name, 0.0), coef.get(onsite, 0.0),
                                      log_coef.get(onsite, 0.0))
        x, v = numbers(row), on_site(row)
        additive = model.intercept_ + in_order((*terms[0], pair[0], pair[2] * v, c[0] * x[0], c[1] * x[1],
                                                c[2] * x[2], c[3] * x[3], c[4] * x[4], c[5] * x[5], c[6] * x[6]))
        if not multiplicative:
            out.append(additive)
            continue
        z = model.log_intercept_ + in_order((*terms[1], pair[1], pair[3] * v, g[0] * x[0], g[1] * x[1],
                                             g[2] * x[2], g[3] * x[3], g[4] * x[4], g[5] * x[5], g[6] * x[6]))
        out.append((1.0 - model.blend) * additive + model.blend * math.exp(min(z, MAX_MULTIPLICATIVE_LOG)))
    return out



def need_candidates(model: EffectivenessModel, topic: str, branch_type: str, street: str | None, members: float,
                    shortfall: float, candidates: Sequence[tuple[str, str, bool]], repeat: Sequence[float],
                    repeat_kind: Sequence[float], on_site: Sequence[float] | None = None,
                    repeat_adopted: Sequence[float] | None = None, weakness_months: float = 0.0
                    ) -> list[tuple[float, float, int, float]]:
    """(improvement if adopted, P(adopted), evidence for ``topic``, uncertainty) of each candidate
    (resource id, kind, whether ``topic`` is its main one; ``on_site``: whether it is used on site;
    ``repeat_adopted``: whether the branch said it adopted it lately; none of either if not given) for
    one need (``weakness_months``: since the branch's last list for the weakness, 0 for none): the very floats
    ``predict_rows``, ``evidence`` and ``uncertainty`` give for the rows the need makes. Ranking meets
    the same few thousand (resource, branch type, topic) over and over: what depends on them alone
    (the categorical coefficients' partial sums, adoption, evidence) is kept, and the need's own terms
    (street, size, shortfall) are looked up once per need instead of once per candidate. What is kept
    is dropped when the fitted dicts are replaced (a refit, a loaded state) or the numbers it used
    change; the dicts are never changed in place."""
    if on_site is None:
        on_site = [0.0] * len(candidates)
    if repeat_adopted is None:
        repeat_adopted = [0.0] * len(candidates)
    if type(topic) is not str or type(branch_type) is not str:  # keys kept only by their text
        rows = [Row(rid, kind, topic, main, branch_type, street, members, shortfall, rep, krep, site, arep,
                    weakness_months)
                for (rid, kind, main), rep, krep, site, arep in zip(candidates, repeat, repeat_kind, on_site,
                                                                    repeat_adopted, strict=True)]
        effects, adoption = model.predict_rows(rows)
        return [(e, p, model.evidence(row.resource_id, topic), model.uncertainty(row.resource_id))
                for row, e, p in zip(rows, effects, adoption, strict=True)]
    coef, log_coef = model.coef_, model.log_coef_
    state = (coef, log_coef, model.adoption_resource_type_, model.adoption_kind_type_, model.counts_, model.evidence_)
    scalars = (model.adoption_global_, model.sigma_, model.prior_strength)
    cache = model.__dict__.get("_candidates")
    if (cache is None or any(a is not b for a, b in zip(cache[0], state, strict=True)) or cache[1] != scalars
            or len(cache[2]) > MAX_KEPT):
        cache = model._candidates = (state, scalars, {})
    kept = cache[2]
    x0, x1, _, _, _, x5, x6 = numbers(Row("", "", topic, True, branch_type, street, members, shortfall,
                                          weakness_months=weakness_months))
    street_name = f"street={street if isinstance(street, str) else ''}"
    c = [coef.get(n, 0.0) for n in NUMBERS]
    # The sums run in one_hot's order, as _effect_list's do: the categorical terms (kept), the street's,
    # the street x on-site one, then each number's; a float sum's value depends on its order.
    add = (coef.get(street_name, 0.0), c[0] * x0, c[1] * x1)
    onsite = onsite_name(street)
    site_coef, site_log = coef.get(onsite, 0.0), log_coef.get(onsite, 0.0)
    multiplicative = model.log_intercept_ is not None
    g = [log_coef.get(n, 0.0) for n in NUMBERS]
    log_add = (log_coef.get(street_name, 0.0), g[0] * x0, g[1] * x1)
    tail, log_tail = (c[5] * x5, c[6] * x6), (g[5] * x5, g[6] * x6)  # the need's weakness flags, added last
    out = []
    for (rid, kind, main), rep, krep, site, arep in zip(candidates, repeat, repeat_kind, on_site, repeat_adopted,
                                                        strict=True):
        key = (rid, kind, bool(main))
        plain = type(rid) is str and type(kind) is str
        entry = kept.get((topic, branch_type, key)) if plain else None
        if entry is None:
            entry = _candidate_terms(model, rid, kind, topic, bool(main), branch_type)
            if plain:
                kept[(topic, branch_type, key)] = entry
        rep, krep, v, arep = float(rep), float(krep), on_site_value(site), float(arep)
        additive = model.intercept_ + (entry[0] + add[0] + site_coef * v + add[1] + add[2] + c[2] * rep + c[3] * krep
                                       + c[4] * arep + tail[0] + tail[1])
        if multiplicative:
            z = model.log_intercept_ + (entry[1] + log_add[0] + site_log * v + log_add[1] + log_add[2] + g[2] * rep
                                        + g[3] * krep + g[4] * arep + log_tail[0] + log_tail[1])
            additive = (1.0 - model.blend) * additive + model.blend * math.exp(min(z, MAX_MULTIPLICATIVE_LOG))
        out.append((additive, entry[2], entry[3], entry[4]))
    return out



def _candidate_terms(model: EffectivenessModel, rid: str, kind: str, topic: str, main: bool,
                     branch_type: str) -> tuple:
    """(the categorical terms' sum without the street's, the same of the log-link fit, P(adopted),
    evidence for ``topic``, uncertainty) of a resource for a branch type and topic: each sum the start
    of _effect_list's, so that adding the rest in order gives its float."""
    row = Row(rid, kind, topic, main, branch_type, None, 0.0, 0.0)
    names = categorical_names(row)[:-1]
    return (in_order(model.coef_.get(n, 0.0) for n in names), in_order(model.log_coef_.get(n, 0.0) for n in names),
            model._adoption(row), model.evidence(rid, topic), model.uncertainty(rid))


__all__ = ["MAX_KEPT", "MAX_MULTIPLICATIVE_LOG", "effect_list", "in_order", "need_candidates"]
