from __future__ import annotations

import asyncpg

from services.notifications.adapters.repository import NotificationsRepository
from shared.clock import Clock
from shared.db.unit_of_work import PgUnitOfWork


class NotificationsUnitOfWork(PgUnitOfWork):
    notifications: NotificationsRepository

    def __init__(self, pool: asyncpg.Pool, clock: Clock, hotline_callback_url: str = "",
                 sms_max_segments: int = 3, sms_bundle_seconds: float = 0.0,
                 sms_quiet_hours: tuple[str, str] | None = None) -> None:
        super().__init__(pool, "/notifications", clock)
        self.hotline_callback_url = hotline_callback_url
        self.sms_max_segments = sms_max_segments
        self.sms_bundle_seconds = sms_bundle_seconds
        self.sms_quiet_hours = sms_quiet_hours

    def attach(self, conn: asyncpg.Connection) -> None:
        self.notifications = NotificationsRepository(conn)
