"""Benchmark: four hot paths against the way each was done before, in one run, outputs compared.

1. **Outcomes** (`outcomes.compute`, what `model train`, `model evaluate` and `model promote` start with)
   of a closed loop's log: grouping by integer codes made once (`learning/outcome_groups`) against the
   implementation before it, read from the git history (commit 1107b96's parent; skipped outside a git
   checkout). The outputs must be equal to the bit.
2. **Ranking** one need's candidates with a model fitted on that log: the effect's categorical part
   looked up once per combination (`features.linear_effect`) against the plain sum over every one-hot
   feature. The same scores to the bit.
3. **Metric columns of numbers** (a JSON body's, a rule test's): a month of the default district's
   member metrics read as numbers against the text parse they went through before. The same floats and
   the same problems.
4. **Writing a dataset** (`write_dataset`, what `data convert` and `import --dataset` end with) of the
   default district, column by column against `Table.from_pandas`. The same files byte for byte.

Times are the best of ``--repeat`` runs (the host is shared; the best is the least disturbed).

    python benchmarks/bench_hot_paths.py [--repeat 3] [--branches 200] [--months 8]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_overview import DATA, ensure_data  # noqa: E402

from diagnosis_service.data import columnar  # noqa: E402
from diagnosis_service.data.csvdir import load_dir  # noqa: E402
from diagnosis_service.data.validate import Problems, numeric_column  # noqa: E402
from diagnosis_service.engine.derive import derive_own  # noqa: E402
from diagnosis_service.learning import estimator, outcomes  # noqa: E402
from diagnosis_service.learning.features import one_hot  # noqa: E402
from diagnosis_service.learning.ope import contexts  # noqa: E402
from diagnosis_service.learning.policy import LearnedRanker  # noqa: E402
from diagnosis_service.learning.train import fit, measurable  # noqa: E402
from diagnosis_service.remedies.catalog_files import load_catalog  # noqa: E402
from diagnosis_service.remedies.prescribe import suitable  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from diagnosis_service.simulation.loop import LoopSpec, run_loop  # noqa: E402

BEFORE_CODES = "1107b96"  # the commit that brought the integer codes: its parent is the implementation before


def best(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def outcomes_before():
    """``learning.outcomes`` as it was before the integer codes, from git; None outside a checkout."""
    shown = subprocess.run(["git", "-C", str(REPO), "show", f"{BEFORE_CODES}^:diagnosis_service/learning/outcomes.py"],
                           capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        return None
    path = Path(tempfile.mkdtemp()) / "outcomes_before.py"
    path.write_text(shown.stdout, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("diagnosis_service.learning.outcomes_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def bench_outcomes(result, ruleset, repeat: int) -> None:
    metrics = derive_own(result.branch_metrics, "branch", ruleset)
    now = outcomes.compute(result.log, metrics, ruleset)
    t_now = best(repeat, lambda: outcomes.compute(result.log, metrics, ruleset))
    before = outcomes_before()
    if before is None:
        print(f"1. outcomes of {len(result.log):,} lists: {t_now:.2f} s (no git history here: no baseline)")
        return
    then = before.compute(result.log, metrics, ruleset)
    t_then = best(repeat, lambda: before.compute(result.log, metrics, ruleset))
    same = now.to_csv() == then.to_csv() and now.attrs == then.attrs
    print(f"1. outcomes of {len(result.log):,} lists: {t_now:.2f} s, before {t_then:.2f} s: {t_then / t_now:.1f}x; "
          f"outputs {'identical' if same else 'DIFFERENT'}")


def bench_ranking(result, ruleset, catalog, repeat: int) -> None:
    measured = measurable(result.log, result.branch_metrics, ruleset)
    model = fit(measured, catalog).model
    ranker = LearnedRanker(model)
    cases = [(need, suitable(catalog, need)) for _, need, _ in contexts(measured.iloc[:1500], ruleset)]

    def plain(self, row) -> float:  # the sum over every one-hot feature, named each time
        return self.intercept_ + sum(self.coef_.get(name, 0.0) * value for name, value in one_hot(row).items())

    def scores():
        return [(s.resource.id, s.score, s.parts) for need, pool in cases for s in ranker.rank(need, pool)]

    now, t_now = scores(), best(repeat, scores)
    memoised = estimator.EffectivenessModel._effect_one
    estimator.EffectivenessModel._effect_one = plain
    try:
        then, t_then = scores(), best(repeat, scores)
    finally:
        estimator.EffectivenessModel._effect_one = memoised
    per = 1000 / len(cases)
    print(f"2. ranking a need's {np.mean([len(p) for _, p in cases]):.0f} candidates ({len(cases)} needs): "
          f"{t_now * per:.3f} ms, before {t_then * per:.3f} ms: {t_then / t_now:.2f}x; "
          f"scores {'identical' if now == then else 'DIFFERENT'}")


def bench_numbers(dataset, ruleset, repeat: int) -> None:
    frame = dataset.member_metrics
    frame = frame[frame["period"] == frame["period"].max()]  # a month: what one body could carry at most
    inds = [i for i in ruleset.registry.reported("member") if i.id in frame.columns]
    as_numbers = {i.id: pd.Series([None if v != v else float(v) for v in frame[i.id].to_numpy()], dtype=object)
                  for i in inds}
    as_text = {k: pd.Series(["" if v is None else repr(v) for v in s], dtype=object) for k, s in as_numbers.items()}

    def read(columns):
        problems = Problems()
        out = [numeric_column(pd.DataFrame({i.id: columns[i.id]}), i, lambda p: ("body", p + 1), problems)
               for i in inds]
        return out, [str(p) for p in problems.items]

    now, t_now = read(as_numbers), best(repeat, lambda: read(as_numbers))
    then, t_then = read(as_text), best(repeat, lambda: read(as_text))
    same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(now[0], then[0], strict=True)) and now[1] == then[1]
    print(f"3. {len(inds)} member metric columns of {len(frame):,} rows of JSON numbers: {t_now:.2f} s, "
          f"as text before {t_then:.2f} s: {t_then / t_now:.1f}x; values and problems {'identical' if same else 'DIFFERENT'}")


def bench_write(dataset, ruleset, repeat: int) -> None:
    def from_pandas(frame: pd.DataFrame, path: Path) -> None:  # the way before
        import pyarrow as pa
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None), path,
                       store_schema=False)

    work = Path(tempfile.mkdtemp())
    runs = iter(range(1_000_000))

    def write() -> Path:
        out = work / f"ds{next(runs)}"
        columnar.write_dataset(dataset, out, ruleset.registry)
        return out

    def digest(root: Path) -> str:
        h = hashlib.sha256()
        for f in sorted(root.rglob("*.parquet")):
            h.update(str(f.relative_to(root)).encode() + f.read_bytes())
        return h.hexdigest()

    t_now, now = best(repeat, write), digest(write())
    columnar_write = columnar._write
    columnar._write = from_pandas
    try:
        t_then, then = best(repeat, write), digest(write())
    finally:
        columnar._write = columnar_write
    files = len(list((work / "ds0").rglob("*.parquet")))
    print(f"4. write_dataset of the default district ({files:,} files): {t_now:.2f} s, "
          f"before {t_then:.2f} s: {t_then / t_now:.2f}x; files {'identical' if now == then else 'DIFFERENT'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--branches", type=int, default=200, help="the closed loop's district (1 and 2)")
    parser.add_argument("--months", type=int, default=8)
    args = parser.parse_args()
    ruleset = load_ruleset(REPO / "rules")
    catalog = load_catalog(REPO / "resources_catalog", ruleset.registry)
    print(f"a closed loop of {args.branches} branches, {args.months} months served by the exploring prior (not timed) ...",
          flush=True)
    result = run_loop(LoopSpec(policy="prior", history=0, history_epsilon=0.5, epsilon=0.5, months=args.months,
                               branches=args.branches, members=args.branches * 15), ruleset, catalog)
    bench_outcomes(result, ruleset, args.repeat)
    bench_ranking(result, ruleset, catalog, args.repeat)
    ensure_data(ruleset)
    dataset = load_dir(DATA, ruleset.registry)
    bench_numbers(dataset, ruleset, args.repeat)
    bench_write(dataset, ruleset, args.repeat)


if __name__ == "__main__":
    main()
