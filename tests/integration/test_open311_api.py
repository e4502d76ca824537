"""The Open311 GeoReport v2 façade on the same case record, in JSON and XML."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import datetime

from shared.auth import issue_token
from shared.settings import DEV_JWT_SECRET
from tests.integration.test_hotline_api import order, post_order

ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'admin', 'admin', [''])}"}
ADMIN_SUPERVISOR = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'centre', 'supervisor', [''])}"}
FORM = {"service_code": "city.garbage", "lat": "31.31", "long": "120.61", "description": "垃圾桶满了没人清",
        "first_name": "明", "last_name": "王", "phone": "13812345678"}


async def issued_key(client) -> str:
    response = await client.post("/v1/open311/keys", json={"name": "城市随手拍"}, headers=ADMIN)
    assert response.status_code == 201
    return response.json()["api_key"]


async def test_services_list_in_json_and_xml(intake):
    services = (await intake.get("/open311/v2/services.json")).json()
    garbage = next(s for s in services if s["service_code"] == "city.garbage")
    assert garbage == {"service_code": "city.garbage", "service_name": "暴露垃圾、道路不洁",
                       "description": "exposed refuse, dirty street", "metadata": False, "type": "realtime",
                       "keywords": "city,garbage", "group": "city"}
    xml = await intake.get("/open311/v2/services.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "services" and len(root) == len(services)
    assert root.find("service/service_code").text == services[0]["service_code"]


async def test_form_encoded_request_creates_a_public_case_readable_both_ways(intake):
    key = await issued_key(intake)
    created = await intake.post("/open311/v2/requests.json", data={**FORM, "api_key": key})
    assert created.status_code == 201, created.text
    [receipt] = created.json()
    request_id = receipt["service_request_id"]
    [request] = (await intake.get(f"/open311/v2/requests/{request_id}.json")).json()
    assert (request["status"], request["service_code"], request["lat"], request["long"]) == (
        "open", "city.garbage", 31.31, 120.61)
    assert request["status_notes"] == "已受理" and request["service_name"] == "暴露垃圾、道路不洁"
    root = ET.fromstring((await intake.get(f"/open311/v2/requests/{request_id}.xml")).content)
    assert root.find("request/service_request_id").text == request_id
    assert root.find("request/status").text == "open"
    case = (await intake.get(f"/v1/incidents/{request_id}", headers=ADMIN)).json()
    assert case["source"] == "public" and case["reporter"] == {"name": "王 明", "phone": "13812345678"}

    listed = (await intake.get("/open311/v2/requests.json", params={"status": "open"})).json()
    assert [r["service_request_id"] for r in listed] == [request_id]
    assert (await intake.get("/open311/v2/requests.json", params={"status": "closed"})).json() == []


async def test_writes_need_an_issued_api_key_and_valid_fields(intake):
    """GeoReport v2's own errors: a list of {code, description} (<errors> in XML), 400/403/404, not problem+json."""
    unknown = await intake.post("/open311/v2/requests.json", data={**FORM, "api_key": "made-up"})
    assert unknown.status_code == 403 and unknown.headers["content-type"] == "application/json"
    assert unknown.json() == [{"code": 403, "description": "api_key is not one issued to a public client"}]
    missing = await intake.post("/open311/v2/requests.json", data=FORM)
    assert missing.status_code == 400 and missing.json()[0]["code"] == 400
    key = await issued_key(intake)
    for bad in ({"service_code": "no.such"}, {"lat": "48.85", "long": "2.35"}, {"phone": "12"},
                {"lat": "", "long": "", "address_string": ""}):
        response = await intake.post("/open311/v2/requests.json", data={**FORM, "api_key": key, **bad})
        assert response.status_code == 400, (bad, response.text)
        assert [e["code"] for e in response.json()] == [400] and response.json()[0]["description"]
    xml_error = await intake.post("/open311/v2/requests.xml", data={**FORM, "api_key": "made-up"})
    assert xml_error.status_code == 403
    assert ET.fromstring(xml_error.content).find("error/code").text == "403"
    nowhere = await intake.post("/open311/v2/requests.json", data={"api_key": "made-up", "service_code": "city.ads"})
    assert nowhere.status_code == 403  # the key is checked before anything else about the request
    nul = await intake.post("/open311/v2/requests.xml", data={**FORM, "api_key": key, "description": "垃\x00圾"})
    assert nul.status_code == 400 and ET.fromstring(nul.content).find("error/code").text == "400"
    assert (await intake.get("/open311/v2/requests.json")).json() == []


async def test_date_range_is_at_most_ninety_days(intake):
    response = await intake.get("/open311/v2/requests.json", params={"start_date": "2026-01-01T00:00:00+08:00",
                                                                      "end_date": "2026-06-01T00:00:00+08:00"})
    assert response.status_code == 400 and "90 days" in response.json()[0]["description"]
    not_an_id = await intake.get("/open311/v2/requests/not-an-id.xml")  # FastAPI's own validation, in the spec's form
    assert not_an_id.status_code == 400 and ET.fromstring(not_an_id.content).find("error/code").text == "400"
    missing = await intake.get(f"/open311/v2/requests/{uuid.uuid4()}.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


async def test_expected_datetime_is_the_12345_deadline_while_the_case_is_open(intake):
    with_deadline = await post_order(intake, order(order_no="GD-DUE-1", deadline="2026-11-25T17:30:00+08:00"))
    without = await post_order(intake, order(order_no="GD-DUE-2", lon=121.0))
    [due] = (await intake.get(f"/open311/v2/requests/{with_deadline.json()['id']}.json")).json()
    [open_ended] = (await intake.get(f"/open311/v2/requests/{without.json()['id']}.json")).json()
    assert datetime.fromisoformat(due["expected_datetime"]) == datetime.fromisoformat("2026-11-25T17:30:00+08:00")
    assert open_ended["expected_datetime"] is None
    root = ET.fromstring((await intake.get(f"/open311/v2/requests/{with_deadline.json()['id']}.xml")).content)
    assert datetime.fromisoformat(root.find("request/expected_datetime").text) == datetime.fromisoformat(
        due["expected_datetime"])

    reject = await intake.post(f"/v1/incidents/{with_deadline.json()['id']}/actions",
                               json={"action": "reject", "reason": "恶意举报"}, headers=ADMIN_SUPERVISOR)
    assert reject.status_code == 200, reject.text
    [closed] = (await intake.get(f"/open311/v2/requests/{with_deadline.json()['id']}.json")).json()
    assert closed["status"] == "closed" and closed["expected_datetime"] is None
