"""Rule administration over HTTP: validate, preview, publish (or be refused whole), roll back."""

from tests.support.paths import RULES

LAMPS = (RULES / "member_lamps.yaml").read_text(encoding="utf-8")
TESTS = (RULES / "tests" / "member_lamps_test.yaml").read_text(encoding="utf-8")
ABSENT_3 = "when: {indicator: consecutive_absent_months, op: ge, value: 3}"
STRICTER = LAMPS.replace(ABSENT_3, "when: {indicator: consecutive_absent_months, op: ge, value: 1}")
# The rule's own test, updated with it (as an administrator would): absent 2 months is now yellow.
STRICTER_TESTS = TESTS.replace(
    "A2: {lamp: green, findings: [], values: {consecutive_absent_months: 2}}",
    "A2: {lamp: yellow, findings: [member_absent_3_months], values: {consecutive_absent_months: 2}}")
STRICTER_FILES = {"member_lamps.yaml": STRICTER, "tests/member_lamps_test.yaml": STRICTER_TESTS}


def yellow_members(svc) -> int:
    r = svc.client.get("/v1/lamps?period=2025-12&subject=member&color=yellow", headers=svc.h("admin"))
    return r.get_json()["total"]


def test_validate_reports_line_and_column(service):
    broken = LAMPS.replace("severity: yellow", "severity: orange", 1)
    r = service.client.post("/v1/rules/validate", json={"files": {"member_lamps.yaml": broken}},
                            headers=service.h("admin"))
    body = r.get_json()
    assert r.status_code == 200 and body["valid"] is False
    (err,) = body["errors"]
    line = next(k for k, text in enumerate(broken.splitlines(), start=1) if "severity: orange" in text)
    column = broken.splitlines()[line - 1].index("orange") + 1
    assert err["file"] == "member_lamps.yaml" and err["line"] == line and err["column"] == column
    assert err["rule_id"] == "member_dues_missed" and "orange" in err["message"]
    assert err["path"] == f"member_lamps.yaml:{line}:{column}"
    yaml_body = service.client.post("/v1/rules/validate?file=member_lamps.yaml", data=LAMPS,
                                    headers={**service.h("platform"), "Content-Type": "application/yaml"})
    assert yaml_body.get_json() == {"valid": True, "errors": []}
    syntax = service.client.post("/v1/rules/validate", json={"files": {"member_lamps.yaml": "rules: [\n"}},
                                 headers=service.h("admin")).get_json()
    assert syntax["valid"] is False and syntax["errors"][0]["line"] >= 1
    bad_name = service.client.post("/v1/rules/validate", json={"files": {"../x.yaml": "rules: []"}},
                                   headers=service.h("admin")).get_json()
    assert bad_name["valid"] is False and "bad rule file name" in bad_name["errors"][0]["message"]


def test_too_many_files_sent_are_said_as_the_bodys_files_not_the_servers_directory(service):
    rules_dir = str(service.app.extensions["diagnosis"].settings.rules_dir)
    files = {f"r{n:03d}.yaml": "rules: []\n" for n in range(300)}
    for method, path in (("post", "/v1/rules/validate"), ("post", "/v1/rules/preview"),
                         ("put", "/v1/rules")):
        r = getattr(service.client, method)(path, json={"files": files, "comment": "x", "period": "2025-12"},
                                             headers=service.h("admin"))
        assert "over the limit of 200" in r.get_data(as_text=True) and rules_dir not in r.get_data(as_text=True), path


def test_a_file_with_thousands_of_problems_gets_the_first_thousand_and_a_count(service):
    """60,000 unknown keys answered 60,000 errors (11 MB); now the first 1,000 and how many more."""
    many = LAMPS + "".join(f"k{n}: 1\n" for n in range(1500))
    body = service.client.post("/v1/rules/validate", json={"files": {"member_lamps.yaml": many}},
                               headers=service.h("admin")).get_json()
    assert body["valid"] is False and len(body["errors"]) == 1001
    assert all(e["file"] == "member_lamps.yaml" for e in body["errors"][:1000])
    assert body["errors"][-1]["message"] == "500 more problems not listed"
    refused = service.client.put("/v1/rules", json={"files": {"member_lamps.yaml": many}, "comment": "x"},
                                 headers=service.h("admin"))
    assert refused.status_code == 422 and refused.get_json()["detail"] == "1500 problems; see errors"
    assert len(refused.get_json()["errors"]) == 1001


def test_preview_says_who_would_change(service):
    r = service.client.post("/v1/rules/preview", json={"files": {"member_lamps.yaml": STRICTER}, "period": "2025-12"},
                            headers=service.h("admin"))
    body = r.get_json()
    assert r.status_code == 200 and body["changed"]["member"] > 0
    assert all(s["subject"] == "member" for s in body["subjects"])
    assert any(s["lamp_before"] == "green" and s["lamp_after"] == "yellow" for s in body["subjects"])
    assert "-    when: {indicator: consecutive_absent_months, op: ge, value: 3}" in body["diff"]
    rule = next(x for x in body["rules"] if x["rule"] == "member_absent_3_months")
    assert rule["after"] > rule["before"] and rule["severity"] == "yellow" and rule["subject"] == "member"
    # Nothing was published.
    assert service.client.get("/v1/rules", headers=service.h("admin")).get_json()["version"] == 1


def test_preview_counts_reminders_too(service):
    """An administrator sees how many branches a reminder would no longer remind before publishing."""
    weak = (RULES / "branch_weaknesses.yaml").read_text(encoding="utf-8")
    later = weak.replace("{indicator: months_left_in_year, op: ge, value: 1}",
                         "{indicator: months_left_in_year, op: ge, value: 2}")
    r = service.client.post("/v1/rules/preview", json={"files": {"branch_weaknesses.yaml": later}, "period": "2025-11"},
                            headers=service.h("admin"))
    body = r.get_json()
    assert r.status_code == 200
    by_rule = {x["rule"]: x for x in body["rules"]}
    assert by_rule["appraisal_due_year"]["after"] == 0 < by_rule["appraisal_due_year"]["before"]
    assert by_rule["appraisal_due_year"]["severity"] == "reminder"
    assert all(s["lamp_before"] == s["lamp_after"] for s in body["subjects"]), "a reminder never changes a lamp"


def test_publish_refuses_a_broken_set_whole_then_publishes_and_rolls_back(fresh_service):
    svc = fresh_service
    c, h = svc.client, svc.h
    yellow_before = yellow_members(svc)
    broken = {"member_lamps.yaml": LAMPS.replace("topic: dues", "topic: duess", 1),
              "extra.yaml": "version: 1\nrules: []\n"}
    r = c.put("/v1/rules", json={"files": broken, "comment": "typo"}, headers=h("admin"))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert any(e["file"] == "member_lamps.yaml" and "duess" in e["message"] for e in r.get_json()["errors"])
    assert c.get("/v1/rules", headers=h("admin")).get_json()["version"] == 1, "the old rules keep serving"
    assert len(c.get("/v1/rules/versions", headers=h("admin")).get_json()["versions"]) == 1
    # A good change: absent one month already lights a yellow lamp. Takes effect without a restart.
    r = c.put("/v1/rules", json={"files": STRICTER_FILES, "comment": "stricter attendance"}, headers=h("admin"))
    assert r.status_code == 201 and r.get_json()["version"] == 2 and r.get_json()["based_on"] == 1
    assert r.get_json()["same_rules"] is False
    assert c.post("/v1/diagnoses?wait=true", json={"period": "2025-12"}, headers=h("platform")).get_json()["rules_version"] == 2
    assert yellow_members(svc) > yellow_before
    versions = c.get("/v1/rules/versions", headers=h("platform")).get_json()["versions"]
    assert [v["version"] for v in versions] == [2, 1] and versions[0]["active"] and not versions[1]["active"]
    assert versions[0]["author"] == "admin:admin" and versions[0]["comment"] == "stricter attendance"
    detail = c.get("/v1/rules/versions/2", headers=h("admin")).get_json()
    assert "+    when: {indicator: consecutive_absent_months, op: ge, value: 1}" in detail["diff"]
    # Publishing the same files again is refused as no change.
    assert c.put("/v1/rules", json={"files": STRICTER_FILES, "comment": "again"},
                 headers=h("admin")).status_code == 409
    # A comment alone: a version of its own, said to diagnose as the one it replaced.
    name, text = next(iter(STRICTER_FILES.items()))
    noted = c.put("/v1/rules", json={"files": {name: "# why: the council's 2026 notice\n" + text}, "comment": "why"},
                  headers=h("admin")).get_json()
    assert noted["version"] == 3 and noted["same_rules"] is True and noted["digest"] == r.get_json()["digest"]
    # Roll back.
    r = c.post("/v1/rules/versions/1/activate", headers=h("admin"))
    assert r.status_code == 200 and r.get_json()["version"] == 1
    c.post("/v1/diagnoses?wait=true", json={"period": "2025-12"}, headers=h("platform"))
    assert yellow_members(svc) == yellow_before
    assert c.post("/v1/rules/versions/9/activate", headers=h("admin")).status_code == 404
    assert c.post("/v1/rules/versions/1/activate", headers=h("platform")).status_code == 403
    assert c.put("/v1/rules", json={"files": STRICTER_FILES}, headers=h("admin")).status_code == 422


def test_publish_runs_the_rule_tests(service):
    """Changing a rule without its test is refused: the version's rule tests run before publishing."""
    r = service.client.put("/v1/rules", json={"files": {"member_lamps.yaml": STRICTER}, "comment": "no tests"},
                           headers=service.h("admin"))
    body = r.get_json()
    assert r.status_code == 422
    assert any("rule test 'absent from org life 2, 3, 5 and 6 months' failed" in e["message"] for e in body["errors"])
    v = service.client.post("/v1/rules/validate", json={"files": {"member_lamps.yaml": STRICTER}},
                            headers=service.h("admin")).get_json()
    assert v["valid"] is False
    assert service.client.get("/v1/rules", headers=service.h("admin")).get_json()["version"] == 1


def test_a_published_version_is_seen_by_another_process(fresh_service, tmp_path):
    """Two apps on one database (two processes in production): the second picks up the new version."""
    from diagnosis_service.service import create_app
    from tests.support.service import settings_for

    other = create_app({"SETTINGS": settings_for(tmp_path), "DATABASE_URL": fresh_service.db.url, "TESTING": True})
    r = fresh_service.client.put("/v1/rules", json={"files": STRICTER_FILES, "comment": "x"},
                                 headers=fresh_service.h("admin"))
    assert r.status_code == 201
    import time

    time.sleep(1.1)  # the other process checks the active version at most once a second
    ready = other.test_client().get("/readyz", headers=fresh_service.h("admin")).get_json()
    assert ready["checks"]["rules"]["version"] == 2


def test_an_event_after_a_rules_change_recomputes_the_references_without_waiting_on_itself(fresh_service):
    """The event stores its values (dropping the month's columnar block) and, the rules having changed
    since the month's run, recomputes the references from the store inside its own transaction: that
    read must not wait for the transaction it is in (it reads the rows; only the job rebuilds blocks)."""
    svc = fresh_service
    c, h = svc.client, svc.h
    assert c.put("/v1/rules", json={"files": STRICTER_FILES, "comment": "stricter"}, headers=h("admin")).status_code == 201
    r = c.post("/v1/events", json={"subject": "member", "id": "M000001", "period": "2025-12",
                                   "values": {"dues_paid": 1}}, headers=h("platform"))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert "lamp" in r.get_json()
