"""Benchmark: six hot paths against the way each was done before, in one run, outputs compared.

1. **Outcomes** (`outcomes.compute`, what `model train`, `model evaluate` and `model promote` start with)
   of a closed loop's log: grouping by integer codes made once (`learning/outcome_groups`) against the
   implementation before it, read from the git history (commit 1107b96's parent; skipped outside a git
   checkout). The outputs must be equal to the bit.
2. **Metric columns of numbers** (a JSON body's, a rule test's): a month of the default district's
   member metrics read as numbers against the text parse they went through before. The same floats and
   the same problems.
3. **Writing a dataset** (`write_dataset`, what `data convert` and `import --dataset` end with) of the
   default district, column by column against `Table.from_pandas`. The same files byte for byte.
4. **The effect fits' one-hot design** (every `model train`, `evaluate`, `promote` and closed-loop fit
   builds it, twice with the log-link fit's) of the loop's measurable outcomes, column by column against
   scikit-learn's `DictVectorizer` over the rows' `one_hot` dicts. The same matrix byte for byte.
5. **Learned ranking** (`LearnedRanker.rank`: what `diagnose` with a model, `model evaluate` and `model
   promote` do for every list) of every logged decision's candidates with a model fitted on the loop,
   per need (`predict_candidates`) against row by row (`predict_rows`, `evidence`, `uncertainty` a
   candidate at a time, as it ranked before). The same scores, parts and notes.
6. **The overview's rows of months evaluated here** (`overview --data`: a row per branch and month) of
   the default district's months of 2025, members read as columns (`month_rows`) against a result object
   built for every member and added up (`branch_month_rows` of `run`, as before). The same rows.

Times are the best of ``--repeat`` runs (the host is shared; the best is the least disturbed).

    python benchmarks/bench_hot_paths.py [--repeat 3] [--branches 200] [--months 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_overview import DATA, ensure_data  # noqa: E402

from diagnosis_service.data import columnar, streetfiles, validate  # noqa: E402
from diagnosis_service.data.csvdir import load_dir  # noqa: E402
from diagnosis_service.engine.derive import derive_own  # noqa: E402
from diagnosis_service.learning import outcomes  # noqa: E402
from diagnosis_service.learning import policy as policies  # noqa: E402
from diagnosis_service.learning.design import feature_frame, one_hot_design  # noqa: E402
from diagnosis_service.learning.features import (  # noqa: E402
    Row,
    adopted_repeats,
    kind_repeats,
    on_site_flags,
    one_hot,
    repeats,
    training_frame,
)
from diagnosis_service.learning.ope import contexts, served_from_log  # noqa: E402
from diagnosis_service.learning.train import fit, measurable  # noqa: E402
from diagnosis_service.remedies.catalog_files import load_catalog  # noqa: E402
from diagnosis_service.remedies.prescribe import recent_kinds, suitable  # noqa: E402
from diagnosis_service.remedies.ranking import Scored  # noqa: E402
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
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "outcomes_before.py"
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


def bench_numbers(dataset, ruleset, repeat: int) -> None:
    frame = dataset.member_metrics
    frame = frame[frame["period"] == frame["period"].max()]  # a month: what one body could carry at most
    inds = [i for i in ruleset.registry.reported("member") if i.id in frame.columns]
    as_numbers = {i.id: pd.Series([None if v != v else float(v) for v in frame[i.id].to_numpy()], dtype=object)
                  for i in inds}

    def read():
        problems = validate.Problems()
        out = [validate.numeric_column(pd.DataFrame({i.id: as_numbers[i.id]}), i, lambda p: ("body", p + 1), problems)
               for i in inds]
        return out, [str(p) for p in problems.items]

    def exact(result) -> tuple:
        return [[x.hex() for x in arr.tolist()] for arr in result[0]], result[1]

    now, t_now = exact(read()), best(repeat, read)
    fast = validate._parse_text_column
    validate._parse_text_column = validate._parse_as_text  # the way before: every cell written out and parsed
    try:
        then, t_then = exact(read()), best(repeat, read)
    finally:
        validate._parse_text_column = fast
    print(f"2. {len(inds)} member metric columns of {len(frame):,} rows of JSON numbers: {t_now:.2f} s, "
          f"parsed as text before {t_then:.2f} s: {t_then / t_now:.1f}x; values and problems "
          f"{'identical to the bit' if now == then else 'DIFFERENT'}")


def bench_write(dataset, ruleset, repeat: int) -> None:
    def from_pandas(frame: pd.DataFrame, path: Path) -> None:  # the way before: each file's rows converted
        import pyarrow as pa
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None), path,
                       store_schema=False)

    def metrics_before(root, subject, frame, columns, street_of, member_street, members) -> None:
        """streetfiles.write_street_metrics as it was: a frame sliced and converted for every file."""
        key = streetfiles.KEYS[subject]
        streets = frame[key].map(street_of) if subject == "branch" else \
            frame[key].map(pd.Series(member_street.to_numpy(), index=members["member_id"]))
        for (period, f), part in frame.groupby([frame["period"], streets], sort=True):
            from_pandas(part.sort_values(key, kind="stable")[["period", key, *columns]],
                        root / f"{subject}_metrics" / str(period) / f"{f}.parquet")

    work = Path(tempfile.mkdtemp())
    runs = iter(range(1_000_000))

    def write() -> Path:
        out = work / f"ds{next(runs)}"
        columnar.write_dataset(dataset, out, ruleset.registry)
        return out

    def timed() -> tuple[float, str, int]:
        """(best time of ``repeat`` writes, each removed after its timing; the files' digest; their number)."""
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            out = write()
            times.append(time.perf_counter() - start)
            shutil.rmtree(out)
        out = write()
        h, files = hashlib.sha256(), sorted(out.rglob("*.parquet"))
        for f in files:
            h.update(str(f.relative_to(out)).encode() + f.read_bytes())
        shutil.rmtree(out)
        return min(times), h.hexdigest(), len(files)

    try:
        t_now, now, files = timed()
        columnar_write, columnar_metrics = streetfiles._write, columnar.write_street_metrics
        streetfiles._write, columnar.write_street_metrics = from_pandas, metrics_before
        try:
            t_then, then, _ = timed()
        finally:
            streetfiles._write, columnar.write_street_metrics = columnar_write, columnar_metrics
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"3. write_dataset of the default district ({files:,} files): {t_now:.2f} s, "
          f"before {t_then:.2f} s: {t_then / t_now:.2f}x; files {'identical' if now == then else 'DIFFERENT'}")


def bench_design(measured, catalog, repeat: int) -> None:
    from sklearn.feature_extraction import DictVectorizer

    X, _ = training_frame(measured, catalog)

    def vectorized():  # the way before
        vec = DictVectorizer(sort=True)
        matrix = vec.fit_transform([one_hot(r) for r in feature_frame(X).itertuples(index=False)])
        return vec.get_feature_names_out().tolist(), matrix

    def exact(built) -> tuple:
        names, matrix = built
        return names, type(matrix), *((a.dtype, a.tobytes()) for a in (matrix.data, matrix.indices, matrix.indptr))

    same = exact(one_hot_design(X)) == exact(vectorized())
    t_now, t_then = best(repeat, lambda: one_hot_design(X)), best(repeat, vectorized)
    print(f"4. the one-hot design of {len(X):,} outcomes: {t_now:.3f} s, through DictVectorizer {t_then:.3f} s: "
          f"{t_then / t_now:.1f}x; matrices {'identical' if same else 'DIFFERENT'}")


class RowByRow(policies.LearnedRanker):
    """The learned ranking as it was before ``predict_candidates``: a feature row, an evidence and an
    uncertainty lookup for every candidate."""

    def rank(self, need, resources):
        members = float(need.members or 0)
        shortfall = need.shortfall if need.shortfall is not None else float("nan")
        rows = [Row(r.id, r.kind, need.topic, r.topics[0] == need.topic, need.branch_type, need.street, members,
                    shortfall, rep, kind_rep, site, done, need.weakness_months)
                for r, rep, kind_rep, site, done in zip(resources, repeats(need, resources),
                                                        kind_repeats(need, resources), on_site_flags(resources),
                                                        adopted_repeats(need, resources), strict=True)]
        effect, adopt = self.model.predict_rows(rows)
        names = (self.topic_names or {}).get(need.topic, (need.topic, need.topic))
        out = []
        for r, e, p in zip(resources, effect, adopt, strict=True):
            n = self.model.evidence(r.id, need.topic)
            zh, en = policies._note(names, e, n)
            sd = p * self.model.uncertainty(r.id)
            out.append(Scored(r, round(p * e, 6), (("adoption", round(p, 4)), ("effect", round(e, 4)),
                                                   ("evidence", float(n)), ("sd", round(sd, 6))), zh, en))
        return out


def bench_ranking(result, measured, ruleset, catalog, repeat: int) -> None:
    model = fit(measured, catalog).model
    needs = []
    for _, need, _ in contexts(measured, ruleset, served_from_log(result.log)):
        if need.recent_first:  # as ope.distribution and the Prescriber tell the ranker
            need = dataclasses.replace(need, recent_kinds=recent_kinds(catalog, need.recent_first))
        needs.append((need, suitable(catalog, need)))

    def ranked(ranker) -> list:
        return [ranker.rank(need, pool) for need, pool in needs]

    now, then = policies.LearnedRanker(model), RowByRow(model)
    same = ranked(now) == ranked(then)
    t_now, t_then = best(repeat, lambda: ranked(now)), best(repeat, lambda: ranked(then))
    candidates = sum(len(pool) for _, pool in needs)
    print(f"5. learned ranking of {len(needs):,} decisions ({candidates:,} candidates): {t_now:.2f} s "
          f"({t_now / len(needs) * 1e3:.2f} ms a decision), row by row {t_then:.2f} s: {t_then / t_now:.1f}x; "
          f"rankings {'identical' if same else 'DIFFERENT'}")


def bench_overview_rows(dataset, ruleset, repeat: int) -> None:
    from diagnosis_service.engine import make_evaluator
    from diagnosis_service.pipeline.overview_rows import branch_month_rows, month_rows

    months = [p for p in dataset.periods() if p.startswith("2025")]
    profiles = dataset.branches[["name", "street", "type"]].to_dict("index")
    out: dict[str, list] = {}

    def rows(way: str):
        evaluator = make_evaluator(dataset, ruleset, "vectorized")  # its own caches, as each run of overview
        out[way] = [repr(row) for period in months for row in (
            month_rows(evaluator, period, profiles) if way == "now" else
            branch_month_rows(period, *evaluator.run(period), profiles))]

    t_now, t_then = best(repeat, lambda: rows("now")), best(repeat, lambda: rows("then"))
    print(f"6. the overview's rows of {len(months)} months ({len(out['now']):,} rows, {len(dataset.members):,} "
          f"members a month): {t_now:.2f} s ({t_now / len(months) * 1000:.0f} ms a month), with a result object "
          f"a member before {t_then:.2f} s: {t_then / t_now:.1f}x; rows "
          f"{'identical' if out['now'] == out['then'] else 'DIFFERENT'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--branches", type=int, default=200, help="the closed loop's district (1)")
    parser.add_argument("--months", type=int, default=8)
    parser.add_argument("--only", default="1,2,3,4,5,6", help="the paths to time, by number (default: all)")
    args = parser.parse_args()
    only = {int(n) for n in args.only.split(",")}
    ruleset = load_ruleset(REPO / "rules")
    catalog = load_catalog(REPO / "resources_catalog", ruleset.registry)
    if only & {1, 4, 5}:
        print(f"a closed loop of {args.branches} branches, {args.months} months served by the exploring prior "
              "(not timed) ...", flush=True)
        result = run_loop(LoopSpec(policy="prior", history=0, history_epsilon=0.5, epsilon=0.5, months=args.months,
                                   branches=args.branches, members=args.branches * 15), ruleset, catalog)
    if 1 in only:
        bench_outcomes(result, ruleset, args.repeat)
    if only & {4, 5}:
        measured = measurable(result.log, result.branch_metrics, ruleset)
    if 4 in only:
        bench_design(measured, catalog, args.repeat)
    if 5 in only:
        bench_ranking(result, measured, ruleset, catalog, args.repeat)
    if only & {2, 3, 6}:
        ensure_data(ruleset)
        dataset = load_dir(DATA, ruleset.registry)
    if 2 in only:
        bench_numbers(dataset, ruleset, args.repeat)
    if 3 in only:
        bench_write(dataset, ruleset, args.repeat)
    if 6 in only:
        bench_overview_rows(dataset, ruleset, args.repeat)


if __name__ == "__main__":
    main()
