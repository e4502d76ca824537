"""In-memory stand-ins for intake's repository and unit of work (unit tests: no sockets)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.intake.domain.commands import ReportIncident
from services.intake.domain.duplicates import Candidate, DuplicatePolicy
from services.intake.domain.model import Incident
from shared.calendar import WorkCalendar
from shared.clock import FixedClock
from shared.db.unit_of_work import FakeUnitOfWork
from shared.events.intake import Point

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class FakeIncidents:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Incident] = {}
        self.timeline: list = []
        self.keys: dict = {}

    async def claim_idempotency_keys(self, claims):
        earlier = {(scope, key): self.keys[(scope, key)] for scope, key, _, _ in claims if (scope, key) in self.keys}
        for scope, key, fingerprint, incident_id in claims:
            self.keys.setdefault((scope, key), (fingerprint, incident_id))
        return earlier

    async def duplicate_candidates(self, lookups):
        return [[Candidate(i.id, i.location.lon, i.location.lat) for i in self.rows.values()
                 if i.category == q.category and i.received_at >= q.since and i.is_open and i.duplicate_of is None
                 and i.location and abs(i.location.lon - q.lon) <= q.half_lon
                 and abs(i.location.lat - q.lat) <= q.half_lat] for q in lookups]

    async def open_duplicates_of(self, master_id):
        return sorted((i.id for i in self.rows.values() if i.duplicate_of == master_id and i.is_open), key=str)

    async def category_codes(self) -> set[str]:
        return {"city.garbage", "safety.gas"}

    async def add_all(self, incidents: list[Incident]) -> None:
        for incident in incidents:
            self.rows[incident.id] = incident
            self.timeline += incident.new_timeline
            incident.new_timeline = []

    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        return self.rows.get(incident_id)

    async def get_many(self, incident_ids):
        return {i: self.rows[i] for i in incident_ids if i in self.rows}

    async def save(self, incident: Incident) -> None:
        await self.add_all([incident])


class FakeIntakeUoW(FakeUnitOfWork):
    calendar = WorkCalendar()
    duplicates = DuplicatePolicy(radius_m=50, window=timedelta(hours=24))

    def __init__(self) -> None:
        super().__init__("/intake", FixedClock(NOW))
        self.incidents = FakeIncidents()


def report(**overrides) -> ReportIncident:
    fields = dict(source="gridworker", category="city.garbage", urgency="normal", title="路边垃圾堆积",
                  location=Point(lon=120.05, lat=31.1))
    return ReportIncident(**{**fields, **overrides})
