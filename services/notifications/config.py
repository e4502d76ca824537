from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, local_database_url

# Each direction of the 12345 link has its own secret: intake checks what 12345 sends with INTAKE_HOTLINE_SECRET
# (dev default `hotline-dev-secret`), we sign our callbacks to 12345 with this one.
DEV_HOTLINE_CALLBACK_SECRET = "hotline-callback-dev-secret"
DEV_SUBSCRIPTION_SECRET_KEY = "subscription-secret-key-dev"


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore", populate_by_name=True)

    database_url: str = local_database_url("notifications")
    http_port: int = 8004
    # The centre's live alert stream (SSE): one reader of the alert table per process feeds every stream
    # (entrypoints/alert_fanout.py). Open streams are capped per caller and per process (429 beyond); a hole in
    # the alert ids (an insert not yet committed) is waited for this long before it is passed.
    sse_poll_seconds: float = Field(0.25, gt=0, le=10)
    sse_max_streams_per_caller: int = Field(3, ge=1)
    sse_max_streams: int = Field(200, ge=1)
    sse_gap_grace_seconds: float = Field(2.0, ge=0)
    sms_url: str = "http://127.0.0.1:8025/sms"
    # 12345 status callbacks (signed like the 12345 webhook); the local gateway records them. https outside dev/test.
    hotline_callback_url: str = "http://127.0.0.1:8025/webhook"
    # What we sign the callbacks to 12345 with (X-Hotline-Signature): never the secret 12345 signs to us with.
    hotline_callback_secret: SecretStr = SecretStr(DEV_HOTLINE_CALLBACK_SECRET)
    # Each webhook subscriber signs with its own secret (made at creation, shown once, rotatable), kept in the
    # subscription table sealed with AES-256-GCM under a key derived from this one (adapters/secret_box.py).
    subscription_secret_key: SecretStr = SecretStr(DEV_SUBSCRIPTION_SECRET_KEY)
    # Earlier keys, comma-separated, still tried when opening a sealed secret (while moving to a new key: rotate
    # each subscriber's secret, which seals it under the new key, then drop the old one from here).
    subscription_secret_old_keys: SecretStr = SecretStr("")
    # Where webhooks may go. Outside dev and test: https only, and never to an address that is not public
    # (loopback, private, link-local, multicast, reserved, cloud metadata), checked when a subscription is put and
    # again at every send, connecting to the address checked. `webhook_allow_local` lets loopback and private
    # receivers through (the local gateway, tests, compose's network): on by default in dev and test only, refused
    # elsewhere. `webhook_allow_networks` (CIDRs, comma-separated) opens chosen private networks in any ENV, e.g.
    # the government network 12345 sits on; neither ever opens cloud metadata addresses.
    webhook_allow_local: bool | None = None
    webhook_allow_networks: str = ""
    # Every HTTP send (SMS gateway, webhooks) ends within its deadline, whatever the receiver does (connect, send,
    # answer, trickle), reads at most response_max_bytes of the answer and never follows a redirect.
    webhook_timeout_seconds: float = Field(5.0, gt=0, le=60)
    response_max_bytes: int = Field(16_384, ge=0, le=1_048_576)
    sms_timeout_seconds: float = 5.0
    # Chinese SMS go as UCS-2: 70 characters alone, 67 per part; longer texts are cut to this many parts.
    sms_max_segments: int = Field(3, ge=1, le=10)
    # Non-urgent SMS wait this long to gather a burst to one phone into one message, and a phone gets at
    # most one non-urgent SMS per window (red lights, yellow-card, red-card and leader 督办, emergencies go at once).
    sms_bundle_seconds: float = Field(60.0, ge=0)
    # Night for everyone's phone (Shanghai time): non-urgent SMS wait until it ends; red lights, 督办 from the
    # yellow card up (it fires at the red light) and emergencies never wait. A subscription's own quiet hours
    # replace it; "" turns it off.
    sms_quiet_hours: str = Field("22:00-07:00", pattern=r"^(([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d)?$")

    def quiet_hours(self) -> tuple[str, str] | None:
        start, _, end = self.sms_quiet_hours.partition("-")
        return (start, end) if start and start != end else None
    delivery_max_attempts: int = 6
    delivery_backoff_seconds: float = 1.0
    deliver_batch: int = 100
    # Sends under way at once in one deliverer (one receiver's still go one after the other), so a slow
    # provider does not hold the others up. Kept small: httpx's pool scans every connection on each request,
    # so against the local gateway 4 gave 1,100 SMS/s at 0.74 ms CPU each, 16 gave 640/s at 1.4 ms.
    deliver_concurrency: int = 4
    # Email over SMTP; the local gateway's sink listens on smtp_sink_port in development.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_from: str = "grid-notifications@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    # The local gateway (development and tests): SMS and webhooks over HTTP, an SMTP sink, one log.
    sms_gateway_host: str = "127.0.0.1"
    sms_gateway_port: int = 8025
    smtp_sink_port: int = 1025
    sms_gateway_log: str = ".run/sms-gateway.jsonl"

    @field_validator("webhook_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"NOTIFICATIONS_WEBHOOK_ALLOW_NETWORKS: {item.strip()!r} is not a CIDR network "
                                     "(e.g. 10.20.0.0/16)") from exc
        return value

    def allows_local_webhooks(self) -> bool:
        """Loopback and private webhook receivers: the setting, else on in dev and test only."""
        return self.is_dev if self.webhook_allow_local is None else self.webhook_allow_local

    def webhook_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item.strip(), strict=False)
                     for item in self.webhook_allow_networks.split(",") if item.strip())

    def subscription_secret_keys(self) -> list[str]:
        """The key that seals subscribers' secrets, then the older ones still read."""
        old = [k.strip() for k in self.subscription_secret_old_keys.get_secret_value().split(",") if k.strip()]
        return [self.subscription_secret_key.get_secret_value(), *old]

    def dev_secrets(self) -> list[str]:
        left = super().dev_secrets()
        if self.hotline_callback_secret.get_secret_value() == DEV_HOTLINE_CALLBACK_SECRET:
            left.append("NOTIFICATIONS_HOTLINE_CALLBACK_SECRET")
        if self.subscription_secret_key.get_secret_value() == DEV_SUBSCRIPTION_SECRET_KEY:
            left.append("NOTIFICATIONS_SUBSCRIPTION_SECRET_KEY")
        return left

    def signing_secrets(self) -> dict[str, SecretStr]:
        return {**super().signing_secrets(), "NOTIFICATIONS_HOTLINE_CALLBACK_SECRET": self.hotline_callback_secret,
                "NOTIFICATIONS_SUBSCRIPTION_SECRET_KEY": self.subscription_secret_key}

    def refusals(self) -> list[str]:
        reasons = super().refusals()
        if self.webhook_allow_local:
            reasons.append("NOTIFICATIONS_WEBHOOK_ALLOW_LOCAL lets webhooks reach loopback and private addresses: "
                           "dev and test only (open a chosen network with NOTIFICATIONS_WEBHOOK_ALLOW_NETWORKS)")
        if urlsplit(self.hotline_callback_url).scheme != "https":
            reasons.append("NOTIFICATIONS_HOTLINE_CALLBACK_URL must be an https URL outside dev and test")
        return reasons
