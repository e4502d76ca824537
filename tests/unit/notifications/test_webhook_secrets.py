"""Issue 15: each webhook subscriber its own signing secret (made at creation, shown once, rotatable, sealed at
rest), and webhook URLs checked when a subscription is put. Handlers over the in-memory store."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from services.notifications.adapters.secret_box import SecretBox
from services.notifications.domain.commands import DeliverDue, PutSubscription, RotateSubscriptionSecret
from services.notifications.domain.delivery import Delivery
from services.notifications.domain.errors import OutsideArea, UnknownSubscription, WebhookUrlRefused
from services.notifications.domain.subscriptions import new_secret
from tests.support import FixedClock
from tests.unit.notifications.fakes import FakeChannel, FakeWebhookUrls, NotificationsStore, fake_bus

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
HOOK = "https://hooks.example/ops"


def put(sub_id: str = "ops", url: str = HOOK, area: tuple[str, ...] = ("320508",),
        caller_area: tuple[str, ...] = ("",)) -> PutSubscription:
    return PutSubscription(sub_id=sub_id, name="值班系统", role="supervisor", area=area,
                           event_types=("supervision.escalation.raised",), channels=("webhook",), webhook_url=url,
                           caller_area=caller_area)


@pytest.fixture
def store() -> NotificationsStore:
    return NotificationsStore(FixedClock(NOW))


async def test_a_new_subscription_gets_its_own_secret_once(store):
    bus = fake_bus(store)
    first = await bus.handle(put("ops"))
    other = await bus.handle(put("board", "https://hooks.example/board"))
    assert first and other and first != other and len(first) >= 43
    assert await bus.handle(put("ops")) is None          # replacing it shows nothing and keeps the secret
    assert store.subscriptions.secret_of["ops"] == first


async def test_a_subscription_from_before_per_subscriber_secrets_gets_one_when_put_again(store):
    bus = fake_bus(store)
    await bus.handle(put("ops"))
    del store.subscriptions.secret_of["ops"]             # as a row from before migration 0014
    assert (secret := await bus.handle(put("ops"))) and store.subscriptions.secret_of["ops"] == secret


async def test_rotation_replaces_the_secret_and_is_scoped_like_any_write(store):
    bus = fake_bus(store)
    first = await bus.handle(put("ops"))
    second = await bus.handle(RotateSubscriptionSecret("ops", caller_area=("320508",)))
    assert second != first and store.subscriptions.secret_of["ops"] == second
    with pytest.raises(OutsideArea):
        await bus.handle(RotateSubscriptionSecret("ops", caller_area=("310101",)))
    with pytest.raises(UnknownSubscription):
        await bus.handle(RotateSubscriptionSecret("nope", caller_area=("",)))
    assert store.subscriptions.secret_of["ops"] == second


async def test_a_refused_webhook_url_is_a_422_naming_the_field_and_nothing_is_stored(store):
    urls = FakeWebhookUrls({"http://10.0.0.5/hook": "10.0.0.5 is a private address"})
    bus = fake_bus(store, webhook_urls=urls)
    with pytest.raises(WebhookUrlRefused) as refused:
        await bus.handle(put("ops", "http://10.0.0.5/hook"))
    assert refused.value.status == 422 and refused.value.errors[0]["field"] == "webhook_url"
    assert "private address" in refused.value.detail
    assert store.subscriptions.rows == {} and urls.asked == ["http://10.0.0.5/hook"]


async def test_each_subscribers_webhook_goes_out_with_its_own_secret_and_12345s_with_none(store):
    bus = fake_bus(store)
    secrets = {sub_id: await bus.handle(put(sub_id, f"https://hooks.example/{sub_id}")) for sub_id in ("a", "b")}
    for recipient, url in (("subscription:a", "https://hooks.example/a"), ("subscription:b", "https://hooks.example/b"),
                           ("subscription:gone", "https://hooks.example/gone"), ("12345:GD-1", "https://12345/cb")):
        await store.deliveries.add(Delivery(event_id=uuid.uuid4(), event_type="t", incident_id=uuid.uuid4(),
                                            channel="webhook", recipient=recipient, address=url,
                                            body=json.dumps({"to": recipient}), urgent=True, created_at=NOW,
                                            next_attempt_at=NOW))
    webhook = FakeChannel()
    await fake_bus(store, webhook=webhook).handle(DeliverDue(batch=10))
    secret_of = {out.recipient: out.secret for out in webhook.sent}
    assert secret_of == {"subscription:a": secrets["a"], "subscription:b": secrets["b"], "subscription:gone": None,
                         "12345:GD-1": None}
    assert all(out.secret not in repr(out) for out in webhook.sent if out.secret)  # never in a log line


def test_secrets_are_sealed_per_subscription_and_open_with_an_old_key_during_a_change():
    secret = new_secret()
    box = SecretBox(["key-one"])
    sealed = box.seal("ops", secret)
    assert secret.encode() not in sealed and box.seal("ops", secret) != sealed  # a fresh nonce each time
    assert box.open("ops", sealed) == secret
    assert box.open("board", sealed) is None                 # moved onto another subscription: does not open
    assert SecretBox(["key-two"]).open("ops", sealed) is None
    assert SecretBox(["key-two", "key-one"]).open("ops", sealed) == secret
    assert box.open("ops", b"\x02" + sealed[1:]) is None and box.open("ops", b"") is None
