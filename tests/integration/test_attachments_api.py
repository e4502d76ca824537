"""Attachments over HTTP against a real Postgres and a real directory store: upload → list → the stripped bytes →
the thumbnail; the caps (413), the types (415), another area's case (404 to read, 403 to attach), an offline
phone's retried upload stored once, a 办结 naming its photos; and the background fetch of a 12345 order's and an
Open311 request's URLs from a real HTTP server on 127.0.0.1, through the egress guard."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from services.intake.config import IntakeSettings
from services.intake.entrypoints.fetcher import run_fetcher
from services.intake.entrypoints.http import create_app
from shared.db.migrate import migrate
from tests.integration.conftest import HOTLINE_SECRET
from tests.integration.test_hotline_api import order, post_order
from tests.integration.test_http_edges import Body
from tests.integration.test_intake_api import ADMIN, OTHER_DISTRICT, SUPERVISOR, WORKER, WORKER_REPORT, assign
from tests.support import SERVICE_DIRS, serving
from tests.unit.intake.images import CAMERA, HEIC, HTML, LAT, PDF, XMP, gps_photo, opened, photo

MAX_BYTES = 200_000
MAX_PER_CASE = 4
CITY = ADMIN  # city-wide: sees every case (an admin reads; it attaches nothing)


def settings(dsn: str, store: str, **overrides) -> IntakeSettings:
    return IntakeSettings(database_url=dsn, hotline_secret=HOTLINE_SECRET, attachments_url=store,
                          attachments_max_bytes=MAX_BYTES, attachments_max_per_case=MAX_PER_CASE,
                          attachments_fetch_poll_seconds=0.02, attachments_fetch_timeout_seconds=3,
                          attachments_fetch_max_attempts=1, **overrides)


@pytest.fixture
async def api(fresh_database, tmp_path):
    dsn = await fresh_database("attach")
    await migrate(dsn, SERVICE_DIRS["intake"])
    async with serving(create_app(settings(dsn, str(tmp_path / "attachments")))) as client:
        client.dsn = dsn
        client.store = tmp_path / "attachments"
        yield client


async def fetch_rows(dsn: str, sql: str, *args):
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def case_of_worker(client) -> str:
    created = await client.post("/v1/incidents", json=WORKER_REPORT, headers=WORKER)
    incident_id = created.json()["id"]
    await assign(client, incident_id)
    assert (await client.post(f"/v1/incidents/{incident_id}/actions", json={"action": "sign"},
                              headers=WORKER)).status_code == 200
    return incident_id


def upload(client, incident_id: str, data: bytes, *, headers=WORKER, name: str = "现场照片.jpg",
           content_type: str = "image/jpeg"):
    return client.post(f"/v1/incidents/{incident_id}/attachments", files={"file": (name, data, content_type)},
                       headers=headers)


def is_problem(response, status: int) -> bool:
    return (response.status_code == status and response.headers["content-type"] == "application/problem+json"
            and response.json()["status"] == status)


async def test_upload_list_download_stripped_and_thumbnail(api):
    incident_id = await case_of_worker(api)
    original = gps_photo()
    created = await upload(api, incident_id, original)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == body["href"] == f"/v1/incidents/{incident_id}/attachments/{body['id']}"
    assert (body["status"], body["media_type"], body["filename"], body["origin"]) == (
        "stored", "image/jpeg", "现场照片.jpg", "upload")
    assert body["gps"]["lat"] == pytest.approx(LAT)
    assert datetime.fromisoformat(body["captured_at"]) == datetime(2026, 11, 20, 6, 3, 5, tzinfo=UTC)
    assert body["camera"] == "TestCam X1" and (body["width"], body["height"]) == (48, 64)

    listed = await api.get(f"/v1/incidents/{incident_id}/attachments", headers=SUPERVISOR)
    assert listed.status_code == 200 and [a["id"] for a in listed.json()] == [body["id"]]
    assert listed.json()[0]["gps"] == body["gps"]  # the metadata, for 核查
    assert datetime.fromisoformat(listed.json()[0]["captured_at"]) == datetime.fromisoformat(body["captured_at"])

    served = await api.get(body["href"], headers=SUPERVISOR)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith('inline; filename="____.jpg"; filename*=UTF-8')
    assert "sandbox" in served.headers["content-security-policy"]
    assert len(served.content) == body["size_bytes"]
    assert b"Exif" not in served.content and XMP not in served.content and CAMERA.encode() not in served.content
    assert not opened(served.content).getexif()
    again = await api.get(body["href"], headers={**SUPERVISOR, "If-None-Match": served.headers["etag"]})
    assert again.status_code == 304 and again.content == b""

    thumb = await api.get(body["thumbnail_href"], headers=WORKER)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["x-content-type-options"] == "nosniff" and max(opened(thumb.content).size) <= 320

    # one event through the outbox: ids and metadata, no bytes; and the timeline
    [event] = await fetch_rows(api.dsn, "SELECT payload FROM outbox WHERE payload::jsonb->>'type' = $1",
                               "intake.incident.attached")
    data = json.loads(event["payload"])["data"]
    assert data["attachment_id"] == body["id"] and data["sha256"] == body["sha256"] and len(event["payload"]) < 2000
    case = (await api.get(f"/v1/incidents/{incident_id}", headers=WORKER)).json()
    assert case["timeline"][-1]["action"] == "attach"
    assert case["timeline"][-1]["detail"]["attachment_id"] == body["id"]
    # the directory store holds the stripped file and its thumbnail, under ids only
    stored = sorted(p.relative_to(api.store).as_posix() for p in api.store.rglob("*") if p.is_file())
    assert stored == [f"{incident_id}/{body['id']}.jpg", f"{incident_id}/{body['id']}.thumb.jpg"]


async def test_a_pdf_is_served_as_a_download_and_has_no_thumbnail(api):
    incident_id = await case_of_worker(api)
    body = (await upload(api, incident_id, PDF, name="验收单.pdf", content_type="application/pdf")).json()
    assert body["media_type"] == "application/pdf" and body["thumbnail_href"] is None
    served = await api.get(body["href"], headers=WORKER)
    assert served.content == PDF and served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"].startswith("attachment;")
    assert is_problem(await api.get(f"{body['href']}/thumbnail", headers=WORKER), 404)


async def test_too_large_is_413_before_and_after_authentication(api):
    incident_id = await case_of_worker(api)
    big = b"\xff\xd8\xff" + b"\x00" * MAX_BYTES  # one byte over the file cap, within the route's body limit
    response = await upload(api, incident_id, big)
    assert is_problem(response, 413) and f"{MAX_BYTES:,}" in response.json()["detail"]
    huge = b"\xff\xd8\xff" + b"\x00" * (MAX_BYTES + 100_000)  # past the route's body limit: refused unread
    assert is_problem(await upload(api, incident_id, huge), 413)
    assert is_problem(await upload(api, incident_id, huge, headers={}), 413)  # before authentication
    assert is_problem(await upload(api, incident_id, photo(), headers={}), 401)
    # streamed without a Content-Length and without a token: 401 before a byte of it is read
    streamed = Body(50 * 1024 * 1024)
    response = await api.post(f"/v1/incidents/{incident_id}/attachments", content=streamed,
                              headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert is_problem(response, 401) and streamed.pulled == 0
    # the 1 MB of every other route is untouched: the larger limit is this route's alone
    other = await api.post(f"/v1/incidents/{incident_id}/actions",
                           headers={**WORKER, "content-type": "application/json"},
                           content=json.dumps({"action": "progress", "note": "x" * 1_100_000}))
    assert is_problem(other, 413)
    assert await fetch_rows(api.dsn, "SELECT id FROM attachment") == []


@pytest.mark.parametrize("data, name, declared, words", [
    (HTML, "photo.jpg", "image/jpeg", "content"),  # named and declared a JPEG: its bytes say otherwise
    (HEIC, "IMG_0001.HEIC", "image/heic", "HEIC"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "a.gif", "image/gif", "content")])
async def test_anything_but_photos_and_pdfs_is_415_judged_by_its_bytes(api, data, name, declared, words):
    incident_id = await case_of_worker(api)
    response = await upload(api, incident_id, data, name=name, content_type=declared)
    assert is_problem(response, 415) and words in response.json()["detail"]
    raw = await api.post(f"/v1/incidents/{incident_id}/attachments", content=photo(),
                         headers={**WORKER, "content-type": "image/jpeg"})
    assert is_problem(raw, 415) and "multipart" in raw.json()["detail"]
    assert is_problem(await api.post(f"/v1/incidents/{incident_id}/attachments", files={"photo": ("a.jpg", photo())},
                                     headers=WORKER), 422)
    assert await fetch_rows(api.dsn, "SELECT id FROM attachment") == []


async def test_another_areas_case_is_404_to_read_and_403_to_attach(api):
    incident_id = await case_of_worker(api)
    body = (await upload(api, incident_id, photo())).json()
    for path in (f"/v1/incidents/{incident_id}/attachments", body["href"], body["thumbnail_href"]):
        assert is_problem(await api.get(path, headers=OTHER_DISTRICT), 404), path
        assert (await api.get(path, headers=SUPERVISOR)).status_code == 200, path
    assert is_problem(await upload(api, incident_id, photo(), headers=OTHER_DISTRICT), 403)
    assert is_problem(await upload(api, incident_id, photo(), headers=ADMIN), 403)  # not a role that attaches
    unknown = f"/v1/incidents/{incident_id}/attachments/{uuid.uuid4()}"
    assert is_problem(await api.get(unknown, headers=SUPERVISOR), 404)
    assert is_problem(await api.get(f"/v1/incidents/{uuid.uuid4()}/attachments", headers=CITY), 404)
    assert is_problem(await upload(api, str(uuid.uuid4()), photo()), 404)


async def test_an_offline_phones_retried_upload_is_stored_once(api):
    incident_id = await case_of_worker(api)
    headers = {**WORKER, "Idempotency-Key": "offline-7f3a"}
    first, second = await asyncio.gather(upload(api, incident_id, gps_photo(), headers=headers),
                                         upload(api, incident_id, gps_photo(), headers=headers))
    assert {first.status_code, second.status_code} == {201}
    assert first.json()["id"] == second.json()["id"]
    assert "true" in (first.headers.get("idempotent-replayed"), second.headers.get("idempotent-replayed"))
    later = await upload(api, incident_id, gps_photo(), headers=headers)
    assert later.status_code == 201 and later.json()["id"] == first.json()["id"]
    assert is_problem(await upload(api, incident_id, photo(), headers=headers), 409)  # another file, same key
    assert len(await fetch_rows(api.dsn, "SELECT id FROM attachment")) == 1
    assert len(await fetch_rows(api.dsn, "SELECT 1 FROM outbox WHERE payload::jsonb->>'type' = $1",
                                "intake.incident.attached")) == 1
    files = [p for p in api.store.rglob("*") if p.is_file()]
    assert len(files) == 2  # the one photo and its thumbnail: the concurrent loser's copy was removed


async def test_the_case_cap_is_409_and_a_finish_names_its_photos(api):
    incident_id = await case_of_worker(api)
    ids = [(await upload(api, incident_id, photo(), name=f"{n}.jpg")).json()["id"] for n in range(MAX_PER_CASE)]
    full = await upload(api, incident_id, photo())
    assert is_problem(full, 409) and full.json()["max_per_case"] == MAX_PER_CASE
    actions = f"/v1/incidents/{incident_id}/actions"
    wrong = await api.post(actions, json={"action": "submit_result", "result": "已清运", "attachments": [
        str(uuid.uuid4())]}, headers=WORKER)
    assert is_problem(wrong, 422) and wrong.json()["errors"][0]["field"] == "attachments"
    done = await api.post(actions, json={"action": "submit_result", "result": "已清运", "attachments": ids[:2]},
                          headers=WORKER)
    assert done.status_code == 200 and done.json()["status"] == "pending_verification"
    [event] = await fetch_rows(api.dsn, "SELECT payload FROM outbox WHERE payload::jsonb->>'type' = $1",
                               "intake.incident.result_submitted")
    assert json.loads(event["payload"])["data"]["attachments"] == ids[:2]


# ---- the background fetch -------------------------------------------------------------------------------------


class FileServer:
    """A real HTTP server on 127.0.0.1 serving files by path, and misbehaving on some."""

    def __init__(self) -> None:
        self.port = 0
        self.hits: list[str] = []
        self.files = {"/a.jpg": gps_photo(), "/doc.pdf": PDF, "/page.jpg": HTML}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            self.hits.append(path)
            if path in self.files:
                body = self.files[path]
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            elif path == "/redirect":
                writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\n"
                             b"Content-Length: 0\r\n\r\n")
            elif path == "/endless":  # no Content-Length, and more than the cap
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                for _ in range(100):
                    writer.write(b"\xff\xd8\xff" + b"x" * 65_536)
                    await writer.drain()
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextlib.asynccontextmanager
async def file_server() -> AsyncIterator[FileServer]:
    served = FileServer()
    server = await asyncio.start_server(served.handle, "127.0.0.1", 0)
    served.port = server.sockets[0].getsockname()[1]
    try:
        yield served
    finally:
        server.close()


@contextlib.asynccontextmanager
async def fetcher_running(client) -> AsyncIterator[None]:
    """The fetcher role (entrypoints/fetcher.py) on the app's own container, as `python -m services.intake
    fetcher` runs it."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_fetcher(client.app.state.container, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def settled(client, incident_id: str, headers=CITY, within: float = 15.0) -> list[dict]:
    """The case's attachments once none is pending (polled: the fetcher works in the background)."""
    deadline = time.monotonic() + within
    while True:
        listed = (await client.get(f"/v1/incidents/{incident_id}/attachments", headers=headers)).json()
        if listed and all(a["status"] != "pending" for a in listed):
            return listed
        assert time.monotonic() < deadline, listed
        await asyncio.sleep(0.02)


async def test_a_hotline_orders_urls_are_fetched_in_the_background_and_failures_recorded(api):
    async with file_server() as server:
        urls = [server.url(p) for p in ("/a.jpg", "/doc.pdf", "/missing.jpg", "/redirect", "/endless",
                                        "/page.jpg")]
        accepted = await post_order(api, order(attachments=urls))
        assert accepted.status_code == 202, accepted.text
        incident_id = accepted.json()["id"]
        listed = (await api.get(f"/v1/incidents/{incident_id}/attachments", headers=CITY)).json()
        assert [a["status"] for a in listed] == ["pending"] * 6 and server.hits == []  # not in the request
        async with fetcher_running(api):
            listed = await settled(api, incident_id)
    by_name = {a["filename"]: a for a in listed}
    photo_ = by_name["a.jpg"]
    assert photo_["status"] == "stored" and photo_["origin"] == "hotline" and photo_["gps"] is not None
    served = await api.get(photo_["href"], headers=CITY)
    assert served.status_code == 200 and b"Exif" not in served.content and CAMERA.encode() not in served.content
    assert (await api.get(photo_["thumbnail_href"], headers=CITY)).status_code == 200
    assert by_name["doc.pdf"]["status"] == "stored"
    assert (by_name["missing.jpg"]["status"], by_name["missing.jpg"]["error"]) == ("failed", "HTTP 404")
    assert by_name["redirect"]["status"] == "failed" and "redirect" in by_name["redirect"]["error"]
    assert by_name["endless"]["status"] == "failed" and "larger than" in by_name["endless"]["error"]
    assert by_name["page.jpg"]["status"] == "failed" and "content" in by_name["page.jpg"]["error"]
    assert by_name["missing.jpg"]["href"] is None
    assert is_problem(await api.get(f"/v1/incidents/{incident_id}/attachments/{by_name['missing.jpg']['id']}",
                                    headers=CITY), 404)
    assert not any(hit.startswith("/latest") for hit in server.hits)  # the redirect was not followed
    case = (await api.get(f"/v1/incidents/{incident_id}", headers=CITY)).json()
    actions = [t["action"] for t in case["timeline"]]
    assert actions.count("attach") == 2 and actions.count("attach_failed") == 4
    events = await fetch_rows(api.dsn, "SELECT payload FROM outbox WHERE payload::jsonb->>'type' = $1",
                              "intake.incident.attached")
    assert {json.loads(e["payload"])["data"]["origin"] for e in events} == {"hotline"} and len(events) == 2


async def test_an_open311_media_url_becomes_an_attachment_the_same_way(api):
    async with file_server() as server:
        created = await api.post("/open311/v2/requests.json", data={
            "api_key": "open311-dev-key", "service_code": "city.garbage", "lat": "31.31", "long": "120.61",
            "description": "路边垃圾", "media_url": server.url("/a.jpg")})
        assert created.status_code == 201, created.text
        incident_id = created.json()[0]["service_request_id"]
        async with fetcher_running(api):
            [attachment] = await settled(api, incident_id)
    assert attachment["status"] == "stored" and attachment["origin"] == "open311"
    assert attachment["filename"] == "a.jpg" and attachment["captured_at"] is not None


async def test_the_egress_guard_refuses_loopback_unless_allowed(fresh_database, tmp_path):
    dsn = await fresh_database("attach_strict")
    await migrate(dsn, SERVICE_DIRS["intake"])
    strict = settings(dsn, str(tmp_path / "strict"), attachments_fetch_allow_local=False)
    async with serving(create_app(strict)) as client, file_server() as server:
        accepted = await post_order(client, order(attachments=[server.url("/a.jpg")]))
        incident_id = accepted.json()["id"]
        async with fetcher_running(client):
            [attachment] = await settled(client, incident_id)
        assert attachment["status"] == "failed" and "loopback" in attachment["error"]
        assert server.hits == []  # refused before any connection
