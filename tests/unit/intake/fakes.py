"""In-memory stand-ins for intake's repositories and unit of work (unit tests: no sockets).

`IntakeStore` is the in-memory database of one test; every `FakeIntakeUnitOfWork` made on it sees the same
cases, as the bus makes a fresh unit of work for each command. `FakeIntake` is the bus as bootstrap
wires it, over such a store. mypy checks this module against the Protocols the handlers are typed with.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.adapters.images import PillowProcessor
from services.intake.bootstrap import message_bus
from services.intake.domain.attachments import Attachment, AttachmentPolicy, AttachmentStatus
from services.intake.domain.commands import ReportIncident
from services.intake.domain.duplicates import Candidate, DuplicateLookup, DuplicatePolicy
from services.intake.domain.hotline import MappingRule
from services.intake.domain.model import Incident, TimelineEntry
from services.intake.service_layer.attachments import (
    AttachmentServices,
    BlobMissing,
    BlobStore,
    FetchFailed,
    UrlFetcher,
)
from services.intake.service_layer.handlers import report_incidents
from services.intake.service_layer.unit_of_work import (
    ApiKeys,
    Attachments,
    Categories,
    Claim,
    HotlineEvents,
    Incidents,
    IntakeUnitOfWork,
    MappingRules,
    ReportUnitOfWork,
    Signatures,
)
from shared.events.envelope import Envelope
from shared.events.intake import Point
from tests.support import FixedClock
from tests.unit.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DUPLICATES = DuplicatePolicy(radius_m=50, window=timedelta(hours=24))
DEV_KEY = "open311-unit-key"


class FakeAttachments(Attachments):
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Attachment] = {}

    async def add(self, attachment: Attachment) -> bool:
        key = attachment.upload_key
        if key is not None and await self.by_key(key.scope, key.key) is not None:
            return False
        self.rows[attachment.id] = copy.deepcopy(attachment)
        return True

    async def save(self, attachment: Attachment) -> None:
        self.rows[attachment.id] = copy.deepcopy(attachment)

    async def by_key(self, scope: str, key: str) -> Attachment | None:
        return next((copy.deepcopy(a) for a in self.rows.values()
                     if a.upload_key and (a.upload_key.scope, a.upload_key.key) == (scope, key)), None)

    async def held(self, incident_id: uuid.UUID) -> int:
        return sum(1 for a in self.rows.values() if a.incident_id == incident_id and a.counts)

    async def stored_ids(self, incident_id: uuid.UUID) -> set[uuid.UUID]:
        return {a.id for a in self.rows.values()
                if a.incident_id == incident_id and a.status is AttachmentStatus.STORED}

    async def claim_due(self, now: datetime, limit: int) -> list[Attachment]:
        due = [a for a in self.rows.values() if a.status is AttachmentStatus.PENDING
               and a.next_attempt_at is not None and a.next_attempt_at <= now]
        return [copy.deepcopy(a) for a in sorted(due, key=lambda a: (a.next_attempt_at or now, str(a.id)))[:limit]]


class FakeIncidents(Incidents):
    def __init__(self, attachments: FakeAttachments | None = None) -> None:
        self.rows: dict[uuid.UUID, Incident] = {}
        self.timeline: list[TimelineEntry] = []
        self.keys: dict[tuple[str, str], tuple[str, uuid.UUID]] = {}
        self.action_keys: dict[tuple[str, str], tuple[str, uuid.UUID, dict[str, Any]]] = {}
        self.attachments = attachments or FakeAttachments()  # where a new case's URLs to fetch are written

    async def idempotency_holders(self, keys: list[tuple[str, str]]
                                  ) -> dict[tuple[str, str], tuple[str, uuid.UUID]]:
        return {k: self.keys[k] for k in keys if k in self.keys}

    async def action_key(self, scope: str, key: str) -> tuple[str, uuid.UUID, dict[str, Any]] | None:
        return self.action_keys.get((scope, key))

    async def hold_action_key(self, scope: str, key: str, fingerprint: str, incident_id: uuid.UUID,
                              answer: dict[str, Any]) -> bool:
        if (scope, key) in self.action_keys:
            return False
        self.action_keys[(scope, key)] = (fingerprint, incident_id, answer)
        return True

    async def duplicate_candidates(self, lookups: list[DuplicateLookup]) -> list[list[Candidate]]:
        return [[Candidate(i.id, i.location.lon, i.location.lat) for i in self.rows.values()
                 if i.category == q.category and i.received_at >= q.since and i.is_open and i.duplicate_of is None
                 and i.location and abs(i.location.lon - q.lon) <= q.half_lon
                 and abs(i.location.lat - q.lat) <= q.half_lat] for q in lookups]

    async def open_duplicates_of(self, master_id: uuid.UUID) -> list[uuid.UUID]:
        return sorted((i.id for i in self.rows.values() if i.duplicate_of == master_id and i.is_open), key=str)

    async def insert_cases(self, incidents: list[Incident], claims: Sequence[Claim] = (),
                           envelopes: Sequence[Envelope] = ()) -> set[uuid.UUID]:
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
            for attachment in incident.new_attachments:
                self.attachments.rows[attachment.id] = attachment
            incident.new_timeline, incident.new_attachments = [], []
        return {i.id for i in stored}

    async def by_order_no(self, order_no: str) -> Incident | None:
        return next((i for i in self.rows.values() if i.hotline_order_no == order_no), None)

    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        return self.rows.get(incident_id)

    async def due_to_resume(self, now: datetime, limit: int) -> list[Incident]:
        due = [i for i in self.rows.values() if i.status == "suspended" and i.suspended_until is not None
               and i.suspended_until <= now]
        return sorted(due, key=lambda i: i.suspended_until or now)[:limit]

    async def get_many(self, incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, Incident]:
        return {i: self.rows[i] for i in incident_ids if i in self.rows}

    async def lock_many(self, incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, Incident]:
        return await self.get_many(incident_ids)

    async def save(self, incident: Incident) -> None:
        self.rows[incident.id] = incident
        self.timeline += incident.new_timeline
        incident.new_timeline = []

    async def save_many(self, incidents: Sequence[Incident]) -> None:
        for incident in incidents:
            await self.save(incident)


class FakeCategories(Categories):
    async def codes(self) -> frozenset[str]:
        return frozenset({"city.garbage", "safety.gas", "triage.unknown"})

    async def default_urgency(self, category: str) -> str:
        return "urgent" if category == "safety.gas" else "normal"


class FakeMappingRules(MappingRules):
    def __init__(self) -> None:
        self.rules: list[MappingRule] = []

    async def all(self) -> list[MappingRule]:
        return list(self.rules)

    async def replace(self, rules: list[MappingRule]) -> None:
        self.rules = list(rules)


class FakeSignatures(Signatures):
    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def remember(self, signature: str) -> bool:
        if signature in self.seen:
            return False
        self.seen.add(signature)
        return True


class FakeHotlineEvents(HotlineEvents):
    def __init__(self) -> None:
        self.applied: dict[str, tuple[str, str, dict[str, Any]]] = {}

    async def record(self, event_id: str, order_no: str, kind: str, payload: dict[str, Any]) -> bool:
        if event_id in self.applied:
            return False
        self.applied[event_id] = (order_no, kind, payload)
        return True


class FakeApiKeys(ApiKeys):
    def __init__(self) -> None:
        self.clients: dict[str, str] = {}
        self.windows: dict[str, tuple[datetime, int]] = {}

    async def client(self, api_key: str) -> str | None:
        return self.clients.get(api_key)

    async def issue(self, api_key: str, client_name: str) -> None:
        self.clients[api_key] = client_name

    async def take_request(self, api_key: str, now: datetime) -> tuple[datetime, int]:
        start, used = self.windows.get(api_key, (now, 0))
        if start <= now - timedelta(minutes=1):
            start, used = now, 0
        self.windows[api_key] = (start, used + 1)
        return self.windows[api_key]


class FakeBlobStore(BlobStore):
    """The object store in memory (outside every transaction, like the real one)."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    async def put(self, key: str, data: bytes, media_type: str) -> None:
        self.objects[key] = (data, media_type)

    async def get(self, key: str) -> bytes:
        if key not in self.objects:
            raise BlobMissing(key)
        return self.objects[key][0]

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)


class FakeFetcher(UrlFetcher):
    """URLs answered from a table: bytes, or the FetchFailed they raise."""

    def __init__(self) -> None:
        self.answers: dict[str, bytes | FetchFailed] = {}
        self.fetched: list[str] = []

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        self.fetched.append(url)
        answer = self.answers.get(url, FetchFailed("HTTP 404", permanent=True))
        if isinstance(answer, FetchFailed):
            raise answer
        if len(answer) > max_bytes:
            raise FetchFailed("too large", permanent=True)
        return answer

    async def close(self) -> None:
        pass


POLICY = AttachmentPolicy(max_bytes=256 * 1024, max_per_case=3, max_pixels=4_000_000)


def attachment_services(policy: AttachmentPolicy = POLICY) -> AttachmentServices:
    return AttachmentServices(policy=policy, store=FakeBlobStore(), processor=PillowProcessor(),
                              fetcher=FakeFetcher(), fetch_max_attempts=3, fetch_backoff=timedelta(minutes=1))


class IntakeStore:
    """One test's database: what every unit of work made on it reads and writes."""

    def __init__(self) -> None:
        self.attachments = FakeAttachments()
        self.incidents = FakeIncidents(self.attachments)
        self.categories = FakeCategories()
        self.mapping_rules = FakeMappingRules()
        self.signatures = FakeSignatures()
        self.hotline_events = FakeHotlineEvents()
        self.api_keys = FakeApiKeys()
        self.published: list[Envelope] = []
        self.commits = 0

    def snapshot(self) -> Any:
        return copy.deepcopy((self.incidents.rows, self.incidents.timeline, self.incidents.keys,
                              self.mapping_rules.rules, self.signatures.seen, self.hotline_events.applied,
                              self.api_keys.clients, self.api_keys.windows, self.attachments.rows,
                              self.incidents.action_keys))

    def restore(self, snapshot: Any) -> None:
        (self.incidents.rows, self.incidents.timeline, self.incidents.keys, self.mapping_rules.rules,
         self.signatures.seen, self.hotline_events.applied, self.api_keys.clients,
         self.api_keys.windows, self.attachments.rows, self.incidents.action_keys) = copy.deepcopy(snapshot)


class FakeIntakeUnitOfWork(FakeUnitOfWork):
    """Both kinds of intake unit of work: cases added for a report batch are written at commit, with their keys
    (a case whose key another request holds is left out, with its events), as the report statement does."""

    def __init__(self, store: IntakeStore | None = None, clock: FixedClock | None = None) -> None:
        super().__init__("/intake", clock or FixedClock(NOW))
        self.store = store or IntakeStore()
        self.published = self.store.published
        self._cases: list[Incident] = []
        self._claims: list[Claim] = []
        self.stored: set[uuid.UUID] = set()

    @property
    def incidents(self) -> FakeIncidents:
        return self.store.incidents

    @property
    def attachments(self) -> FakeAttachments:
        return self.store.attachments

    @property
    def categories(self) -> FakeCategories:
        return self.store.categories

    @property
    def mapping_rules(self) -> FakeMappingRules:
        return self.store.mapping_rules

    @property
    def signatures(self) -> FakeSignatures:
        return self.store.signatures

    @property
    def hotline_events(self) -> FakeHotlineEvents:
        return self.store.hotline_events

    @property
    def api_keys(self) -> FakeApiKeys:
        return self.store.api_keys

    def add_cases(self, incidents: list[Incident], claims: list[Claim]) -> None:
        self._cases += incidents
        self._claims += claims

    def _begin(self) -> None:
        super()._begin()
        self._cases, self._claims, self.stored = [], [], set()
        self._snapshot = self.store.snapshot()

    async def rollback(self) -> None:
        """As a transaction would: what this unit of work wrote is undone (a handler that forgets to commit
        leaves the store as it was, so its test fails)."""
        self.store.restore(self._snapshot)
        await super().rollback()

    async def _write_outbox(self) -> None:
        if self._cases:
            self.stored = await self.incidents.insert_cases(self._cases, self._claims)
            batch = {str(i.id) for i in self._cases}
            self.events.pending = [e for e in self.events.pending
                                   if e.subject not in batch or uuid.UUID(e.subject) in self.stored]
        await super()._write_outbox()
        self.store.commits += 1


class ReportsOneByOne:
    """The report committer's contract without its queue: each report is a batch of one."""

    def __init__(self, store: IntakeStore) -> None:
        self.store = store

    async def submit(self, report: ReportIncident) -> Incident:
        [outcome] = await report_incidents([report], FakeIntakeUnitOfWork(self.store), DUPLICATES)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class FakeIntake:
    """Intake's bus as bootstrap wires it, over one in-memory store (and an in-memory object store, a URL table
    for fetches and the real Pillow processing: no sockets)."""

    def __init__(self, policy: AttachmentPolicy = POLICY) -> None:
        self.store = IntakeStore()
        self.clock = FixedClock(NOW)  # every unit of work reads it: `advance` moves the service's time
        self.files = attachment_services(policy)
        self.bus = message_bus(lambda: FakeIntakeUnitOfWork(self.store, self.clock),
                               reports=ReportsOneByOne(self.store), files=self.files,
                               duplicates=DUPLICATES, open311_dev_key=DEV_KEY)

    @property
    def blobs(self) -> FakeBlobStore:
        assert isinstance(self.files.store, FakeBlobStore)
        return self.files.store

    @property
    def fetcher(self) -> FakeFetcher:
        assert isinstance(self.files.fetcher, FakeFetcher)
        return self.files.fetcher


def report(**overrides: Any) -> ReportIncident:
    fields: dict[str, Any] = dict(source="gridworker", category="city.garbage", urgency="normal",
                                  title="路边垃圾堆积", location=Point(lon=120.05, lat=31.1))
    return ReportIncident(**{**fields, **overrides})


def _conforms(uow: FakeIntakeUnitOfWork) -> tuple[IntakeUnitOfWork, ReportUnitOfWork]:
    return uow, uow  # mypy: the fake meets the Protocols the handlers are typed against
