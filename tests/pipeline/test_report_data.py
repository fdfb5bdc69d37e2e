"""The command line's report and the secretary's page come from the same data: the one builder, fed
from a month diagnosed in memory (CLI) and from the store (service), says the same for every branch;
the page is the command line's HTML report plus its controls."""

import re

import pytest

from diagnosis_service.cli import main
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.periods import months_before
from diagnosis_service.pipeline import report_data
from diagnosis_service.pipeline.month import diagnose_month
from diagnosis_service.pipeline.snapshot import Snapshot
from diagnosis_service.remedies.plan import PLAN_SIZE, title_key
from diagnosis_service.reports.branch import document
from diagnosis_service.reports.render import render_html
from tests.conftest import BACKENDS, _backend
from tests.support.paths import CATALOG, RULES

MONTHS = tuple(months_before("2025-12", 7))  # the six months of the strip, and the one before them


@pytest.fixture(scope="module", params=BACKENDS)
def stored(request, tmp_path_factory):
    """A service with the last seven months diagnosed, as the page's six-month strip needs."""
    from tests.support.service import make_service

    backend = _backend(request)
    # The same ranking on both sides: the command line's report ranks with the plain prior, and a service
    # without a model explores unless told not to (DIAGNOSIS_PRIOR_EXPLORATION).
    svc = make_service(backend, tmp_path_factory.mktemp(f"history-{backend}"), diagnose=MONTHS,
                       settings={"prior_exploration": 0})
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def cli_month(stored):
    snapshot = Snapshot.from_dirs(RULES, CATALOG)
    dataset = CsvDir(stored.data_dir).load(snapshot.ruleset.registry, "2025-12")
    return snapshot, diagnose_month(dataset, snapshot, "2025-12", per_weakness=5)


def test_report_data_from_the_month_equals_the_one_from_the_store(stored, cli_month):
    snapshot, month = cli_month
    rt = stored.app.extensions["diagnosis"]
    for branch_id in [b.id for b in month.branches]:
        from_cli = report_data.build(report_data.from_month(month, branch_id), snapshot)
        with rt.engine.begin() as conn:  # serves (and logs) the branch's first list, as the page does
            assert report_data.needs_serving(conn, branch_id, "2025-12")
            report_data.ensure_served(rt.snapshot(), conn, branch_id, "2025-12", "t")
            assert not report_data.needs_serving(conn, branch_id, "2025-12")
        with rt.engine.connect() as conn:
            from_store = report_data.build(report_data.from_store(rt.snapshot(), conn, branch_id, "2025-12"),
                                           rt.snapshot())
        # The store's plan knows the logged prescriptions (the page's buttons answer them); the rest is equal.
        assert all(item.prescription_ids for item in from_store.plan + from_store.more)
        for item in from_store.plan + from_store.more:
            item.prescription_ids = []
        assert from_store == from_cli, branch_id
        assert [line.period for line in from_cli.history] == list(MONTHS[1:])


def test_the_data_keeps_the_reports_promises(stored, cli_month):
    """The plan: three at most, no subject twice, only the branch's weaknesses, and each weakness with a
    prescription answered when there are three or fewer; the lists name every member they list."""
    snapshot, month = cli_month
    for b in month.branches:
        data = report_data.build(report_data.from_month(month, b.id), snapshot)
        keys = [title_key(i.kind, i.title_zh) for i in data.plan + data.more]
        assert len(data.plan) <= PLAN_SIZE and len(keys) == len(set(keys)), b.id
        assert bool(data.plan) == bool(b.weaknesses)
        covered = {t for item in data.plan for t in item.covers}
        assert covered <= set(b.weaknesses)
        if len(b.weaknesses) <= PLAN_SIZE:
            assert covered == set(b.weaknesses), b.id
        listed = [m for m, _ in data.dues_unpaid] + [m for m, _ in data.absent] + [m.id for m in data.flagged]
        assert all(data.names.get(m) for m in listed), b.id
        assert all(n >= 2 for _, n in data.absent) and all(n >= 1 for _, n in data.dues_unpaid)
        assert [m.lamp for m in data.flagged] == sorted((m.lamp for m in data.flagged), key=["red", "yellow"].index)
        # The lamp's reasons are lamp rules at the lamp's colour: never a reason for another colour.
        assert all(f.severity == b.lamp for f in data.lamp_reasons) and (b.lamp == "green") == (not data.lamp_reasons)


CONTROLS = [re.compile(r'<a class="skip" href="#main">[^<]*</a>\n<nav class="bar".*?</nav>\n<script>.*?</script>\n', re.S),
            re.compile(r'<div class="feedback".*?</div>', re.S)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_is_the_command_lines_html_report_plus_its_controls(stored, runner, lang):
    """GET /branches/{id}/report without its navigation bar and feedback forms is, byte for byte, what
    `report --format html` writes for the same branch and month."""
    for branch_id in ("B00002", "B00007"):
        page = stored.client.get(f"/branches/{branch_id}/report?period=2025-12&lang={lang}",
                                 headers=stored.h("platform"))
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert html.count('<div class="feedback"') == len(re.findall(r'<li data-resource="', html)) >= 1
        for pattern in CONTROLS:
            html = pattern.sub("", html)
        cli = runner.invoke(main, ["report", "--data", str(stored.data_dir), "--period", "2025-12", "--branch",
                                   branch_id, "--format", "html", "--lang", lang])
        assert cli.exit_code == 0, cli.output
        assert html == cli.stdout.rstrip("\n") + "\n"


def test_the_document_renders_what_the_data_says(cli_month):
    snapshot, month = cli_month
    b = next(b for b in month.branches if b.weaknesses)
    data = report_data.build(report_data.from_month(month, b.id), snapshot)
    html = render_html(document(data, snapshot.ruleset.registry, "zh"))
    assert f"lamp-{b.lamp}" in html and data.info["name"] in html
    for item in data.findings:
        assert item["finding"].message_zh in html
    for item in data.plan:
        assert item.advice_zh.replace('"', "&quot;") in html or item.advice_zh in html


def test_each_finding_says_what_it_was_compared_with_and_a_share_in_percent_says_so(cli_month):
    """Beside each finding, the value its rule compared the branch with, named (the district's average,
    80% of the branch type's, a quantile, a standard), with the district's average beside any other:
    a type's average once showed only the district's, lower than the branch's own value."""
    from diagnosis_service.reports.labels import fmt
    from diagnosis_service.reports.render import render_text

    snapshot, month = cli_month
    seen: dict[str, int] = {}
    for b in month.branches:
        data = report_data.build(report_data.from_month(month, b.id), snapshot)
        text = render_text(document(data, snapshot.ruleset.registry, "zh"))
        for item in data.findings:
            f, mean, compare = item["finding"], item["district_mean"], item["compared"]
            pct = "%" if item["indicator"].unit == "percent" else ""
            value = f"本支部 {fmt(f.value)}{pct}" if f.value is not None else "本支部 —"
            and_mean = f"（全区平均 {fmt(mean)}{pct}）" if mean is not None else ""
            rule = snapshot.ruleset.rule(f.rule)
            if compare is None:
                assert rule is None or rule.primary.change or rule.primary.ref.kind == "const" or f.reference is None
                line = f"{value}、全区平均：{fmt(mean)}{pct}" if mean is not None else f"{value}、—"
                kind = "district"
            elif compare.ref.kind == "const":
                assert compare.op in ("lt", "le", "gt", "ge")
                words = {"lt": "不低于", "le": "高于", "gt": "不超过", "ge": "低于"}[compare.op]
                line = f"{value}、标准：{words} {fmt(compare.ref.value)}{pct}{and_mean}"
                kind = "standard"
            else:
                ref = compare.ref
                assert compare is rule.primary and f.reference is not None
                peers = {"district": "全区", "type": "同类支部", "size": "同规模支部"}[ref.peers]
                basis = f"{peers}平均" if ref.kind == "mean" else f"{peers}第{fmt(ref.q * 100)}百分位"
                if ref.scale != 1:
                    basis += f"的{fmt(ref.scale * 100)}%"
                own = ref.kind == "mean" and ref.peers == "district" and ref.scale == 1
                line = f"{value}、{basis}：{fmt(f.reference)}{pct}{'' if own else and_mean}"
                kind = f"{ref.kind} {ref.peers}"
            assert line in text, (b.id, f.rule, line)
            seen[kind] = seen.get(kind, 0) + 1
    # The default rules compare with each of these somewhere in the default district's month.
    assert {"district", "standard", "mean type", "mean size", "quantile size"} <= set(seen), seen


def test_the_comparison_reads_in_english_too(cli_month):
    from diagnosis_service.reports.render import render_text

    snapshot, month = cli_month
    texts = [render_text(document(report_data.build(report_data.from_month(month, b.id), snapshot),
                                  snapshot.ruleset.registry, "en")) for b in month.branches if b.weaknesses]
    text = "\n".join(texts)
    assert "80% of the average of its type: " in text and "(district average " in text
    assert "20th percentile of its size band: " in text
    assert "standard: at least 100%" in text
    assert not any("\u4e00" <= ch <= "\u9fff" for line in text.splitlines() if line.startswith("      this branch")
                   for ch in line)




def test_a_weakness_after_a_month_not_diagnosed_is_neither_new_nor_continuing():
    from diagnosis_service.pipeline.report_data import _history

    months = [("2025-06", {"lamp": "red", "weaknesses": ["dues"]}), ("2025-07", None),
              ("2025-08", {"lamp": "red", "weaknesses": ["dues", "org_life"]}),
              ("2025-09", {"lamp": "yellow", "weaknesses": ["dues", "openness"]})]
    lines = {line.period: line for line in _history(months)}
    assert lines["2025-08"].weaknesses == [("dues", ""), ("org_life", "")]  # July says nothing of them
    assert lines["2025-09"].weaknesses == [("dues", "continuing"), ("openness", "new")]
    assert lines["2025-09"].resolved == ["org_life"] and lines["2025-07"].lamp is None
