"""A model file that is not one, or that would not rank, is refused when it is loaded, saying what it is."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diagnosis_service.errors import ModelError
from diagnosis_service.learning.estimator import EffectivenessModel
from diagnosis_service.learning.persist import load, save
from tests.support.learning import frame


def test_a_file_that_is_not_a_model_says_what_it_is(tmp_path):
    X, y, _ = frame()
    path = save(EffectivenessModel().fit(X, y), tmp_path / "m.json", {"fingerprint": "abc", "features": ["kind"]})
    text = path.read_text(encoding="utf-8")

    def refused(content: str | bytes) -> object:
        other = tmp_path / "other.json"
        other.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        with pytest.raises(ModelError) as caught:
            load(other)
        return caught.value.problems[0]

    cut = refused(text[: len(text) // 2])  # a copy cut short
    assert str(cut).startswith(f"{tmp_path / 'other.json'}:") and "not JSON" in str(cut) and cut.line > 1
    card = refused((tmp_path / "m.card.json").read_text(encoding="utf-8"))
    assert "a model's card (what it is), not the model" in str(card) and "not its .card.json" in card.suggestion
    assert "a JSON list, not an object" in str(refused("[]"))
    assert "not UTF-8 text" in str(refused(b"PK\x03\x04\xff\xfe"))
    doc = json.loads(text)
    assert "incompatible model format 2 (this version reads format 1)" in str(refused(json.dumps({**doc, "format": 2})))
    wrong = refused(json.dumps({**doc, "estimator": "RandomForest"}))
    assert "not an effectiveness model (its estimator is 'RandomForest')" in str(wrong)
    assert "format 1" not in str(wrong)  # it said "incompatible model format 1 (this version reads format 1)"
    # Parameters edited by hand: refused with what each takes, not ranked with (info showed the card's).
    bad = refused(json.dumps({**doc, "params": {**doc["params"], "blend": 7, "weakness_flags": "yes"}}))
    assert "blend=7: a number ≥ 0 and ≤ 1" in str(bad) and "weakness_flags='yes': true or false" in str(bad)
    assert bad.column == "params" and "model train" in bad.suggestion


@pytest.mark.parametrize("field, value, says", [
    ("state", [], "state is not an object"),
    ("libraries", None, "libraries is not an object"),
    ("params", "x", "params is not an object"),
    ("state.coef_", None, "state field coef_ is not numbers by key"),
    ("state.coef_", {"resource=BASE01": "0.3"}, "state field coef_ is not numbers by key"),
    ("state.streets_", 3, "state field streets_ is not a list of texts"),
    ("state.sigma_", True, "state field sigma_ is not a number"),
    ("state.evidence_", "drop", "state lacks evidence_"),
    ("params.blend", "drop", None),  # a file from before the blend: still loads
])
def test_a_model_file_that_would_not_rank_is_refused_when_loaded(tmp_path, field, value, says):
    X, y, _ = frame()
    model = EffectivenessModel().fit(X, y)
    path = save(model, tmp_path / "m.json", {"note": "test"})
    doc = json.loads(path.read_text())
    where, _, key = field.partition(".")
    target = doc[where] if key else doc
    name = key or where
    if value == "drop":
        del target[name]
    else:
        target[name] = value
    path.write_text(json.dumps(doc))
    if says is None:
        back, _ = load(path)
        assert np.all(np.isfinite(back.predict(X)))
        return
    with pytest.raises(ModelError, match="incomplete") as caught:
        load(path)
    problem = caught.value.problems[0]
    assert says in str(problem) and problem.file == str(path) and "model train" in problem.suggestion
