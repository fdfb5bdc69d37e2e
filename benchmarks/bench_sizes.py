"""Fairness by branch size: for each branch rule, the share of branches it flags in each size band (by
members on the roll), and the ratio of the smallest band's share to the largest's, on the default
district (the bench district, `SimulationSpec()`), one month.

    python benchmarks/bench_sizes.py [--period 2025-12] [--rules DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_diagnose import DEFAULT_DATA, ensure_district  # noqa: E402

from diagnosis_service.data.sources import CsvDir  # noqa: E402
from diagnosis_service.pipeline.month import diagnose_month  # noqa: E402
from diagnosis_service.pipeline.snapshot import Snapshot  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", default="2025-12")
    parser.add_argument("--rules", type=Path, default=REPO / "rules")
    args = parser.parse_args()
    snapshot = Snapshot.from_dirs(args.rules, None)
    registry = snapshot.ruleset.registry
    ensure_district(DEFAULT_DATA, snapshot.ruleset)
    dataset = CsvDir(DEFAULT_DATA).load(registry, args.period)
    month = diagnose_month(dataset, snapshot, args.period)
    roll = dataset.members.groupby("branch_id").size()
    band = {b: registry.size_band(int(roll.get(b, 0))) for b in dataset.branches.index}
    bands = [registry.size_band(0)] + [registry.size_band(b) for b in registry.size_bands]
    total = Counter(band[r.id] for r in month.branches)
    flagged: dict[str, Counter] = defaultdict(Counter)
    for r in month.branches:
        for f in r.findings:
            flagged[f.rule][band[r.id]] += 1
    print(f"{args.period}, branches by members on the roll: " + ", ".join(f"{b}: {total[b]}" for b in bands))
    print(f"{'rule':42s}" + "".join(f"{b:>9s}" for b in bands) + "   smallest / largest")
    for rule in sorted(flagged, key=lambda x: (-flagged[x][bands[0]] / max(total[bands[0]], 1), x)):
        rates = [flagged[rule][b] * 100 / total[b] if total[b] else 0.0 for b in bands]
        ratio = f"{rates[0] / rates[-1]:.2f}" if rates[-1] else "inf"
        mark = "  (> 2)" if ratio == "inf" or float(ratio) > 2 else ""
        print(f"{rule:42s}" + "".join(f"{x:8.1f}%" for x in rates) + f"   {ratio}{mark}")


if __name__ == "__main__":
    main()
