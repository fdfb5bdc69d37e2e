"""Hand-made served logs, metrics and training frames for the effectiveness model's tests."""

import numpy as np
import pandas as pd

from diagnosis_service.remedies.ranking import Need


def log_row(branch, status, value=1.0, reference=2.0, btype="village", topic="theory_study",
            rule="theory_study_below_average", indicator="theory_study_sessions", resource="BASE09"):
    return {"branch_id": branch, "period": "2025-06", "pidx": 2025 * 12 + 5, "topic": topic, "rule": rule,
            "indicator": indicator, "resource_id": resource, "kind": "base", "propensity": 1.0, "status": status,
            "branch_type": btype, "street": "古林镇", "members": 30, "value": value, "reference": reference}


def metrics(rows):
    """rows: branch -> list of theory_study_sessions for months 2025-06.."""
    out = []
    for branch, values in rows.items():
        for h, v in enumerate(values):
            out.append({"branch_id": branch, "pidx": 2025 * 12 + 5 + h, "theory_study_sessions": v})
    return pd.DataFrame(out)


def frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    resources = ["BASE01", "BASE02", "LEC001", "VID001"]
    kinds = {"BASE01": "base", "BASE02": "base", "LEC001": "lecturer", "VID001": "video"}
    true = {"BASE01": 0.5, "BASE02": 0.0, "LEC001": 0.3, "VID001": 0.1}
    rid = rng.choice(resources, n)
    adopted = rng.random(n) < 0.6
    X = pd.DataFrame({"resource_id": rid, "kind": [kinds[r] for r in rid], "topic": "theory_study",
                      "main_topic": True, "branch_type": rng.choice(["village", "community"], n),
                      "street": "古林镇", "members": 30.0, "shortfall": 0.5, "adopted": adopted})
    y = np.where(adopted, [true[r] for r in rid], 0.0) + rng.normal(0, 0.1, n)
    return X, y, true


def need(topic="theory_study"):
    return Need("B1", "village", "古林镇", "2025-06", topic, "theory_study_below_average", "theory_study_sessions",
                "yellow", 1.0, 2.5, ("base", "lecturer"), 30)
