"""The effectiveness model as an administrator watches it: what ranks now, the challenger on trial, the
monthly routine's last run, and the latest promotion verdicts (``learning.verdict_log``)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..learning.verdict_log import read_verdicts
from .auth import roles
from .db import runtime
from .health import no_paths
from .request_args import int_arg
from .routine_said import verdict_for_readers

bp = Blueprint("model", __name__, url_prefix="/v1")
MAX_VERDICTS = 200


@bp.get("/model")
@roles("platform", "admin")
def model_state():
    """The ranking in service and the verdicts behind it, newest first (``limit``, 20 by default)."""
    limit = int_arg("limit", 20, 0, MAX_VERDICTS)
    rt = runtime()
    rt.rankers.ranker()  # follows the model and challenger files, as requests do
    ranking = {k: no_paths(v) if isinstance(v, str) else v for k, v in rt.rankers.status.items() if k != "model"}
    verdicts = read_verdicts(rt.settings.models_dir, limit).as_dict()
    verdicts["items"] = [verdict_for_readers(item) for item in verdicts["items"]]
    for item in verdicts["items"]:  # a reason may name a file (a rule file, a model): said by its name only
        item.update({k: no_paths(item[k]) for k in ("reason", "reason_zh") if isinstance(item[k], str)})
    return jsonify(ranking=ranking, routine=rt.model_routine.status(), verdicts=verdicts)
