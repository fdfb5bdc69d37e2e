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
    for path, who in (("/v1/diagnoses", "platform"), ("/v1/prescriptions", "secretary")):
        r = c.post(path, json=["2025-12"], headers=h(who))
        assert r.status_code == 422 and r.get_json()["detail"].startswith("the body must be an object: {"), path
    r = c.post("/v1/prescriptions", json={"branch_id": 2, "period": "2025-12"}, headers=h("platform"))
    assert r.status_code == 422 and r.get_json()["errors"][0]["path"] == "branch_id"
