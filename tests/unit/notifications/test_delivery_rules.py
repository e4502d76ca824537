import random
from datetime import UTC, datetime

import pytest

from services.notifications.domain.delivery import Attempt, backoff_seconds, judge
from services.notifications.domain.templates import light_values, render, sms_segments


@pytest.mark.parametrize("code, attempts, outcome", [
    (200, 1, "sent"), (201, 1, "sent"),
    (400, 1, "dead"), (410, 1, "gone"), (404, 1, "dead"), (422, 1, "dead"),
    (429, 1, "retry"), (408, 1, "retry"), (500, 1, "retry"), (503, 5, "retry"), (None, 1, "retry"),
    (500, 6, "dead"), (None, 6, "dead"),
])
def test_what_an_answer_means(code, attempts, outcome):
    assert judge(Attempt(code), attempts, max_attempts=6) == outcome


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(7)
    first = [backoff_seconds(1, 1.0, rng=rng) for _ in range(50)]
    fourth = [backoff_seconds(4, 1.0, rng=rng) for _ in range(50)]
    assert all(0.5 <= s <= 1.0 for s in first)
    assert all(4.0 <= s <= 8.0 for s in fourth)
    assert len(set(fourth)) > 1
    assert backoff_seconds(30, 1.0, cap=60, rng=rng) <= 60


def test_light_sms_is_chinese_signed_and_shows_the_local_due_time():
    due = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # 17:30 in Shanghai
    text = render("sms.light_yellow", None,
                  light_values("0f1e2d3c-aaaa-bbbb-cccc-000000000000", "city.garbage", "sign", "yellow", due))
    assert text.startswith("【网格督办】案件0f1e2d3c")
    assert "签收" in text and "黄灯" in text and "11月24日17:30" in text
    red = render("sms.light_red", None, light_values("0f1e2d3c", "city.garbage", "handle", "red", due))
    assert "红灯" in red and "办理" in red
    assert len(sms_segments(text)) == 1


def test_quiet_hours_hold_until_the_morning_and_handle_the_window_over_midnight():
    from services.notifications.domain.delivery import SHANGHAI, quiet_until

    def sh(d, h, m=0):
        return datetime(2026, 11, d, h, m, tzinfo=SHANGHAI)

    assert quiet_until(sh(23, 23, 30), "22:00", "07:00") == sh(24, 7)
    assert quiet_until(sh(24, 3, 0), "22:00", "07:00") == sh(24, 7)
    assert quiet_until(sh(24, 7, 0), "22:00", "07:00") is None
    assert quiet_until(sh(24, 12, 0), "22:00", "07:00") is None
    assert quiet_until(sh(24, 12, 30), "12:00", "14:00") == sh(24, 14)  # a lunch-time window
    assert quiet_until(sh(24, 15, 0).astimezone(UTC), "12:00", "14:00") is None
