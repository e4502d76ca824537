"""Webhook subscriptions on a real database: signed, once per delivery, in order per receiver, and a
receiver answering 410 Gone switches its subscription off."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.notifications.adapters.local_sms_gateway import create_gateway_app
from services.notifications.adapters.webhook import SignedWebhook
from services.notifications.config import NotificationsSettings
from services.notifications.entrypoints.http import create_app
from shared.auth import issue_token
from shared.db.migrate import migrate
from shared.events.envelope import Envelope
from shared.events.supervision import EscalationRaised
from shared.settings import DEV_JWT_SECRET
from tests.integration.notifications_bus import add, deliver_due, delivery
from tests.support import SERVICE_DIRS, handle, serving

ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'admin', 'admin', [''])}"}
SECRET = "subscriber-secret"
OPS = {"name": "区指挥中心值班系统", "webhook_url": "http://gateway/hooks/ops", "role": "supervisor",
       "area": ["320508"], "event_types": ["supervision.escalation.raised"], "channels": ["webhook"]}


@pytest.fixture
async def stack(fresh_database, tmp_path):
    dsn = await fresh_database("hooks")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    gateway_app = create_gateway_app(tmp_path / "gw.jsonl", webhook_secret=SECRET)
    async with serving(gateway_app) as gateway, serving(create_app(NotificationsSettings(database_url=dsn))) as api:
        channel = SignedWebhook("hotline-secret", SECRET, transport=httpx.ASGITransport(gateway_app))
        yield api, gateway, channel
        await channel.close()


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
    assert (await api.put("/v1/subscriptions/ops", json=OPS, headers=ADMIN)).status_code == 200
    incident = await escalate(api)
    assert await deliver_due(api.app.state.container.uow, 10, 3, 0.0, webhook=webhook) == 1
    [received] = (await gateway.get("/hooks/ops")).json()   # the gateway checked X-Grid-Signature
    assert received["body"]["type"] == "supervision.escalation.raised"
    assert received["body"]["subscription"] == "ops"
    assert received["body"]["data"]["incident_id"] == str(incident)
    assert received["body"]["data"]["level"] == "yellow_card"
    [delivery] = await deliveries(api)
    assert delivery["status"] == "sent" and received["idempotency_key"] == str(delivery["id"])


async def test_a_wrongly_signed_webhook_is_refused_and_dead(stack, tmp_path):
    api, gateway, _ = stack
    await api.put("/v1/subscriptions/ops", json=OPS, headers=ADMIN)
    await escalate(api)
    forged = SignedWebhook("hotline-secret", "not-the-secret", transport=httpx.ASGITransport(gateway.app))
    await deliver_due(api.app.state.container.uow, 10, 3, 0.0, webhook=forged)
    [delivery] = await deliveries(api)
    assert delivery["status"] == "dead" and "401" in delivery["last_error"]
    assert (await gateway.get("/hooks/ops")).json() == []
    await forged.close()


async def test_a_receiver_answering_410_disables_its_subscription(stack):
    api, gateway, webhook = stack
    await api.put("/v1/subscriptions/ops", json=OPS, headers=ADMIN)
    await api.put("/v1/subscriptions/other", json={**OPS, "webhook_url": "http://gateway/hooks/other"},
                  headers=ADMIN)
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
    await api.put("/v1/subscriptions/ops", json=OPS, headers=ADMIN)
    incident = await escalate(api)
    await gateway.post("/control", json={"fail_next": 1, "status": 503})  # the subscriber is down a while
    container = api.app.state.container
    await add(container.uow, delivery(                       # then a 12345 callback for the same case
        event_type="intake.incident.signed", incident_id=incident, channel="webhook", recipient="12345:GD-1",
        address="http://gateway/webhook", body='{"order_no": "GD-1"}', urgent=True, at=datetime.now(UTC)))
    await deliver_due(container.uow, 10, 3, 0.0, webhook=webhook)
    status = {d["recipient"]: d["status"] for d in await deliveries(api)}
    assert status == {"subscription:ops": "pending", "12345:GD-1": "sent"}
