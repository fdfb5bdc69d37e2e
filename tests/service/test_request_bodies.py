"""Request bodies of a fixed shape: what is wrong with one is said field by field."""


def test_a_bodys_unknown_fields_are_named_with_what_they_may_have_meant(service):
    c, h = service.client, service.h
    cases = [("/v1/diagnoses", "platform", {"perod": "2025-12"}, "perod", "did you mean 'period'?"),
             ("/v1/prescriptions", "secretary", {"branch_id": "B00002", "period": "2025-12", "limit": 3}, "limit",
              "fields: branch_id, period")]
    for path, who, body, field, suggestion in cases:
        r = c.post(path, json=body, headers=h(who))
        assert r.status_code == 422, (path, r.get_json())
        (item,) = r.get_json()["errors"]
        assert item == {"path": field, "message": f"unknown field '{field}'", "suggestion": suggestion}, path
    # Bodies checked whole name an unknown field beside their other problems, the same way.
    served = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"}, headers=h("secretary"))
    assert served.status_code == 201, served.get_json()
    cases = [("post", "/v1/events", "platform", {"subject": "member", "id": "M000001", "period": "2025-12",
                                                 "valeus": {"dues_paid": 1}}, "valeus", "did you mean 'values'?"),
             ("post", "/v1/login-tickets", "platform", {"branch_id": "B00002", "user": "u1", "langu": "en"}, "langu",
              "did you mean 'lang'?"),
             ("put", "/v1/periods/2025-12/metrics", "platform", {"branchs": []}, "branchs",
              "did you mean 'branches'?"),
             ("post", f"/v1/prescriptions/{served.get_json()['prescriptions'][0]['prescription_id']}/feedback", "secretary", {"state": "adopted"}, "state",
              "did you mean 'status'?"),
             ("post", "/v1/webhooks", "admin", {"url": "https://example.org/hook", "events": ["lamp.changed"],
                                                "descripton": "x"}, "descripton", "did you mean 'description'?")]
    for method, path, who, body, field, suggestion in cases:
        r = getattr(c, method)(path, json=body, headers=h(who))
        assert r.status_code == 422, (path, r.get_json())
        item = {"path": field, "message": f"unknown field '{field}'", "suggestion": suggestion}
        assert item in r.get_json()["errors"], (path, r.get_json())
    for path, who in (("/v1/diagnoses", "platform"), ("/v1/prescriptions", "secretary")):
        r = c.post(path, json=["2025-12"], headers=h(who))
        assert r.status_code == 422 and r.get_json()["detail"].startswith("the body must be an object: {"), path
    r = c.post("/v1/prescriptions", json={"branch_id": 2, "period": "2025-12"}, headers=h("platform"))
    assert r.status_code == 422 and r.get_json()["errors"][0]["path"] == "branch_id"


def test_a_field_named_twice_in_one_object_is_refused_not_guessed(service):
    """{"period": "2025-12", "period": "2025-11"} queued a job for 2025-11: which one a sender meant cannot
    be told (parsers differ), so neither is taken."""
    c, h = service.client, service.h
    for path, who, raw in (("/v1/diagnoses", "platform", '{"period": "2025-12", "period": "2025-11"}'),
                           ("/v1/prescriptions", "secretary",
                            '{"branch_id": "B00002", "period": "2025-12", "x": {"a": 1, "a": 2}}')):
        r = c.post(path, data=raw, content_type="application/json", headers=h(who))
        assert r.status_code == 400 and r.mimetype == "application/problem+json", (path, r.get_data(as_text=True))
        assert "twice" in r.get_json()["detail"] and ("'period'" in r.get_json()["detail"] or "'a'" in r.get_json()["detail"])
    ok = c.post("/v1/prescriptions", data='{"branch_id": "B00002", "period": "2025-12"}',
                content_type="application/json", headers=h("secretary"))
    assert ok.status_code == 201


def test_a_value_sent_as_text_is_refused_where_a_number_is_expected(fresh_service):
    """The OpenAPI document says number or null: "1" is refused (it was stored as 1), true too."""
    c, h = fresh_service.client, fresh_service.h
    r = c.put("/v1/periods/2025-12/metrics", headers=h("platform"), json={"branches": [
        {"branch_id": "B00002", "member_assemblies": "1", "theory_study_sessions": 2},
        {"branch_id": "B00003", "theory_study_sessions": True}]})
    assert r.status_code == 422
    errors = {e["path"]: e["message"] for e in r.get_json()["errors"]}
    assert errors == {"branches[0].member_assemblies": "member_assemblies must be a number or null, got text '1'",
                      "branches[1].theory_study_sessions": "theory_study_sessions must be a number or null, "
                                                           "got true/false"}
    e = c.post("/v1/events", headers=h("platform"), json={"subject": "member", "id": "M000001", "period": "2025-12",
                                                         "values": {"dues_paid": "1"}})
    assert e.status_code == 422 and e.get_json()["errors"][0]["path"] == "values.dues_paid"
    assert "got text '1'" in e.get_json()["errors"][0]["message"]
    fine = c.put("/v1/periods/2025-12/metrics", headers=h("platform"), json={"branches": [
        {"branch_id": "B00002", "member_assemblies": 1, "theory_study_sessions": None}]})
    assert fine.status_code == 200, fine.get_json()


def test_an_address_with_a_word_where_a_number_belongs_says_so(service):
    c, h = service.client, service.h
    for method, path, words in (("get", "/v1/rules/versions/abc", "no version 'abc': versions are whole numbers"),
                                ("get", "/v1/catalog/versions/-1", "no version '-1': versions are whole numbers"),
                                ("post", "/v1/prescriptions/x1/feedback",
                                 "no prescription id 'x1': prescription ids are whole numbers"),
                                ("get", "/v1/webhooks/abc", "no subscription id 'abc': subscription ids are whole numbers")):
        r = getattr(c, method)(path, headers=h("admin"))
        assert r.status_code == 404 and r.get_json()["detail"] == words, (path, r.get_json())
    plain = c.get("/v1/no-such-thing", headers=h("admin"))
    assert plain.status_code == 404 and "whole numbers" not in plain.get_json()["detail"]
