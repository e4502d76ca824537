"""Email over real SMTP: the aiosmtplib channel against the local gateway's SMTP sink (aiosmtpd)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.adapters.email import SmtpEmail
from services.notifications.adapters.local_sms_gateway import create_gateway_app
from services.notifications.config import NotificationsSettings
from services.notifications.domain.delivery import Outgoing, judge
from services.notifications.entrypoints.http import create_app
from shared.auth import issue_token
from shared.db.migrate import migrate
from shared.events.envelope import Envelope
from shared.events.supervision import EscalationRaised
from shared.settings import DEV_JWT_SECRET
from tests.e2e.stack import free_port
from tests.integration.notifications_bus import deliver_due
from tests.support import SERVICE_DIRS, handle, serving

ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'admin', 'admin', [''])}"}


@pytest.fixture
async def gateway(tmp_path):
    port = free_port()
    async with serving(create_gateway_app(tmp_path / "gw.jsonl", smtp_port=port)) as client:
        yield client, SmtpEmail("127.0.0.1", port, "grid@example.test", timeout_seconds=5)


def mail(to: str = "zhang@example.test", delivery_id: str | None = None) -> Outgoing:
    return Outgoing(delivery_id or str(uuid.uuid4()), "email", "contact:320508", to,
                    "案件0f1e2d3c（乱张贴、违规广告）办理已超时，请督促。", "【网格督办】黄牌督办：案件0f1e2d3c")


async def test_a_mail_reaches_the_sink_once_in_chinese(gateway):
    client, smtp = gateway
    outgoing = mail()
    first = await smtp.send(outgoing)
    again = await smtp.send(outgoing)              # a retry after a crash: same Message-ID
    assert judge(first, 1, 5) == "sent" and judge(again, 2, 5) == "sent"
    received = (await client.get("/mail", params={"to": "zhang@example.test"})).json()
    assert len(received) == 1
    assert received[0]["subject"] == "【网格督办】黄牌督办：案件0f1e2d3c"
    assert "办理已超时" in received[0]["text"]
    assert received[0]["idempotency_key"] == f"<{outgoing.id}@grid-notifications>"
    assert received[0]["from"] == "grid@example.test"


async def test_smtp_4xx_and_silence_retry_5xx_is_dead(gateway, tmp_path):
    client, smtp = gateway
    await client.post("/control", json={"mail_fail_next": 1, "mail_code": 451})
    busy = await smtp.send(mail())
    assert (judge(busy, 1, 5), busy.error[:8]) == ("retry", "SMTP 451")
    await client.post("/control", json={"mail_fail_next": 1, "mail_code": 550})
    refused = await smtp.send(mail())
    assert judge(refused, 1, 5) == "dead" and refused.permanent
    nobody = await SmtpEmail("127.0.0.1", free_port(), "grid@example.test", timeout_seconds=2).send(mail())
    assert judge(nobody, 1, 5) == "retry"
    assert (await client.get("/mail")).json() == []


@pytest.fixture
async def notifications(fresh_database):
    dsn = await fresh_database("email")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    async with serving(create_app(NotificationsSettings(database_url=dsn))) as client:
        yield client


async def test_a_subscription_with_email_gets_escalations_by_email(notifications, gateway):
    sink, smtp = gateway
    sub = {"name": "街道综治主任", "email": "street@example.test", "role": "supervisor", "area": ["320508019"],
           "event_types": ["supervision.escalation.raised"], "channels": ["email"]}
    assert (await notifications.put("/v1/subscriptions/street", json=sub, headers=ADMIN)).status_code == 200
    container = notifications.app.state.container
    now = datetime.now(UTC)
    event = EscalationRaised(incident_id=uuid.uuid4(), at=now, phase="handle", due_at=now - timedelta(days=1),
                             due_version=1, category="city.ads", urgency="normal", grid_code="320508019044001",
                             unit_id="grid-1", level="yellow_card", previous_level="reminder")
    await handle(container.bus, event, Envelope.wrap(event, source="/supervision", time=now))
    assert await deliver_due(container.uow, 10, 3, 0.0, email=smtp) == 1
    [delivery] = (await notifications.get("/v1/deliveries", params={"channel": "email"}, headers=ADMIN)).json()
    assert (delivery["status"], delivery["address"]) == ("sent", "street@example.test")
    [received] = (await sink.get("/mail", params={"to": "street@example.test"})).json()
    assert received["subject"].startswith("【网格督办】黄牌督办")
    assert "黄牌督办" in received["text"]
