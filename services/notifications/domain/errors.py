"""Notifications' refusals (DESIGN.md §5), each one of the shared families with the HTTP status it means."""

from __future__ import annotations

from shared.errors import Forbidden, Invalid, NotFound


class TemplateInvalid(Invalid):
    """Why a template text cannot be stored: the field to blame is the request's `body`."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="body", type_="template")


class UnknownTemplate(NotFound):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no template {name}; known: {', '.join(known)}")


class UnknownSubscription(NotFound):
    def __init__(self, sub_id: str) -> None:
        super().__init__(f"no subscription {sub_id}")


class UnknownContact(NotFound):
    """No contact for the unit, or one outside the caller's area (as if absent)."""

    def __init__(self, unit_code: str) -> None:
        super().__init__(f"no contact for unit {unit_code}")


class OutsideArea(Forbidden):
    """A subscription or contact the caller's area does not cover."""


class WebhookUrlRefused(Invalid):
    """A webhook URL webhooks may not go to: not https outside dev and test, or a host that is not public
    (loopback, private, link-local, metadata, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook_url refused: {reason}", field="webhook_url", type_="webhook_url")
