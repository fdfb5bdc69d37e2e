"""The catalog page for administrators: every resource of the active version with its use and what
the model learned, filtered; closed to secretaries and street roles."""

from __future__ import annotations

import re

from tests.support.pages import login


def test_the_catalog_page_lists_filters_and_counts(fresh_service):
    svc = fresh_service
    c, h = svc.client, svc.h
    served = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"}, headers=h("platform"))
    first = served.get_json()["prescriptions"][0]
    c.post(f"/v1/prescriptions/{first['prescription_id']}/feedback", json={"status": "adopted"},
           headers=h("secretary"))
    assert login(c, svc.tokens["admin"], next_url="/catalog").status_code == 303
    page = c.get("/catalog")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "锋领汇资源库" in html and "共 376 项资源" in html
    assert "系统于" in html and "随部署提供的资源库" in html and "bundled" not in html  # the first version, in Chinese
    assert html.count('<tr id="res-') == 200 and 'rel="next"' in html  # 200 a page
    row = re.search(rf'<tr id="res-{first["resource_id"]}".*?</tr>', c.get(
        f"/catalog?q={first['resource_id']}").get_data(as_text=True), re.S).group(0)
    assert 'class="num served">1<' in row and "100% (1/1)" in row
    bases = c.get("/catalog?kind=base&status=active&lang=en").get_data(as_text=True)
    ids = re.findall(r'<tr id="res-([^"]+)"', bases)
    listed = {r["id"]: r for r in c.get("/v1/catalog/resources?kind=base", headers=h("admin")).get_json()["resources"]}
    assert ids == sorted(i for i, r in listed.items() if r["active"]) and "Remedy catalog" in bases
    street = "鼓楼街道"
    for_street = re.findall(r'<tr id="res-([^"]+)"', c.get(f"/catalog?kind=base&street={street}").get_data(
        as_text=True))
    assert set(for_street) == {i for i, r in listed.items() if r["streets"] == ["all"] or street in r["streets"]}
    # The street filter in English says the streets' English names (and sends the Chinese ones).
    english = c.get("/catalog?lang=en").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>',
                         re.search(r'id="street-select">(.*?)</select>', english, re.S).group(1))
    named = [(v, shown) for v, shown in options if v]
    assert named and all(re.search(r"[\u4e00-\u9fff]", v) and not re.search(r"[\u4e00-\u9fff]", shown)
                         for v, shown in named), named
    assert "376 resources, 376 active; 376 match the filters." in english or "match the filters." in english
    # Nothing found is said, not a table of headers alone.
    for lang, words in (("zh", "没有符合筛选条件的资源"), ("en", "No resource matches these filters")):
        none = c.get(f"/catalog?q=zzzz&lang={lang}").get_data(as_text=True)
        assert '<tr id="res-' not in none and f'id="catalog-none">{words}' in none
    retired = c.get("/catalog?status=retired").get_data(as_text=True)
    assert 'class="retired"' in retired and "已停用" in retired
    bad = c.get("/catalog?kind=spaceship")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "筛选条件无效：类别“spaceship”不在可选项中" in html
    assert 'href="/catalog?lang=zh"' in html, "a way back to the catalog"
    book = c.get("/catalog.xlsx")
    assert book.status_code == 200 and book.data[:2] == b"PK" and "catalog-v1.xlsx" in book.headers[
        "Content-Disposition"]


def test_only_district_administrators_open_it(fresh_service):
    c = fresh_service.client
    assert c.get("/catalog").status_code == 303  # to the login form
    login(c, fresh_service.tokens["secretary"])
    assert c.get("/catalog").status_code == 403 and c.get("/catalog.xlsx").status_code == 403


def test_the_page_shows_what_the_model_learned(fresh_service):
    from diagnosis_service.learning.estimator import EffectivenessModel
    from diagnosis_service.learning.persist import save
    from tests.support.learning import frame

    svc = fresh_service
    runtime = svc.app.extensions["diagnosis"]
    login(svc.client, svc.tokens["admin"], next_url="/catalog")
    before = svc.client.get("/catalog?q=BASE01").get_data(as_text=True)
    assert "尚未训练模型" in before and re.search(r'class="num effect">—<', before)
    X, y, true = frame()  # BASE01 works best of its kind (0.5), BASE02 not at all
    model = EffectivenessModel().fit(X, y)
    save(model, runtime.settings.models_dir / "effectiveness.json", {"fingerprint": "page"})
    runtime.rankers.load()
    html = svc.client.get("/catalog?kind=base&lang=en").get_data(as_text=True)
    effects = dict(re.findall(r'<tr id="res-(BASE0[12])".*?class="num effect">([^<]+)<', html, re.S))
    n1 = model.evidence("BASE01")
    assert effects["BASE01"].endswith(f"(n={n1})") and effects["BASE01"].startswith("+")
    assert effects["BASE02"].startswith("-")  # below its kind's average
    assert "no trained model" not in html
