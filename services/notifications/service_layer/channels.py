"""The providers deliveries go through, as the deliverer sees them (adapters/ implements them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notifications.domain.delivery import Attempt, ChannelName, Outgoing


class Channel(Protocol):
    async def send(self, delivery: Outgoing) -> Attempt:
        """One try; a provider's refusal is an Attempt, never an exception (an exception is a bug)."""
        ...


@dataclass(frozen=True)
class Channels:
    """SMS through an HTTP gateway, email over SMTP, signed webhooks (12345 and subscribers)."""

    sms: Channel
    email: Channel
    webhook: Channel

    def __getitem__(self, name: ChannelName) -> Channel:
        return {"sms": self.sms, "email": self.email, "webhook": self.webhook}[name]
