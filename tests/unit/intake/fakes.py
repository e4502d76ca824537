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

    async def idempotency_holders(self, keys):
        return {k: self.keys[k] for k in keys if k in self.keys}

    async def duplicate_candidates(self, lookups):
        return [[Candidate(i.id, i.location.lon, i.location.lat) for i in self.rows.values()
                 if i.category == q.category and i.received_at >= q.since and i.is_open and i.duplicate_of is None
                 and i.location and abs(i.location.lon - q.lon) <= q.half_lon
                 and abs(i.location.lat - q.lat) <= q.half_lat] for q in lookups]

    async def open_duplicates_of(self, master_id):
        return sorted((i.id for i in self.rows.values() if i.duplicate_of == master_id and i.is_open), key=str)

    async def category_codes(self) -> set[str]:
        return {"city.garbage", "safety.gas"}

    async def insert_cases(self, incidents: list[Incident], claims=(), envelopes=()) -> set[uuid.UUID]:
        refused = set()
        for scope, key, fingerprint, incident_id in claims:
            if (scope, key) in self.keys:
                refused.add(incident_id)
            else:
                self.keys[(scope, key)] = (fingerprint, incident_id)
        stored = [i for i in incidents if i.id not in refused]
        for incident in stored:
            self.rows[incident.id] = incident
            self.timeline += incident.new_timeline
            incident.new_timeline = []
        return {i.id for i in stored}

    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        return self.rows.get(incident_id)

    async def get_many(self, incident_ids):
        return {i: self.rows[i] for i in incident_ids if i in self.rows}

    async def save(self, incident: Incident) -> None:
        self.rows[incident.id] = incident
        self.timeline += incident.new_timeline
        incident.new_timeline = []


class FakeIntakeUoW(FakeUnitOfWork):
    calendar = WorkCalendar()
    duplicates = DuplicatePolicy(radius_m=50, window=timedelta(hours=24))

    def __init__(self) -> None:
        super().__init__("/intake", FixedClock(NOW))
        self.incidents = FakeIncidents()
        self._cases: list[Incident] = []
        self._claims: list = []
        self.stored: set[uuid.UUID] = set()

    def add_cases(self, incidents, claims) -> None:
        """As ReportUnitOfWork: written at commit, with their keys; a case whose key is held is left out."""
        self._cases += incidents
        self._claims += claims

    async def __aenter__(self):
        self._cases, self._claims, self.stored = [], [], set()
        return await super().__aenter__()

    async def _commit(self) -> None:
        self.stored = await self.incidents.insert_cases(self._cases, self._claims)
        self.pending = [e for e in self.pending if not self._cases or uuid.UUID(e.subject) in self.stored
                        or e.subject not in {str(i.id) for i in self._cases}]
        await super()._commit()


def report(**overrides) -> ReportIncident:
    fields = dict(source="gridworker", category="city.garbage", urgency="normal", title="路边垃圾堆积",
                  location=Point(lon=120.05, lat=31.1))
    return ReportIncident(**{**fields, **overrides})
