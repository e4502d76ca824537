"""Delivery discipline: what a provider's answer means and when to try again. Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Outcome = Literal["sent", "retry", "dead", "gone"]
SHANGHAI = ZoneInfo("Asia/Shanghai")


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
