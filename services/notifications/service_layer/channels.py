"""The providers deliveries go through, as the deliverer sees them (adapters/ implements them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notifications.domain.delivery import Attempt, ChannelName, Outgoing


class Channel(Protocol):
    async def send(self, delivery: Outgoing) -> Attempt:
        """One try; a provider's refusal is an Attempt, never an exception (an exception is a bug)."""
        ...


class WebhookUrls(Protocol):
    async def refusal(self, url: str) -> str | None:
        """Why a webhook may not go to this URL (scheme, or an address that is not public: shared/egress.py);
        None when it may. The webhook channel asks again at every send."""
        ...


@dataclass(frozen=True)
class Channels:
    """SMS through an HTTP gateway, email over SMTP, signed webhooks (12345 and subscribers), and where webhooks
    may go (asked when a subscription is put)."""

    sms: Channel
    email: Channel
    webhook: Channel
    webhook_urls: WebhookUrls

    def __getitem__(self, name: ChannelName) -> Channel:
        return {"sms": self.sms, "email": self.email, "webhook": self.webhook}[name]
