"""Webhook subscriptions on a real database: signed with each subscriber's own secret, once per delivery, in order
per receiver; a receiver answering 410 Gone switches its subscription off; and (issue 15) where webhooks may go:
no internal address at subscription time or at send time, no redirects, one deadline and a byte cap per send, and
never a receiver's text in the delivery log."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.notifications.adapters.local_sms_gateway import create_gateway_app
from services.notifications.adapters.webhook import SignedWebhook
from services.notifications.bootstrap import message_bus
from services.notifications.config import NotificationsSettings
from services.notifications.domain.commands import PutSubscription
from services.notifications.domain.delivery import DeliveryPolicy
from services.notifications.entrypoints.http import create_app
from shared.auth import issue_token
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.egress import Egress, EgressPolicy
from shared.events.envelope import Envelope
from shared.events.supervision import EscalationRaised
from shared.settings import DEV_JWT_SECRET
from shared.signing import SignatureCheck, SignatureError, sign
from tests.integration.notifications_bus import add, deliver_due, delivery, units_of_work
from tests.support import SERVICE_DIRS, FixedClock, handle, serving
from tests.unit.notifications.fakes import channels

ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'admin', 'admin', [''])}"}
OPS = {"name": "区指挥中心值班系统", "webhook_url": "http://127.0.0.1/hooks/ops", "role": "supervisor",
       "area": ["320508"], "event_types": ["supervision.escalation.raised"], "channels": ["webhook"]}
LOCAL = EgressPolicy(require_https=False, allow_local=True)   # dev and test: the local gateway is on loopback
STRICT = EgressPolicy(require_https=False, allow_local=False)  # what production checks, bar https


def resolver(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]
    return resolve


@pytest.fixture
async def stack(fresh_database, tmp_path):
    dsn = await fresh_database("hooks")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    gateway_app = create_gateway_app(tmp_path / "gw.jsonl")
    async with serving(gateway_app) as gateway, serving(create_app(NotificationsSettings(database_url=dsn))) as api:
        channel = SignedWebhook("hotline-secret", Egress(LOCAL, resolver({"gateway": ["127.0.0.1"]})),
                                transport=httpx.ASGITransport(gateway_app))
        yield api, gateway, channel
        await channel.close()


async def subscribe(api, gateway, sub_id: str, body: dict, register_as: str | None = None) -> str:
    """PUT a subscription; the secret it shows once is what the receiver (the gateway's hook) checks with."""
    response = await api.put(f"/v1/subscriptions/{sub_id}", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    secret = response.json()["secret"]
    await gateway.post("/control", json={"hook_secrets": {register_as or sub_id: secret}})
    return secret


async def escalate(api, level: str = "yellow_card", incident_id: uuid.UUID | None = None) -> uuid.UUID:
    container = api.app.state.container
    now = datetime.now(UTC)
    event = EscalationRaised(incident_id=incident_id or uuid.uuid4(), at=now, phase="handle",
                             due_at=now - timedelta(days=1), due_version=1, category="city.ads", urgency="normal",
                             grid_code="320508019044001", unit_id="grid-1", level=level, previous_level="none")
    await handle(container.bus, event, Envelope.wrap(event, source="/supervision", time=now))
    return event.incident_id


async def deliveries(api) -> list[dict]:
    return (await api.get("/v1/deliveries", params={"channel": "webhook"}, headers=ADMIN)).json()


async def test_a_webhook_subscriber_gets_the_event_signed_once(stack):
    api, gateway, webhook = stack
    await subscribe(api, gateway, "ops", OPS)
    incident = await escalate(api)
    assert await deliver_due(api.app.state.container.uow, 10, 3, 0.0, webhook=webhook) == 1
    [received] = (await gateway.get("/hooks/ops")).json()   # the gateway checked X-Grid-Signature
    assert received["body"]["type"] == "supervision.escalation.raised"
    assert received["body"]["subscription"] == "ops"
    assert received["body"]["data"]["incident_id"] == str(incident)
    assert received["body"]["data"]["level"] == "yellow_card"
    [delivery] = await deliveries(api)
    assert delivery["status"] == "sent" and received["idempotency_key"] == str(delivery["id"])


async def test_the_secret_is_shown_once_never_read_back_and_rotation_replaces_it(stack):
    api, gateway, webhook = stack
    first = await subscribe(api, gateway, "ops", OPS)
    again = await api.put("/v1/subscriptions/ops", json=OPS, headers=ADMIN)
    assert again.status_code == 200 and "secret" not in again.json()
    for shown in ((await api.get("/v1/subscriptions/ops", headers=ADMIN)).json(),
                  *(await api.get("/v1/subscriptions", headers=ADMIN)).json()):
        assert first not in str(shown) and not any("secret_sealed" in key for key in shown)
        assert shown["has_secret"] is True and shown["secret_created_at"]
    sealed = await api.app.state.container.pool.fetchval("SELECT secret_sealed FROM subscription WHERE id = 'ops'")
    assert first.encode() not in bytes(sealed)                  # sealed at rest, not the secret itself

    rotated = await api.post("/v1/subscriptions/ops/secret", headers=ADMIN)
    assert rotated.status_code == 200 and rotated.json()["secret"] != first
    await escalate(api)                                          # the receiver still checks with the old one
    await deliver_due(api.app.state.container.uow, 10, 3, 0.0, webhook=webhook)
    [refused] = await deliveries(api)
    assert refused["status"] == "dead" and refused["last_error"] == "HTTP 401"
    await gateway.post("/control", json={"hook_secrets": {"ops": rotated.json()["secret"]}})
    await escalate(api)
    await deliver_due(api.app.state.container.uow, 10, 3, 0.0, webhook=webhook)
    assert sorted(d["status"] for d in await deliveries(api)) == ["dead", "sent"]
    other_area = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 's', 'supervisor', ['310101'])}"}
    assert (await api.post("/v1/subscriptions/ops/secret", headers=other_area)).status_code == 403
    assert (await api.post("/v1/subscriptions/nope/secret", headers=ADMIN)).status_code == 404


async def test_one_subscriber_cannot_sign_as_us_to_another(stack):
    """Each subscriber its own secret: what `mallory` receives is signed with hers, which `ops` refuses."""
    api, gateway, webhook = stack
    ops_secret = await subscribe(api, gateway, "ops", OPS)
    mallory_secret = await subscribe(api, gateway, "mallory", {**OPS, "webhook_url": "http://127.0.0.1/hooks/mallory"})
    assert ops_secret != mallory_secret
    await escalate(api)
    await deliver_due(api.app.state.container.uow, 10, 3, 0.0, webhook=webhook)
    [to_mallory] = (await gateway.get("/hooks/mallory")).json()
    assert to_mallory["body"]["subscription"] == "mallory"
    # mallory re-points her subscription at ops' receiver: what we send her now is signed with her secret
    await api.put("/v1/subscriptions/mallory", json={**OPS, "webhook_url": "http://127.0.0.1/hooks/ops"}, headers=ADMIN)
    await escalate(api)
    await deliver_due(api.app.state.container.uow, 10, 3, 0.0, webhook=webhook)
    by_receiver = {(d["recipient"], d["status"]) for d in await deliveries(api)}
    assert ("subscription:mallory", "dead") in by_receiver      # ops' receiver refused her signature: 401
    assert len((await gateway.get("/hooks/ops")).json()) == 2    # ops got its own two, nothing of hers
    # and a signature she could compute does not verify under ops' secret
    body, ts = b'{"forged": true}', str(int(time.time()))
    with pytest.raises(SignatureError, match="does not match"):
        forged = sign(mallory_secret, "POST", "/hooks/ops", ts, body)
        SignatureCheck(ops_secret).verify("POST", "/hooks/ops", ts, forged, body, time.time())


async def test_a_wrongly_signed_webhook_is_refused_and_dead(stack):
    api, gateway, webhook = stack
    await api.put("/v1/subscriptions/ops", json=OPS, headers=ADMIN)
    await gateway.post("/control", json={"hook_secrets": {"ops": "not-the-subscribers-secret"}})
    await escalate(api)
    await deliver_due(api.app.state.container.uow, 10, 3, 0.0, webhook=webhook)
    [delivery] = await deliveries(api)
    assert delivery["status"] == "dead" and delivery["last_error"] == "HTTP 401"  # our words, not the receiver's
    assert (await gateway.get("/hooks/ops")).json() == []


async def test_a_receiver_answering_410_disables_its_subscription(stack):
    api, gateway, webhook = stack
    await subscribe(api, gateway, "ops", OPS)
    await subscribe(api, gateway, "other", {**OPS, "webhook_url": "http://127.0.0.1/hooks/other"})
    await gateway.post("/control", json={"gone": ["ops"]})
    for _ in range(3):                                       # three cases: three waiting deliveries each
        await escalate(api)
    await deliver_due(api.app.state.container.uow, 10, 3, 0.0, webhook=webhook)
    by_receiver: dict[str, list[dict]] = {}
    for d in await deliveries(api):
        by_receiver.setdefault(d["recipient"], []).append(d)
    assert [d["status"] for d in by_receiver["subscription:other"]] == ["sent"] * 3
    ops = by_receiver["subscription:ops"]
    assert [d["status"] for d in ops] == ["dead"] * 3
    assert sum(d["attempts"] for d in ops) == 1              # one 410, the others never tried
    assert any(d["last_error"].startswith("gone: HTTP 410") for d in ops)
    sub = (await api.get("/v1/subscriptions/ops", headers=ADMIN)).json()
    assert sub["disabled_at"] is not None and "410" in sub["disabled_reason"]
    await escalate(api)                                      # a disabled subscription hears nothing more
    assert len([d for d in await deliveries(api) if d["recipient"] == "subscription:ops"]) == 3
    await api.put("/v1/subscriptions/ops", json=OPS, headers=ADMIN)  # PUT again: switched back on
    assert (await api.get("/v1/subscriptions/ops", headers=ADMIN)).json()["disabled_at"] is None


async def test_a_retrying_subscriber_does_not_hold_up_12345(stack):
    api, gateway, webhook = stack
    await subscribe(api, gateway, "ops", OPS)
    incident = await escalate(api)
    await gateway.post("/control", json={"fail_next": 1, "status": 503})  # the subscriber is down a while
    container = api.app.state.container
    await add(container.uow, delivery(                       # then a 12345 callback for the same case
        event_type="intake.incident.signed", incident_id=incident, channel="webhook", recipient="12345:GD-1",
        address="http://127.0.0.1/webhook", body='{"order_no": "GD-1"}', urgent=True, at=datetime.now(UTC)))
    await deliver_due(container.uow, 10, 3, 0.0, webhook=webhook)
    status = {d["recipient"]: d["status"] for d in await deliveries(api)}
    assert status == {"subscription:ops": "pending", "12345:GD-1": "sent"}


# ---- where webhooks may go (issue 15: SSRF) ---------------------------------------------------------------------

FORBIDDEN = ["http://127.0.0.1:5432/", "http://localhost:8004/v1/deliveries", "http://0x7f000001/",
             "http://2130706433/", "http://0177.0.0.1/", "http://127.1/", "http://[::1]:8001/",
             "http://[::ffff:127.0.0.1]/", "http://10.0.0.8/hook", "http://192.168.1.10/hook",
             "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/meta-data/",
             "http://100.100.100.200/latest/meta-data/", "http://224.0.0.1/", "http://0.0.0.0:8004/"]


@pytest.fixture
async def strict_api(fresh_database):
    """Notifications with the loopback allowance off (as outside dev and test)."""
    dsn = await fresh_database("ssrf")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    async with serving(create_app(NotificationsSettings(database_url=dsn, webhook_allow_local=False))) as api:
        yield api


@pytest.mark.parametrize("url", FORBIDDEN)
async def test_a_subscription_to_an_internal_address_is_422(strict_api, url):
    response = await strict_api.put("/v1/subscriptions/ssrf", json={**OPS, "webhook_url": url}, headers=ADMIN)
    assert response.status_code == 422, (url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["webhook_url"]
    assert (await strict_api.get("/v1/subscriptions", headers=ADMIN)).json() == []


async def test_metadata_addresses_are_refused_even_where_local_receivers_are_allowed(stack):
    api, _, _ = stack
    for url in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://100.100.100.200/"):
        response = await api.put("/v1/subscriptions/meta", json={**OPS, "webhook_url": url}, headers=ADMIN)
        assert response.status_code == 422 and "metadata" in response.json()["detail"], url


class Receiver:
    """A real HTTP receiver on 127.0.0.1 that misbehaves by path: redirects, answers without end, trickles its
    headers, or leaks internals in a 500."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, dict[str, str]]] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            target = head[0].split(" ")[1]
            headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if line)}
            await reader.readexactly(int(headers.get("content-length", "0")))
            self.hits.append((target, headers))
            await self.answer(target, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def answer(self, path: str, writer: asyncio.StreamWriter) -> None:
        if path == "/redirect":
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\n"
                         b"Content-Length: 0\r\n\r\n")
        elif path == "/huge":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n")
            for _ in range(20_000):                       # up to 1.3 GB, unless the client stops reading
                writer.write(b"x" * 65_536)
                await writer.drain()
        elif path == "/trickle":
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 1000:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)
        elif path == "/leak":
            text = b"FATAL: password authentication failed for user postgres; DSN=postgresql://internal-db"
            writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text))
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    try:
        yield found
    finally:
        server.close()


@pytest.fixture
async def deliverer_db(fresh_database):
    dsn = await fresh_database("egress")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    pool = await create_pool(dsn, 1, 4)
    yield pool, units_of_work(pool, FixedClock(datetime.now(UTC) + timedelta(minutes=5)))  # all made so far: due
    await pool.close()


async def callbacks_to(uow, port: int, *paths: str, host: str = "receiver.test") -> None:
    """12345 callbacks (one receiver each, so each its own lane) to these paths of the receiver."""
    for n, path in enumerate(paths):
        await add(uow, delivery(event_type="intake.incident.signed", incident_id=uuid.uuid4(), channel="webhook",
                                recipient=f"12345:GD-{n}", address=f"http://{host}:{port}{path}",
                                body='{"callback": "signed"}', urgent=True, at=datetime.now(UTC)))


async def outcomes(pool) -> dict[str, tuple[str, str | None]]:
    rows = await pool.fetch("SELECT address, status, last_error FROM delivery")
    return {httpx.URL(r["address"]).path: (r["status"], r["last_error"]) for r in rows}


async def test_misbehaving_receivers_are_cut_off_and_the_batch_moves_on(deliverer_db):
    """Through the real transport: a redirect fails (not followed), an endless answer is cut at the byte cap, a
    trickle at the deadline, a leak is not recorded; the good receiver in the same pass is served."""
    pool, uow = deliverer_db
    async with receiver() as found:
        egress = Egress(LOCAL, resolver({"receiver.test": ["127.0.0.1"]}))
        webhook = SignedWebhook("hotline-secret", egress, deadline_seconds=0.5, max_response_bytes=4096)
        await callbacks_to(uow, found.port, "/redirect", "/huge", "/trickle", "/leak", "/ok")
        started = time.monotonic()
        try:
            assert await deliver_due(uow, 10, 3, 0.0, concurrency=1, webhook=webhook) == 5
        finally:
            await webhook.close()
        assert time.monotonic() - started < 3.0           # one at a time, and no receiver holds the pass up
    result = await outcomes(pool)
    assert result["/redirect"] == ("dead", "HTTP 302: redirects are not followed")
    assert result["/huge"] == ("sent", None)               # the 200 stands; the rest of the answer was not read
    assert result["/trickle"] == ("pending", "Timeout: no answer within 0.5 s")
    assert result["/leak"] == ("pending", "HTTP 500")            # tried again later; what it said is not kept
    assert result["/ok"] == ("sent", None)
    assert [path for path, _ in found.hits].count("/ok") == 1  # the redirect led nowhere
    host = dict(found.hits)["/ok"]["host"]
    assert host == f"receiver.test:{found.port}"         # connected to the address checked, named as asked
    stored = " ".join(str(v) for row in await pool.fetch("SELECT * FROM delivery") for v in row.values())
    assert "password" not in stored and "internal-db" not in stored


async def test_a_name_rebound_to_an_internal_address_is_refused_at_send_time(deliverer_db):
    """DNS rebinding: public when the subscription was put, internal when the webhook goes."""
    pool, uow = deliverer_db
    answers = {"rebind.test": ["93.184.216.34"]}
    strict = Egress(STRICT, resolver(answers))
    subscriptions = message_bus(uow, channels=channels(webhook_urls=strict), policy=DeliveryPolicy())
    secret = await subscriptions.handle(PutSubscription(
        sub_id="rebind", name="x", role="supervisor", area=("",), event_types=("supervision.escalation.raised",),
        channels=("webhook",), webhook_url="http://rebind.test/hook", caller_area=("",)))
    assert secret
    answers["rebind.test"] = ["127.0.0.1"]
    await add(uow, delivery(event_type="t", incident_id=uuid.uuid4(), channel="webhook",
                            recipient="subscription:rebind", address="http://rebind.test/hook", body="{}",
                            urgent=True, at=datetime.now(UTC)))
    webhook = SignedWebhook("hotline-secret", strict, deadline_seconds=1)
    try:
        await deliver_due(uow, 10, 3, 0.0, webhook=webhook)
    finally:
        await webhook.close()
    row = await pool.fetchrow("SELECT status, last_error FROM delivery")
    assert row["status"] == "dead"
    assert row["last_error"] == "refused: rebind.test resolves to 127.0.0.1, a loopback address"


async def test_the_transport_connects_only_to_an_address_it_checked_itself(deliverer_db):
    """The URL passed the check just before the send; the name answers differently when the connection is made:
    the transport resolves and checks again and connects to what it checked, never to what it did not."""
    pool, uow = deliverer_db
    async with receiver() as found:
        calls = {"n": 0}

        async def flipping(host: str, port: int) -> list[str]:
            calls["n"] += 1
            return ["93.184.216.34"] if calls["n"] == 1 else ["10.0.0.1"]

        webhook = SignedWebhook("hotline-secret", Egress(STRICT, flipping), deadline_seconds=1)
        await callbacks_to(uow, found.port, "/ok", host="flip.test")
        try:
            await deliver_due(uow, 10, 3, 0.0, webhook=webhook)
        finally:
            await webhook.close()
        assert found.hits == []
    status, error = (await outcomes(pool))["/ok"]
    assert status == "dead" and error == "refused: flip.test resolves to 10.0.0.1, a private address"
