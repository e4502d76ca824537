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
    for created in (with_deadline, without):  # 12345 orders are on the public feed once the centre publishes them
        published = await intake.put(f"/v1/incidents/{created.json()['id']}/publication", json={},
                                     headers=ADMIN_SUPERVISOR)
        assert published.status_code == 200, published.text
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


async def feed_ids(client) -> set[str]:
    return {r["service_request_id"] for r in (await client.get("/open311/v2/requests.json")).json()}


async def test_the_public_feed_shows_public_reports_and_published_cases_never_confidential_ones(intake):
    """Issue 15: the public read path shows what the public reported and what the centre published, with the
    reply meant for the public: never a confidential 12345 order, a reporter or the unit's internal result."""
    key = await issued_key(intake)
    public = (await intake.post("/open311/v2/requests.json", data={**FORM, "api_key": key})).json()[0]
    internal = await post_order(intake, order(order_no="GD-FEED-1"))
    secret = await post_order(intake, order(order_no="GD-FEED-2", lon=121.0, confidential=True))
    reported = await intake.post("/v1/incidents", headers=ADMIN_SUPERVISOR, json={
        "source": "gridworker", "category": "city.garbage", "title": "网格员上报",
        "description": "张三家门口，电话13812345678", "location": {"lon": 120.6123456, "lat": 31.3123456}})
    assert await feed_ids(intake) == {public["service_request_id"]}

    refused = await intake.put(f"/v1/incidents/{secret.json()['id']}/publication", json={"reply": "x"},
                               headers=ADMIN_SUPERVISOR)
    assert refused.status_code == 422 and "confidential" in refused.json()["detail"]
    worker = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'w1', 'gridworker', [''])}"}
    not_theirs = await intake.put(f"/v1/incidents/{internal.json()['id']}/publication", json={}, headers=worker)
    assert not_theirs.status_code == 403
    for created in (internal, reported):
        answer = await intake.put(f"/v1/incidents/{created.json()['id']}/publication",
                                  json={"reply": "已安排清运"}, headers=ADMIN_SUPERVISOR)
        assert answer.status_code == 200, answer.text
    assert await feed_ids(intake) == {public["service_request_id"], internal.json()["id"], reported.json()["id"]}

    [shown] = (await intake.get(f"/open311/v2/requests/{reported.json()['id']}.json")).json()
    assert shown["description"] == "网格员上报"  # the title, not the reporter's words
    assert (shown["lat"], shown["long"]) == (31.312, 120.612)  # about 100 m
    assert shown["status_notes"].endswith("：已安排清运") and shown["media_url"] is None
    gone = await intake.get(f"/open311/v2/requests/{secret.json()['id']}.json")
    assert gone.status_code == 404


async def test_a_control_character_in_one_description_leaves_the_xml_listing_valid(intake):
    key = await issued_key(intake)
    created = await intake.post("/open311/v2/requests.json",
                                data={**FORM, "api_key": key, "description": "垃圾\x0b桶满了\x01"})
    assert created.status_code == 201, created.text
    root = ET.fromstring((await intake.get("/open311/v2/requests.xml")).content)  # would raise on bad XML
    assert root.find("request/description").text == "垃圾桶满了"


async def test_each_api_key_has_its_share_a_minute_then_429_with_retry_after(fresh_database):
    from services.intake.config import IntakeSettings
    from services.intake.entrypoints.http import create_app
    from shared.db.migrate import migrate
    from tests.support import SERVICE_DIRS, serving

    dsn = await fresh_database("intake")
    await migrate(dsn, SERVICE_DIRS["intake"])
    async with serving(create_app(IntakeSettings(database_url=dsn, open311_requests_per_minute=2))) as client:
        key, other = await issued_key(client), await issued_key(client)
        for _ in range(2):
            assert (await client.post("/open311/v2/requests.json", data={**FORM, "api_key": key})).status_code \
                == 201
        refused = await client.post("/open311/v2/requests.json", data={**FORM, "api_key": key})
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()[0]["code"] == 429
        xml = await client.post("/open311/v2/requests.xml", data={**FORM, "api_key": key})
        assert xml.status_code == 429 and ET.fromstring(xml.content).find("error/code").text == "429"
        assert (await client.post("/open311/v2/requests.json", data={**FORM, "api_key": other})).status_code \
            == 201  # another key's share is its own
        stored = await client.get("/open311/v2/requests.json")
        assert len(stored.json()) == 3  # the refused ones wrote nothing
