"""A service without a model file starts without scikit-learn: its import is a second of the start, and
only a model needs it (persist and the estimator import it when a model is read)."""

import os
import subprocess
import sys

from diagnosis_service.store import make_engine
from diagnosis_service.store.migrate import upgrade

PROBE = """
import sys
from diagnosis_service.service import create_app
app = create_app()
ready = app.test_client().get("/readyz")
print(ready.status_code, ready.get_json()["status"], "sklearn" in sys.modules)
"""


def test_a_service_without_a_model_never_imports_scikit_learn(tmp_path):
    url = f"sqlite:///{tmp_path / 'service.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    env = {**os.environ, "DATABASE_URL": url, "DIAGNOSIS_VAR": str(tmp_path / "var"),
           "DIAGNOSIS_MODELS": str(tmp_path / "models"), "DIAGNOSIS_LOG_LEVEL": "INFO"}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "ready", "False"], done.stdout + done.stderr
    # The model was looked for; none yet is how a service starts: said at INFO, not as a warning.
    said = [line for line in done.stderr.splitlines() if "ranking with the prior" in line]
    assert len(said) == 1 and "no model promoted yet" in said[0] and '"level": "INFO"' in said[0], done.stderr
