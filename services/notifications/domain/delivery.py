"""Delivery discipline: what a provider's answer means and when to try again. Pure."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Outcome = Literal["sent", "retry", "dead", "gone"]
SHANGHAI = ZoneInfo("Asia/Shanghai")
BUNDLE_NAMESPACE = uuid.UUID("6f1d3a52-8c1e-4f0a-9d7b-2b5e1c9a4e10")


def bundle_key(delivery_ids: Iterable[object]) -> str:
    """The idempotency key of a bundled SMS: its members', so the same bundle retried (after a crash
    between the provider's answer and our commit) is the same message to the provider, while a bundle a
    newer SMS joined is a new message: the newcomer is never dropped as a duplicate of the old one."""
    return str(uuid.uuid5(BUNDLE_NAMESPACE, ",".join(sorted(str(i) for i in delivery_ids))))


@dataclass(frozen=True)
class Outgoing:
    """One delivery as a channel sees it; `id` travels as the idempotency key (or email Message-ID)."""

    id: str
    channel: str
    recipient: str
    address: str
    body: str
    subject: str | None = None


@dataclass(frozen=True)
class Attempt:
    """The result of one try: the provider's success or HTTP status, or None when it gave none.

    Providers that do not speak HTTP (SMTP) report success as their 2xx reply and a failure as None,
    `permanent` when trying again cannot help (SMTP 5xx), not when it may (SMTP 4xx, no answer).
    """

    status_code: int | None
    error: str | None = None
    permanent: bool = False


def judge(attempt: Attempt, attempts_so_far: int, max_attempts: int) -> Outcome:
    """2xx → sent; 410 → gone (the receiver asks never to be called again); other 4xx (the request
    itself is wrong) or a permanent refusal → dead at once; 5xx/timeout → retry until the cap."""
    code = attempt.status_code
    if code is not None and 200 <= code < 300:
        return "sent"
    if attempt.permanent:
        return "dead"
    if code == 410:
        return "gone"
    if code is not None and 400 <= code < 500 and code not in (408, 429):
        return "dead"
    return "dead" if attempts_so_far >= max_attempts else "retry"


def backoff_seconds(attempts_so_far: int, base: float, cap: float = 300.0,
                    rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter (no herd of retries at the same instant)."""
    ceiling = min(cap, base * 2 ** max(0, attempts_so_far - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


def quiet_until(now: datetime, start: str, end: str, zone: ZoneInfo = SHANGHAI) -> datetime | None:
    """When an SMS held for quiet hours (e.g. 22:00–07:00, local time) may go; None outside them."""
    local = now.astimezone(zone)
    a, b = time.fromisoformat(start), time.fromisoformat(end)
    t = local.time()
    inside = (a <= t < b) if a < b else (t >= a or t < b)
    if not inside:
        return None
    release = datetime.combine(local.date(), b, zone)
    if release <= local:
        release += timedelta(days=1)
    return release


def hold_seconds(now: datetime, urgent: bool, quiet_release: datetime | None, bundle_seconds: float) -> float:
    """How long a new SMS waits before its first try. Urgent ones (red lights, red-card and leader 督办,
    emergencies) go at once. Others wait out quiet hours, and in any case one bundling window, so that a
    burst of reminders to one person goes as one message."""
    if urgent:
        return 0.0
    release = (quiet_release - now).total_seconds() if quiet_release else 0.0
    return max(release, bundle_seconds)


def rate_limited_until(last_sent_at: datetime | None, now: datetime, window_seconds: float) -> datetime | None:
    """A recipient gets at most one non-urgent SMS per window: when the next may go, or None if now."""
    if last_sent_at is None or window_seconds <= 0:
        return None
    allowed = last_sent_at + timedelta(seconds=window_seconds)
    return allowed if allowed > now else None


def bundle_items(summaries: list[str]) -> str:
    """The list inside a bundled SMS: 1.案件0f1e2d3c签收黄灯；2.…"""
    return "；".join(f"{i}.{summary}" for i, summary in enumerate(summaries, 1))
