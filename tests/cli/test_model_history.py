"""`model history`: the promotion verdicts for a person (Chinese first, English with --lang en) or a script
(--json, as GET /v1/model's ``verdicts``)."""

from __future__ import annotations

import json

from diagnosis_service.cli import main
from diagnosis_service.learning.verdict_log import read_verdicts
from tests.support.verdicts import record


def test_the_verdicts_newest_first_for_a_person_and_a_script(runner, tmp_path):
    models = tmp_path / "models"
    record(models, "refused", "learned:aaa", "2025-11-01T00:00:00Z", difference=-0.0123, active="learned:000",
           reason="estimated worse", reason_zh="估计更差")
    record(models, "promoted", "learned:bbb", "2025-12-01T00:00:00Z", name="learned:ccc", forced=False,
           trial_ended="learned:aaa")
    en = runner.invoke(main, ["model", "history", "--models", str(models), "--lang", "en"])
    assert en.exit_code == 0, en.output
    promoted, refused = en.stdout.splitlines()
    assert promoted.startswith("2025-12-01T00:00:00Z  promoted  learned:ccc (the refit of learned:bbb) against prior: "
                               "+0.0200 [+0.0000, +0.0400] 90%; 2025-11 to 2025-12, 240 decisions, effective sample "
                               "9.6 (2 months cross-fitted); better with confidence; the trial of learned:aaa is over")
    assert refused.startswith("2025-11-01T00:00:00Z  refused  learned:aaa against learned:000: -0.0123") and \
        "estimated worse; by admin (command line)" in refused
    assert "2 verdicts recorded, the latest 2 shown" in en.stderr
    zh = runner.invoke(main, ["model", "history", "--models", str(models), "--limit", "1"])
    assert zh.exit_code == 0 and zh.stdout.count("\n") == 1
    assert "已启用  learned:ccc（learned:bbb 的重新拟合）" in zh.stdout and "有把握地更好" in zh.stdout
    assert "共 2 条裁决，显示最近 1 条" in zh.stderr
    script = runner.invoke(main, ["model", "history", "--models", str(models), "--json"])
    assert json.loads(script.stdout) == read_verdicts(models).as_dict()


def test_no_verdicts_yet_a_broken_line_and_a_directory_that_is_not_there(runner, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    empty = runner.invoke(main, ["model", "history", "--models", str(models), "--lang", "en"])
    assert empty.exit_code == 0 and empty.stdout == "" and "no verdict in" in empty.stderr
    (models / "promotions.jsonl").write_text("not json\n", encoding="utf-8")
    record(models, "on trial", "learned:aaa", "2025-11-01T00:00:00Z")
    noted = runner.invoke(main, ["model", "history", "--models", str(models), "--lang", "en"])
    assert noted.exit_code == 0 and "  on trial  learned:aaa against prior" in noted.stdout
    assert "note: promotions.jsonl line 1: not a JSON record" in noted.stderr
    missing = runner.invoke(main, ["model", "history", "--models", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
