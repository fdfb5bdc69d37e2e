"""Reference data: the indicator registry and the remedy catalog."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..errors import Conflict, InputError, Problem, did_you_mean
from ..remedies.catalog import FILES
from .auth import READERS, roles
from .db import snapshot
from .request_args import choice_arg

bp = Blueprint("reference", __name__, url_prefix="/v1")


@bp.get("/indicators")
@roles(*READERS)
def indicators():
    """The indicator registry: branch and member indicators, topics, branch types."""
    reg = snapshot().ruleset.registry
    out = {}
    for subject in ("branch", "member"):
        out[subject] = [{"id": i.id, "name_zh": i.name_zh, "name_en": i.name_en, "unit": i.unit, "min": i.min,
                         "max": i.max, "derived": i.derived is not None}
                        for i in reg.indicators[subject].values()]
    out["topics"] = [{"id": t.id, "name_zh": t.name_zh, "name_en": t.name_en} for t in reg.topics.values()]
    out["branch_types"] = [{"id": t.id, "name_zh": t.name_zh, "name_en": t.name_en} for t in reg.branch_types.values()]
    return jsonify(out)


@bp.get("/catalog/resources")
@roles(*READERS)
def resources():
    """Catalog resources, optionally of one kind and/or topic."""
    snap = snapshot()
    topics = snap.ruleset.registry.topics
    kind = choice_arg("kind", tuple(FILES))
    topic = request.args.get("topic")
    if topic is not None and topic not in topics:
        raise InputError(Problem(f"unknown topic {topic!r}"[:200], field=("query", "topic"),
                                 suggestion=did_you_mean(topic, topics) or "topics: " + ", ".join(topics)))
    if snap.catalog is None:
        raise Conflict(Problem("the remedy catalog is not loaded", suggestion="see /readyz"))
    items = [r.as_dict() for r in snap.catalog.select(kind, topic)]
    return jsonify(version=snap.catalog.version, count=len(items), resources=items)
