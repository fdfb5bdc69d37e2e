"""Model files: the effectiveness model as JSON (no pickle: a model file is data, like rules and the
catalog), with the parameters, the library versions and a model card; written atomically."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data.files import LockBusy, waited_lock, write_atomic, write_chunks_atomic
from ..errors import ModelError, Problem
from .verdict_log import VERDICTS_FILE

if TYPE_CHECKING:
    from .estimator import EffectivenessModel

# scikit-learn (and the estimator built on it) is imported where a model is read or written, not with this
# module: a service without a model file, which never needs it, starts in 1.5 s instead of 3.1 s.

FORMAT = 1
MAX_MODEL_BYTES = 50_000_000


def library_versions() -> dict[str, str]:
    import sklearn

    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "pandas": pd.__version__}


def save(model: EffectivenessModel, path: Path, card: dict) -> Path:
    """Write the model as JSON, atomically (temp file + rename); the model card beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "estimator": "EffectivenessModel", "params": model.get_params(),
           "libraries": library_versions(), "state": model.state(), "card": card}
    text = json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1)
    for target, content in ((path, text), (path.with_suffix(".card.json"),
                                           json.dumps(card, ensure_ascii=False, sort_keys=True, indent=2))):
        write_atomic(target, (content, "\n"))
    return path


def load(path: Path) -> tuple[EffectivenessModel, dict]:
    """The model and its card; ModelError when missing, unreadable or incompatible."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:  # missing, or removed since a look (a trial ended): the same to a reader
        raise ModelError(Problem("no trained model", file=str(path),
                                 suggestion="diagnosis-service model train, then model promote")) from None
    if size > MAX_MODEL_BYTES:
        raise ModelError(Problem(f"model file over {MAX_MODEL_BYTES} bytes", file=str(path)))
    wanted = "the JSON file `model train` writes (effectiveness.json, candidate.json), not its .card.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(Problem(f"not a model file: not JSON ({exc.msg})", file=str(path), line=exc.lineno,
                                 column=exc.colno, suggestion=wanted)) from None
    except UnicodeDecodeError:
        raise ModelError(Problem("not a model file: not UTF-8 text", file=str(path), suggestion=wanted)) from None
    except OSError as exc:
        raise ModelError(Problem(f"unreadable model ({exc.strerror or exc.__class__.__name__})",
                                 file=str(path))) from None
    if not isinstance(doc, dict):
        raise ModelError(Problem(f"not a model file: a JSON {type(doc).__name__}, not an object", file=str(path),
                                 suggestion=wanted))
    if "format" not in doc:
        card = "fingerprint" in doc and "state" not in doc
        raise ModelError(Problem("not a model file: " + ("a model's card (what it is), not the model"
                                                         if card else "it has no format"),
                                 file=str(path), suggestion=wanted))
    if doc["format"] != FORMAT:
        raise ModelError(Problem(f"incompatible model format {doc['format']!r} (this version reads format "
                                 f"{FORMAT})", file=str(path), suggestion="retrain: diagnosis-service model train"))
    if doc.get("estimator") != "EffectivenessModel":
        raise ModelError(Problem(f"not an effectiveness model (its estimator is {doc.get('estimator')!r})",
                                 file=str(path), suggestion=wanted))
    for field in ("params", "state", "libraries"):
        if not isinstance(doc.get(field), dict):
            raise ModelError(Problem(f"model file is incomplete ({field} is not an object)", file=str(path),
                                     column=field, suggestion="retrain: diagnosis-service model train"))
    from .params import invalid

    bad = invalid(doc["params"])
    if bad:
        raise ModelError(Problem(f"model parameters this version would not fit with: {'; '.join(bad)}",
                                 file=str(path), column="params", suggestion="retrain: diagnosis-service model train"))
    import sklearn

    from .estimator import EffectivenessModel

    trained = str(doc["libraries"].get("scikit-learn", ""))
    if trained.split(".")[:2] != sklearn.__version__.split(".")[:2]:
        raise ModelError(Problem(f"model trained with scikit-learn {trained}, this is {sklearn.__version__}",
                                 file=str(path), suggestion="retrain: diagnosis-service model train"))
    try:
        _check_state(doc["state"])
        model = EffectivenessModel.from_state(doc["params"], doc["state"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(Problem(f"model file is incomplete ({exc})", file=str(path),
                                 suggestion="retrain: diagnosis-service model train")) from None
    card = doc.get("card", {})
    return model, card if isinstance(card, dict) else {}


# What a model file's state holds (EffectivenessModel.state()): field -> the type its value must have.
_STATE_FIELDS = {
    "adoption_global_": "a number", "adoption_kind_type_": "numbers by key", "adoption_resource_type_": "numbers by key",
    "coef_": "numbers by key", "counts_": "numbers by key", "effect_global_": "a number", "evidence_": "numbers by key",
    "intercept_": "a number", "log_coef_": "numbers by key", "log_cv_": "numbers by key",
    "log_intercept_": "a number or null", "log_ridge_alpha_": "a number or null",
    "multiplicative_": "a text", "n_effect_obs_": "a number", "n_features_in_": "a number", "sigma_": "a number",
    "silent_adoption_": "a number or null", "streets_": "a list of texts", "zero_point_": "a number",
}
# Fields a file from before them lacks (``EffectivenessModel.from_state`` gives them the values that rank as those files did).
_STATE_OPTIONAL = frozenset({"log_coef_", "log_cv_", "log_intercept_", "log_ridge_alpha_", "multiplicative_",
                             "silent_adoption_"})


def _is(value, kind: str) -> bool:
    def number(v) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)
    if kind == "a number":
        return number(value)
    if kind == "a number or null":
        return value is None or number(value)
    if kind == "a text":
        return isinstance(value, str)
    if kind == "a list of texts":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, dict) and all(isinstance(k, str) and number(v) for k, v in value.items())


def _check_state(state: dict) -> None:
    """ValueError naming the first learned field that is missing or of the wrong type: a model that loads
    must rank (a bad file is refused here, not at the first request)."""
    for key, kind in _STATE_FIELDS.items():
        if key not in state:
            if key in _STATE_OPTIONAL:
                continue
            raise ValueError(f"state lacks {key}")
        if not _is(state[key], kind):
            raise ValueError(f"state field {key} is not {kind}")


def ranker_name(card: dict) -> str:
    """How served lists name a model's ranker: its version (the card's fingerprint)."""
    return f"learned:{card.get('fingerprint', 'unknown')}"


def promote(candidate: Path, active: Path, record: dict, model_bytes: bytes | None = None) -> dict:
    """Make the candidate model the active one: the active file (if any) kept under ``history/``, the
    candidate's bytes (``model_bytes``: the file as it was compared, so that a `model train` rewriting
    it meanwhile cannot slip an unjudged model in; else read now) written in its place (temp file +
    rename: a running service sees the old model or the new one), and ``record`` appended to
    ``promotions.jsonl`` beside it. Returns the record."""
    candidate, active = Path(candidate), Path(active)
    model_text = model_bytes.decode("utf-8") if model_bytes is not None else candidate.read_text(encoding="utf-8")
    card_path = candidate.with_suffix(".card.json")
    # The card beside the active model is the promoted one's: the one inside the model (as save wrote
    # the card file), else its card file; never the previous model's left in place.
    try:
        card = json.loads(model_text).get("card")
    except (ValueError, AttributeError):
        card = None
    if isinstance(card, dict):
        card_text = json.dumps(card, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    else:
        card_text = card_path.read_text(encoding="utf-8") if card_path.exists() else None
    if active.exists():
        try:
            _, old_card = load(active)
            tag = old_card.get("fingerprint", "unknown")
        except ModelError:
            tag = "unusable"
        kept = active.parent / "history" / f"{active.stem}-{tag}.json"
        write_atomic(kept, (active.read_text(encoding="utf-8"),))
        record = {**record, "previous_kept_at": str(kept)}
    write_atomic(active, (model_text,))
    if card_text is not None:
        write_atomic(active.with_suffix(".card.json"), (card_text,))
    else:
        active.with_suffix(".card.json").unlink(missing_ok=True)
    return _recorded(active.parent, record)


def put_on_trial(model_bytes: bytes, challenger: Path, record: dict) -> dict:
    """Make a candidate (``model_bytes``, the file as compared) the challenger on trial
    (``rollout.on_trial``): written to ``challenger`` (temp file + rename), ``record`` appended to
    ``promotions.jsonl`` beside it."""
    write_atomic(Path(challenger), (model_bytes.decode("utf-8"),))
    return _recorded(Path(challenger).parent, record)


def on_trial_now(challenger: Path) -> tuple[str, dict] | None:
    """(ranker name, card) of the challenger on trial in ``challenger`` (("unusable", {}) for a broken
    file), None without one."""
    challenger = Path(challenger)
    if not challenger.exists():
        return None
    try:
        card = load(challenger)[1]
    except ModelError:
        return "unusable", {}
    return ranker_name(card), card


def end_trial(challenger: Path, record: dict | None) -> str | None:
    """End the trial in ``challenger``, if there is one: the file removed and, unless ``record`` is None
    (the caller records it), ``record`` with ``trial_ended`` appended to ``promotions.jsonl``. Returns
    the challenger's name, None when there was none."""
    challenger = Path(challenger)
    now = on_trial_now(challenger)
    if now is None:
        return None
    challenger.unlink(missing_ok=True)
    if record is not None:
        _recorded(challenger.parent, {**record, "trial_ended": now[0]})
    return now[0]


PROMOTION_LOCK = ".promote.lock"
PROMOTION_WAIT = 600.0  # seconds `model promote` waits for another one in the same models directory


@contextlib.contextmanager
def promotion_lock(models_dir: Path, wait: float = PROMOTION_WAIT,
                   on_wait: Callable[[Path], None] | None = None) -> Iterator[None]:
    """One comparison-and-activation at a time in ``models_dir`` (an administrator's `model promote` beside a
    service's monthly routine): the second waits up to ``wait`` seconds, then ModelError. Without it two
    could activate models in between each other's steps, and ``promotions.jsonl``, rewritten whole by
    each, could lose a record. ``on_wait(models_dir)`` is told once when it has to wait."""
    models_dir = Path(models_dir)
    try:
        with waited_lock(models_dir / PROMOTION_LOCK, time.monotonic() + wait,
                         (lambda: on_wait(models_dir)) if on_wait is not None else None):
            yield
    except LockBusy:
        raise ModelError(Problem(
            f"another `model promote` has been judging in {models_dir} for {wait:.0f} s or more (a service's "
            f"monthly routine, or an administrator's)", file=str(models_dir / PROMOTION_LOCK),
            suggestion="run it again once that one has ended (promotions.jsonl records it)")) from None


def record_refusal(models_dir: Path, record: dict) -> dict:
    """Append ``record`` (a comparison that activated nothing and put nothing on trial) to
    ``promotions.jsonl`` in ``models_dir``: the log tells every verdict, not only the promotions, so an
    administrator sees which candidates were refused and why."""
    return _recorded(Path(models_dir), record)


def _recorded(models_dir: Path, record: dict) -> dict:
    log_path = models_dir / VERDICTS_FILE
    # As bytes: a line someone broke (not UTF-8, cut short) stays as it was, and never stops a verdict
    # from being recorded; the readers skip it and say which line (verdict_log).
    before = log_path.read_bytes() if log_path.exists() else b""
    line = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
    write_chunks_atomic(log_path, (before, b"\n" if before and not before.endswith(b"\n") else b"", line))
    return record


def model_card(X: pd.DataFrame, y: np.ndarray, outcomes: pd.DataFrame, model: EffectivenessModel,
               source: str, holdout: dict) -> dict:
    periods = sorted(set(outcomes["period"]))
    return {
        "model": "EffectivenessModel (expected improvement = P(adopted) x improvement if adopted)",
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": source, "data_window": {"from": periods[0] if periods else None,
                                          "to": periods[-1] if periods else None},
        "rows": int(len(X)), "adopted_measured": int(model.n_effect_obs_),
        "features": list(model.feature_names_in_), "params": model.get_params(), "libraries": library_versions(),
        "metrics": holdout,
        # How the outcomes weighed the months after a decision (outcomes.window_profile): ones when
        # effects were found to last the horizon alike.
        "outcome_window_profile": outcomes.attrs.get("window_profile"),
        # Whether the effect estimate blends in the multiplicative fit, and why not when it does not.
        "multiplicative_fit": getattr(model, "multiplicative_", None),
        # The multiplicative fit's penalty, and with log_ridge_alpha "cv" each penalty's held-out error.
        "log_ridge_alpha": getattr(model, "log_ridge_alpha_", None), "log_cv": getattr(model, "log_cv_", {}),
        "fingerprint": fingerprint(model),
    }


def fingerprint(model: EffectivenessModel) -> str:
    """A fitted model's version: the hash of its learned state (the same fit, the same fingerprint)."""
    return hashlib.sha256(json.dumps(model.state(), sort_keys=True).encode()).hexdigest()[:12]


def refit_card(card: dict, candidate_card: dict) -> dict:
    """The card of a candidate's recipe fitted again on every month (``model promote --refit``): its own,
    with the candidate's holdout metrics, and which candidate it was validated as, trained to when."""
    return {**card, "metrics": candidate_card.get("metrics", {}), "held_out": None,
            "refit_of": candidate_card.get("fingerprint"),
            "validated_to": candidate_card.get("data_window", {}).get("to")}


__all__ = ["FORMAT", "fingerprint", "library_versions", "load", "model_card", "promote", "promotion_lock", "ranker_name",
           "record_refusal", "refit_card", "save"]
