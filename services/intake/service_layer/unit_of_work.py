"""Intake's unit of work: the Protocol its handlers are typed against, and its Postgres implementations.

Repositories are named in the plural for what they hold: `incidents` (cases, their timelines and the
idempotency keys that created them), `attachments` (the record of each case's files; their bytes are in the
object store), `categories`, `mapping_rules` (12345's categories → ours), `signatures` (12345 requests seen,
against replays), `hotline_events` (12345's events applied) and `api_keys` (Open311 clients).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, Self

import asyncpg

from services.intake.adapters.repository import (
    ApiKeyRepository,
    AttachmentRepository,
    CategoryCache,
    CategoryRepository,
    HotlineEventRepository,
    IncidentRepository,
    MappingRuleRepository,
    SignatureRepository,
)
from services.intake.domain.attachments import Attachment
from services.intake.domain.duplicates import Candidate, DuplicateLookup
from services.intake.domain.hotline import MappingRule
from services.intake.domain.model import Incident
from shared.clock import Clock
from shared.db.unit_of_work import PgUnitOfWork, PublishingUnitOfWork
from shared.events.envelope import Envelope

SOURCE = "/intake"
# (scope, key, fingerprint, case id): an Idempotency-Key a new case claims.
Claim = tuple[str, str, str, uuid.UUID]


class Incidents(Protocol):
    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        """Loads with a row lock: the caller's transaction owns the case until it commits."""
        ...

    async def get_many(self, incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, Incident]: ...

    async def lock_many(self, incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, Incident]:
        """`get` for many cases at once: each loaded with its row lock."""
        ...

    async def save(self, incident: Incident) -> None: ...

    async def save_many(self, incidents: Sequence[Incident]) -> None:
        """`save` for many cases (each once) at once."""
        ...

    async def insert_cases(self, incidents: list[Incident], claims: Sequence[Claim] = (),
                           envelopes: Sequence[Envelope] = ()) -> set[uuid.UUID]:
        """New cases with their timelines, claimed keys and outbox rows, at once; the ids stored."""
        ...

    async def by_order_no(self, order_no: str) -> Incident | None: ...

    async def due_to_resume(self, now: datetime, limit: int) -> list[Incident]:
        """Suspended cases whose `until` has come, locked; those another transaction holds are skipped."""
        ...

    async def duplicate_candidates(self, lookups: list[DuplicateLookup]) -> list[list[Candidate]]: ...

    async def open_duplicates_of(self, master_id: uuid.UUID) -> list[uuid.UUID]: ...

    async def idempotency_holders(self, keys: list[tuple[str, str]]
                                  ) -> dict[tuple[str, str], tuple[str, uuid.UUID]]: ...

    async def action_key(self, scope: str, key: str) -> tuple[str, uuid.UUID, dict[str, Any]] | None:
        """Who holds an action's Idempotency-Key: (fingerprint of the request, its case, the first answer)."""
        ...

    async def hold_action_key(self, scope: str, key: str, fingerprint: str, incident_id: uuid.UUID,
                              answer: dict[str, Any]) -> bool:
        """Claim an action's key with its answer; False when another request holds it already."""
        ...


class Attachments(Protocol):
    async def add(self, attachment: Attachment) -> bool:
        """Insert an upload; False when its Idempotency-Key is already held (that upload is the answer)."""
        ...

    async def save(self, attachment: Attachment) -> None: ...

    async def by_key(self, scope: str, key: str) -> Attachment | None: ...

    async def held(self, incident_id: uuid.UUID) -> int:
        """The places the case's attachments take (stored, and still to fetch)."""
        ...

    async def stored_ids(self, incident_id: uuid.UUID) -> set[uuid.UUID]: ...

    async def claim_due(self, now: datetime, limit: int) -> list[Attachment]:
        """Pending fetches that are due, locked until the unit of work ends; others' are skipped."""
        ...


class Categories(Protocol):
    async def codes(self) -> frozenset[str]: ...

    async def default_urgency(self, category: str) -> str: ...


class MappingRules(Protocol):
    async def all(self) -> list[MappingRule]: ...

    async def replace(self, rules: list[MappingRule]) -> None: ...


class Signatures(Protocol):
    async def remember(self, signature: str) -> bool:
        """False when this signature was already used (a replay)."""
        ...


class HotlineEvents(Protocol):
    async def record(self, event_id: str, order_no: str, kind: str, payload: dict[str, Any]) -> bool:
        """False when 12345 already sent this event."""
        ...


class ApiKeys(Protocol):
    async def client(self, api_key: str) -> str | None:
        """The public client an Open311 api_key was issued to."""
        ...

    async def issue(self, api_key: str, client_name: str) -> None: ...

    async def take_request(self, api_key: str, now: datetime) -> tuple[datetime, int]:
        """Count one request against the key's one-minute window: (when the window began, requests in it)."""
        ...


class IntakeUnitOfWork(PublishingUnitOfWork, Protocol):
    @property
    def incidents(self) -> Incidents: ...

    @property
    def attachments(self) -> Attachments: ...

    @property
    def categories(self) -> Categories: ...

    @property
    def mapping_rules(self) -> MappingRules: ...

    @property
    def signatures(self) -> Signatures: ...

    @property
    def hotline_events(self) -> HotlineEvents: ...

    @property
    def api_keys(self) -> ApiKeys: ...


class ReportUnitOfWork(IntakeUnitOfWork, Protocol):
    """Where new reports are taken in together (service_layer/group_commit.py): the cases added are written at
    commit, with the keys they claim and their events, in one statement."""

    stored: set[uuid.UUID]  # after commit: the cases written (not those whose key another request held)

    def add_cases(self, incidents: list[Incident], claims: list[Claim]) -> None: ...


class PgIntakeUnitOfWork(PgUnitOfWork):
    incidents: IncidentRepository
    attachments: AttachmentRepository
    categories: CategoryRepository
    mapping_rules: MappingRuleRepository
    signatures: SignatureRepository
    hotline_events: HotlineEventRepository
    api_keys: ApiKeyRepository

    def __init__(self, pool: asyncpg.Pool, clock: Clock, categories: CategoryCache | None = None) -> None:
        super().__init__(pool, SOURCE, clock)
        self._category_cache = categories or CategoryCache(ttl_seconds=0)

    def attach(self, conn: asyncpg.Connection) -> None:
        self.incidents = IncidentRepository(conn)
        self.attachments = AttachmentRepository(conn)
        self.categories = CategoryRepository(conn, self._category_cache)
        self.mapping_rules = MappingRuleRepository(conn)
        self.signatures = SignatureRepository(conn)
        self.hotline_events = HotlineEventRepository(conn)
        self.api_keys = ApiKeyRepository(conn)


class PgReportUnitOfWork(PgIntakeUnitOfWork):
    """New reports, taken in without a transaction around them: the cases, timelines, idempotency keys and outbox
    rows added here go to Postgres at commit as ONE statement, atomic by itself. That saves BEGIN and COMMIT, two
    of the four round trips of a batch of reports. The reads before it (categories, duplicates) see what a read
    committed transaction would see, since each of its statements takes a fresh snapshot anyway."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, categories: CategoryCache | None = None) -> None:
        super().__init__(pool, clock, categories)
        self._cases: list[Incident] = []
        self._claims: list[Claim] = []
        self.stored: set[uuid.UUID] = set()

    def add_cases(self, incidents: list[Incident], claims: list[Claim]) -> None:
        self._cases += incidents
        self._claims += claims

    async def __aenter__(self) -> Self:
        self.committed = False
        self._begin()
        self._cases, self._claims, self.stored = [], [], set()
        self.conn = await self._pool.acquire()  # no transaction: the one statement at commit is atomic
        self.attach(self.conn)
        return self

    async def commit(self) -> None:
        await self._write_outbox()  # no transaction to commit: the statement is the commit
        self.committed = True

    async def _write_outbox(self) -> None:
        self.stored = await self.incidents.insert_cases(self._cases, self._claims, self.events.pending)
