"""Unit tests for rule files, in the manner of ``promtool test rules``.

A test file (``rules/tests/*.yaml``) gives small input series and the expected lamps and findings:

    defaults:                    # values of every row unless a series says otherwise
      member: {dues_paid: 1}
    tests:
      - name: six unpaid months light the red lamp
        period: 2025-06
        branches:
          B1: {type: village}
        members:
          M1:
            branch: B1
            series: {dues_paid: "0 0 0 0 0 0"}   # consecutive months ending at `period`
        expect:
          members:
            M1: {lamp: red, findings: [member_dues_unpaid_6_months]}

Series tokens: a number; ``_`` for a missing value (an empty cell); ``x`` for a month with no row
at all. Expectations per subject: ``lamp``, ``findings`` (the exact set of rule ids),
``weaknesses`` (ordered), ``vanguard_points``, ``vanguard_points_ytd`` and ``values`` (derived
indicators, e.g. ``consecutive_unpaid_months: 6``). Subjects not named under ``expect`` are not checked.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..data.csvdir import validate_metrics
from ..data.model import Dataset
from ..data.validate import Problems
from ..engine.findings import clean_number
from ..errors import InputError, Problem, RuleError, did_you_mean
from ..periods import parse_period, period_str
from ..rules import load_ruleset
from ..rules.model import RuleSet
from ..rules.yamlsafe import Located, load_file, load_text, misnamed_yaml
from .month import diagnose_month
from .snapshot import Snapshot

TEST_KEYS = ("name", "period", "branches", "members", "expect")
LAMPS = ("green", "yellow", "red")
EXPECT_KEYS = ("lamp", "findings", "weaknesses", "vanguard_points", "vanguard_points_ytd", "values")


@dataclass
class CaseResult:
    file: str
    name: str
    line: int | None
    passed: bool
    diff: str = ""
    error: str = ""


@dataclass
class RuleTestReport:
    results: list[CaseResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return sum(not r.passed for r in self.results) + len(self.problems)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and bool(self.results)


SHARED_DEFAULTS = "defaults.yaml"


def find_test_files(rules_dir: Path) -> list[Path]:
    return sorted(p for p in (Path(rules_dir) / "tests").glob("*.yaml") if p.name != SHARED_DEFAULTS)


def _defaults_doc(doc: Located, report: RuleTestReport) -> dict:
    """Row defaults shared by the test files of a directory (tests/defaults.yaml)."""
    if not isinstance(doc.data, dict) or set(doc.data) - {"branch", "member"}:
        report.problems.append(doc.problem((), "defaults.yaml maps 'branch' and 'member' to indicator values"))
        return {}
    return doc.data


def _load(load, report: RuleTestReport) -> Located | None:
    try:
        return load()
    except RuleError as exc:
        report.problems.extend(exc.problems)
        return None


def run_tests(rules_dir: Path, files: list[Path] | None = None, ruleset: RuleSet | None = None) -> RuleTestReport:
    """Run rule test files against the rules of ``rules_dir``; never raises for a bad test file."""
    ruleset = ruleset or load_ruleset(rules_dir)
    report = RuleTestReport()
    shared: dict[Path, dict] = {}
    if files is None and (Path(rules_dir) / "tests").is_dir():
        report.problems.extend(misnamed_yaml(Path(rules_dir) / "tests", "rule test files"))
    for path in files if files is not None else find_test_files(rules_dir):
        path = Path(path)
        if path.name == SHARED_DEFAULTS:  # named on the command line: it holds no tests of its own
            report.problems.append(Problem(f"{SHARED_DEFAULTS} holds the row defaults the test files beside it "
                                           "share, not tests", file=str(path),
                                           suggestion="name a test file (e.g. tests/member_lamps_test.yaml), or "
                                                      "none to run every test file"))
            continue
        if path.parent not in shared:
            # A test file named on the command line from elsewhere (a copy being edited) takes the rules'
            # shared defaults when its own directory has none: its rows would miss them otherwise.
            defaults = path.parent / SHARED_DEFAULTS
            if not defaults.is_file():
                defaults = Path(rules_dir) / "tests" / SHARED_DEFAULTS
            doc = _load(lambda d=defaults: load_file(d), report) if defaults.is_file() else None
            shared[path.parent] = _defaults_doc(doc, report) if doc is not None else {}
        doc = _load(lambda p=path: load_file(p), report)
        if doc is not None:
            _run_file(doc, ruleset, report, shared[path.parent])
    return report


def run_texts(texts: Mapping[str, str], ruleset: RuleSet) -> RuleTestReport:
    """Run rule tests given as text (``tests/NAME.yaml`` -> YAML, as a rule-set version holds them;
    ``tests/defaults.yaml`` is their shared defaults) against ``ruleset``; never raises."""
    report = RuleTestReport()
    tests = {name: text for name, text in texts.items() if name.startswith("tests/")}
    shared: dict = {}
    defaults = f"tests/{SHARED_DEFAULTS}"
    if defaults in tests:
        doc = _load(lambda: load_text(tests[defaults], defaults), report)
        shared = _defaults_doc(doc, report) if doc is not None else {}
    for name in sorted(tests):
        if name != defaults:
            doc = _load(lambda n=name: load_text(tests[n], n), report)
            if doc is not None:
                _run_file(doc, ruleset, report, shared)
    return report


def _run_file(doc: Located, ruleset: RuleSet, report: RuleTestReport, shared: dict) -> None:
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        report.problems.append(doc.problem((), "a rule test file needs a 'tests' list"))
        return
    for key in data:
        if key not in ("tests", "defaults", "description"):
            report.problems.append(doc.problem((key,), f"unknown key '{key}' in a rule test file", key=True))
    own = data.get("defaults") or {}
    if not isinstance(own, dict):
        report.problems.append(doc.problem(("defaults",), "defaults maps 'branch' and 'member' to indicator values"))
        return
    defaults = {s: {**(shared.get(s) or {}), **(own.get(s) or {})} for s in ("branch", "member")}
    for i, case in enumerate(data["tests"]):
        path = ("tests", i)
        name = case.get("name", f"test {i + 1}") if isinstance(case, dict) else f"test {i + 1}"
        line = doc.where(path)[0]
        try:
            result = _run_case(doc, path, case, defaults, ruleset)
        except (InputError, RuleError) as exc:
            report.results.append(CaseResult(doc.file, str(name), line, False,
                                             error="\n".join(str(p) for p in exc.problems)))
            continue
        report.results.append(CaseResult(doc.file, str(name), line, not result, diff=result))


def _bad(doc: Located, path: tuple, message: str, *, key: bool = False, suggestion: str | None = None) -> InputError:
    return InputError(doc.problem(path, message, key=key, suggestion=suggestion))


def _series(doc: Located, path: tuple, text: Any) -> list[str]:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return [str(text)]
    if not isinstance(text, str) or not text.split():
        raise _bad(doc, path, "a series is a string of space-separated values, _ (missing) or x (no row)")
    for tok in text.split():
        if tok not in ("_", "x"):
            try:
                float(tok)
            except ValueError:
                raise _bad(doc, path, f"bad value {tok!r} in a series",
                           suggestion="a number, _ for a missing value or x for a month with no row") from None
    return text.split()


def _rows(doc: Located, path: tuple, subject: str, sid: str, spec: dict, defaults: dict, end: int,
          key: str, reported: list[str]) -> list[dict]:
    series = spec.get("series") or {}
    if not isinstance(series, dict):
        raise _bad(doc, path + ("series",), "series must map indicator ids to value strings")
    for ind in series:
        if ind not in reported:  # said where it is written, not at the test's first line
            raise _bad(doc, path + ("series", ind), f"unknown {subject} indicator '{ind}' in a series", key=True,
                       suggestion=did_you_mean(str(ind), reported) or "a reported indicator of the registry")
    tokens = {ind: _series(doc, path + ("series", ind), text) for ind, text in series.items()}
    months = max([len(t) for t in tokens.values()] + [1])
    rows = []
    for k in range(months):
        pidx = end - (months - 1 - k)
        row: dict[str, Any] = {"period": period_str(pidx), key: sid}
        row.update(defaults)
        skip = False
        for ind, toks in tokens.items():
            offset = months - len(toks)
            if k < offset:
                continue
            tok = toks[k - offset]
            if tok == "x":
                skip = True
            row[ind] = np.nan if tok == "_" else tok
        if not skip:
            rows.append(row)
    return rows


def _dataset(doc: Located, path: tuple, case: dict, defaults: dict, ruleset: RuleSet) -> Dataset:
    period = case.get("period")
    try:
        end = parse_period(str(period))
    except ValueError as exc:
        raise _bad(doc, path + ("period",), str(exc)) from None
    registry = ruleset.registry
    branches_spec = case.get("branches") or {}
    members_spec = case.get("members") or {}
    if not isinstance(branches_spec, dict) or not isinstance(members_spec, dict):
        raise _bad(doc, path, "branches and members map ids to their specs")
    branches = []
    rows: dict[str, list[dict]] = {"branch": [], "member": []}
    reported = {subject: [i.id for i in registry.reported(subject)] for subject in ("branch", "member")}
    for bid, spec in branches_spec.items():
        spec = spec or {}
        btype = spec.get("type", "community")
        if btype not in registry.branch_types:
            raise _bad(doc, path + ("branches", bid, "type"), f"unknown branch type {btype!r}")
        branches.append((str(bid), str(bid), btype, spec.get("street", "")))
        rows["branch"] += _rows(doc, path + ("branches", bid), "branch", str(bid), spec,
                                dict(defaults.get("branch") or {}), end, "branch_id", reported["branch"])
    members = []
    for mid, spec in members_spec.items():
        spec = spec or {}
        bid = spec.get("branch")
        if str(bid) not in branches_spec:
            raise _bad(doc, path + ("members", mid), f"member {mid}: branch {bid!r} is not listed under branches")
        members.append((str(mid), str(bid), str(mid)))
        rows["member"] += _rows(doc, path + ("members", mid), "member", str(mid), spec,
                                dict(defaults.get("member") or {}), end, "member_id", reported["member"])
    frames = {}
    problems = Problems()
    for subject, key in (("branch", "branch_id"), ("member", "member_id")):
        reported = [i.id for i in registry.reported(subject)]
        frame = pd.DataFrame(rows[subject], columns=["period", key] + reported)
        extra = [c for r in rows[subject] for c in r if c not in frame.columns]
        if extra:
            raise _bad(doc, path, f"unknown {subject} indicator '{extra[0]}' in a series or defaults")
        frame[reported] = frame[reported].astype(object)
        line = doc.where(path)[0]
        frames[subject] = validate_metrics(frame, subject, registry, doc.file, lambda pos, ln=line: (doc.file, ln),
                                           problems, None)
    if problems:
        raise InputError(problems.final())
    return Dataset(
        branches=pd.DataFrame(branches, columns=["branch_id", "name", "type", "street"]).set_index("branch_id"),
        members=pd.DataFrame(members, columns=["member_id", "branch_id", "name"]).set_index("member_id"),
        branch_metrics=frames["branch"], member_metrics=frames["member"], source=doc.file)


def _run_case(doc: Located, path: tuple, case: Any, defaults: dict, ruleset: RuleSet) -> str:
    """Returns '' when the case passes, else a diff of expected against actual."""
    if not isinstance(case, dict):
        raise _bad(doc, path, "a test must be a mapping with name, period, branches, members, expect")
    for key in case:
        if key not in TEST_KEYS:
            raise _bad(doc, path + (key,), f"unknown key '{key}' in a test (allowed: {', '.join(TEST_KEYS)})")
    dataset = _dataset(doc, path, case, defaults, ruleset)
    diag = diagnose_month(dataset, Snapshot(ruleset), str(case["period"]))
    expect = case.get("expect") or {}
    if not isinstance(expect, dict) or not expect:
        raise _bad(doc, path + ("expect",), "a test needs 'expect' with branches and/or members")
    got_by = {("branch", r.id): r for r in diag.branches} | {("member", r.id): r for r in diag.members}
    pidx = parse_period(diag.period)
    expected_doc, actual_doc = {}, {}
    for group, subject in (("branches", "branch"), ("members", "member")):
        for sid, want in (expect.get(group) or {}).items():
            if not isinstance(want, dict):
                raise _bad(doc, path + ("expect", group, sid), "expectations must be a mapping")
            for key in want:
                if key not in EXPECT_KEYS:
                    raise _bad(doc, path + ("expect", group, sid, key),
                               f"unknown expectation '{key}' (allowed: {', '.join(EXPECT_KEYS)})")
            _check_names(doc, path + ("expect", group, sid), want, subject, ruleset)
            for ind in want.get("values") or {} if isinstance(want.get("values"), dict) else ():
                if diag.evaluator.column(subject, ind, pidx) is None:  # a typo, not a value that differs
                    known = ruleset.registry.indicators[subject]
                    raise _bad(doc, path + ("expect", group, sid, "values", ind), f"unknown {subject} indicator "
                               f"'{ind}' in values", key=True, suggestion=did_you_mean(str(ind), known)
                               or "an indicator of the registry, reported or derived")
            got = got_by.get((subject, str(sid)))
            label = f"{subject} {sid}"
            expected_doc[label] = _normalise(want)
            actual_doc[label] = _actual(got, want, diag, subject) if got else "no result (no data in this period)"
    if expected_doc == actual_doc:
        return ""
    a = yaml.safe_dump(expected_doc, allow_unicode=True, sort_keys=True).splitlines()
    b = yaml.safe_dump(actual_doc, allow_unicode=True, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "expected", "actual", lineterm=""))


def _check_names(doc: Located, path: tuple, want: dict, subject: str, ruleset: RuleSet) -> None:
    """A lamp, rule id or topic that does not exist is a mistake in the test, told where it is written with
    what it may have meant, not a difference from what the rules gave."""
    if "lamp" in want and want["lamp"] not in LAMPS:
        raise _bad(doc, path + ("lamp",), f"unknown lamp {want['lamp']!r}",
                   suggestion=did_you_mean(str(want["lamp"]), LAMPS) or f"one of {', '.join(LAMPS)}")
    names = {"findings": ([r.id for r in ruleset.for_subject(subject)], f"{subject} rule id"),
             "weaknesses": (list(ruleset.registry.topics), "topic")}
    for key, (known, what) in names.items():
        items = want.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise _bad(doc, path + (key,), f"{key} is a list of {what}s (empty for none)")
        for i, item in enumerate(items):
            if str(item) not in known:
                other = ruleset.rule(str(item)) if key == "findings" else None
                hint = (f"'{item}' is a {other.subject} rule; these are a {subject}'s findings" if other
                        else did_you_mean(str(item), known) or f"a {what} of the rules")
                raise _bad(doc, path + (key, i), f"unknown {what} {item!r} in {key}", suggestion=hint)


def _normalise(want: dict) -> dict:
    out = {}
    for key, value in want.items():
        if key == "findings":
            out[key] = sorted(str(v) for v in value or [])
        elif key == "weaknesses":
            out[key] = [str(v) for v in value or []]
        elif key == "values":
            out[key] = {k: clean_number(v) for k, v in (value or {}).items()}
        elif key in ("vanguard_points", "vanguard_points_ytd"):
            out[key] = clean_number(value)
        else:
            out[key] = value
    return out


def _actual(got, want: dict, diag, subject: str) -> dict:
    out: dict[str, Any] = {}
    for key in want:
        if key == "lamp":
            out[key] = got.lamp
        elif key == "findings":
            out[key] = sorted(f.rule for f in got.findings)
        elif key == "weaknesses":
            out[key] = list(got.weaknesses)
        elif key in ("vanguard_points", "vanguard_points_ytd"):
            out[key] = clean_number(getattr(got, key))
        elif key == "values":
            pidx = parse_period(diag.period)
            values = {}
            for k in want.get("values") or {}:
                column = diag.evaluator.column(subject, k, pidx)
                values[k] = "unknown indicator" if column is None else clean_number(column.get(got.id))
            out[key] = values
    return out


def format_report(report: RuleTestReport, lang: str = "zh") -> str:
    """The report as `rules test` prints it: a line per test (通过/失败 or PASS/FAIL, its file and line, its
    name), a failure's error and diff indented under it, then the counts; Chinese first, English with
    ``lang="en"`` (the tests' names and the problems as written)."""
    zh = lang == "zh"
    lines = []
    for problem in report.problems:
        lines.append(f"{'错误' if zh else 'ERROR'} {problem}")
    for r in report.results:
        where = f"{r.file}:{r.line}" if r.line else r.file
        if r.passed:
            lines.append(f"{'通过' if zh else 'PASS'} {where}: {r.name}")
        else:
            lines.append(f"{'失败' if zh else 'FAIL'} {where}: {r.name}")
            if r.error:
                lines += ["  " + x for x in r.error.splitlines()]
            if r.diff:
                diff = r.diff.splitlines()
                if zh:  # the headers a reader reads; the lines themselves are the YAML as written
                    diff = [{"--- expected": "--- 预期", "+++ actual": "+++ 实际"}.get(x, x) for x in diff]
                lines += ["  " + x for x in diff]
    lines.append(f"{report.passed} 个通过，{report.failed} 个失败" if zh else
                 f"{report.passed} passed, {report.failed} failed")
    return "\n".join(lines)
