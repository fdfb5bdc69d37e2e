"""The command line's report and the secretary's page come from the same data: the one builder, fed
from a month diagnosed in memory (CLI) and from the store (service), says the same for every branch."""

import pytest

from diagnosis_service.cli import main
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.pipeline import report_data
from diagnosis_service.pipeline.month import diagnose_month
from diagnosis_service.pipeline.snapshot import Snapshot
from diagnosis_service.reports.branch import document
from diagnosis_service.reports.render import render_html
from tests.support.paths import CATALOG, RULES


@pytest.fixture(scope="module")
def cli_month(service):
    snapshot = Snapshot.from_dirs(RULES, CATALOG)
    dataset = CsvDir(service.data_dir).load(snapshot.ruleset.registry, "2025-12")
    return snapshot, diagnose_month(dataset, snapshot, "2025-12", per_weakness=5)


def test_report_data_from_the_month_equals_the_one_from_the_store(service, cli_month):
    snapshot, month = cli_month
    rt = service.app.extensions["diagnosis"]
    weak = [b.id for b in month.branches if b.weaknesses]
    assert len(weak) >= 3
    for branch_id in [b.id for b in month.branches]:
        from_cli = report_data.build(report_data.from_month(month, branch_id), snapshot)
        with rt.engine.begin() as conn:  # serves (and logs) the branch's first list, as the page does
            from_store = report_data.build(report_data.from_store(rt.snapshot(), conn, branch_id, "2025-12", "t"),
                                           rt.snapshot())
        assert from_store == from_cli, branch_id
        assert [t for t, _ in from_cli.prescriptions] == from_cli.result.weaknesses
        if branch_id in weak:
            assert any(views for _, views in from_cli.prescriptions)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_is_the_command_lines_html_report(service, runner, lang):
    """Byte for byte: GET /branches/{id}/report and `report --format html` for the same branch and month."""
    for branch_id in ("B00002", "B00007"):
        page = service.client.get(f"/branches/{branch_id}/report?period=2025-12&lang={lang}",
                                  headers=service.h("admin"))
        assert page.status_code == 200
        cli = runner.invoke(main, ["report", "--data", str(service.data_dir), "--period", "2025-12", "--branch",
                                   branch_id, "--format", "html", "--lang", lang])
        assert cli.exit_code == 0, cli.output
        assert page.get_data(as_text=True) == cli.stdout.rstrip("\n") + "\n"


def test_the_document_renders_what_the_data_says(cli_month):
    snapshot, month = cli_month
    b = next(b for b in month.branches if b.weaknesses)
    data = report_data.build(report_data.from_month(month, b.id), snapshot)
    html = render_html(document(data, snapshot.ruleset.registry, "zh"))
    assert f"lamp-{b.lamp}" in html and data.info["name"] in html
    for item in data.findings:
        assert item["finding"].message_zh in html
