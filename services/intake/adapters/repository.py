"""Postgres persistence of the case record and its timeline."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pydantic_core

from services.intake.domain.attachments import Attachment, AttachmentStatus, GeoTag, MediaType, UploadKey
from services.intake.domain.duplicates import Candidate, DuplicateLookup
from services.intake.domain.hotline import MappingRule
from services.intake.domain.model import Incident, Status
from shared.db.queries import Queries, array_columns
from shared.events.envelope import Envelope
from shared.events.intake import Point
from shared.messaging import outbox

QUERIES = Queries.load(Path(__file__).with_name("queries.sql"))


class CategoryCache:
    """The category codes, read once a minute per process rather than on every report."""

    def __init__(self, ttl_seconds: float = 60.0) -> None:
        self._ttl = ttl_seconds
        self._codes: frozenset[str] = frozenset()
        self._loaded_at = -float("inf")

    async def codes(self, conn: asyncpg.Connection) -> frozenset[str]:
        if time.monotonic() - self._loaded_at > self._ttl:
            self._codes = frozenset(r["code"] for r in await conn.fetch(QUERIES.list_categories))
            self._loaded_at = time.monotonic()
        return self._codes


class IncidentRepository:
    """Cases, their timelines and the idempotency keys that created them."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def idempotency_holders(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, uuid.UUID]]:
        """Who holds these (scope, key) idempotency keys: (fingerprint of the request, its case)."""
        rows = await self._conn.fetch(QUERIES.get_idempotency_keys, *array_columns(sorted(keys), 2))
        return {(r["scope"], r["key"]): (r["fingerprint"], r["incident_id"]) for r in rows}

    async def action_key(self, scope: str, key: str) -> tuple[str, uuid.UUID, dict[str, Any]] | None:
        """Who holds an action's Idempotency-Key: (fingerprint of the request, its case, the first answer)."""
        row = await self._conn.fetchrow(QUERIES.get_action_key, scope, key)
        return (row["fingerprint"], row["incident_id"], row["answer"]) if row else None

    async def hold_action_key(self, scope: str, key: str, fingerprint: str, incident_id: uuid.UUID,
                              answer: dict[str, Any]) -> bool:
        """Claim an action's key with its answer; False when another request holds it already."""
        return bool(await self._conn.fetchval(QUERIES.hold_action_key, scope, key, fingerprint, incident_id, answer))

    async def by_order_no(self, order_no: str) -> Incident | None:
        """The case of a 12345 order; holds a per-order lock so concurrent resends queue up."""
        await self._conn.execute(QUERIES.lock_hotline_order, order_no)
        row = await self._conn.fetchrow(QUERIES.incident_by_order_no, order_no)
        return _to_incident(row) if row else None

    async def duplicate_candidates(self, lookups: list[DuplicateLookup]) -> list[list[Candidate]]:
        """For each lookup, the open cases it may duplicate (one statement for all of them)."""
        found: list[list[Candidate]] = [[] for _ in lookups]
        rows = await self._conn.fetch(QUERIES.duplicate_candidates, *array_columns(
            [(q.category, q.since, q.lon, q.lat, q.half_lon, q.half_lat) for q in lookups], 6))
        for r in rows:
            found[r["n"] - 1].append(Candidate(r["id"], r["lon"], r["lat"]))
        return found

    async def open_duplicates_of(self, master_id: uuid.UUID) -> list[uuid.UUID]:
        return [r["id"] for r in await self._conn.fetch(QUERIES.open_duplicates_of, master_id)]

    async def insert_cases(self, incidents: list[Incident], claims: Sequence[tuple[str, str, str, uuid.UUID]] = (),
                           envelopes: Sequence[Envelope] = ()) -> set[uuid.UUID]:
        """Insert new cases, their timelines, the idempotency keys they claim (scope, key, fingerprint, case) and
        their outbox rows, in one statement; returns the ids stored. A case whose key is already held is left out.

        A key claimed by a statement not yet committed makes this one wait until that one commits or rolls back.
        """
        if not incidents:
            return set()
        cases = [{"id": i.id, "source": i.source, "category": i.category, "urgency": i.urgency, "title": i.title,
                  "description": i.description, "lon": i.location.lon if i.location else None,
                  "lat": i.location.lat if i.location else None, "address": i.address, "grid_code": i.grid_code,
                  "reporter": i.reporter, "attachments": i.attachments, "reported_at": i.reported_at,
                  "received_at": i.received_at, "status": i.status.value, "owner": i.owner,
                  "co_owners": i.co_owners, "duplicate_of": i.duplicate_of, "hotline_order_no": i.hotline_order_no,
                  "deadline": i.deadline, "hotline": i.hotline}
                 for i in incidents]
        entries = [{"incident_id": i.id, "at": e.at, "action": e.action, "actor": e.actor, "detail": e.detail}
                   for i in incidents for e in i.new_timeline]
        fetches = [{"id": a.id, "incident_id": a.incident_id, "origin": a.origin, "source_url": a.source_url,
                    "filename": a.filename, "created_at": a.created_at}
                   for i in incidents for a in i.new_attachments]
        claimed = [{"scope": scope, "key": key, "fingerprint": fingerprint, "incident_id": incident_id}
                   for scope, key, fingerprint, incident_id in sorted(claims)]
        created = await self._conn.fetchval(
            QUERIES.insert_cases, _json_rows(claimed), _json_rows(cases), _json_rows(entries),
            *outbox.columns(list(envelopes)), outbox.NOTIFY_CHANNEL, _json_rows(fetches))
        for i in incidents:
            if i.id in created:
                i.version = 1
                i.new_timeline = []
                i.new_attachments = []
        return set(created)

    async def get_many(self, incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, Incident]:
        """Cases by id, unlocked (to answer with, not to change)."""
        return {r["id"]: _to_incident(r) for r in await self._conn.fetch(QUERIES.get_incidents, incident_ids)}

    async def get(self, incident_id: uuid.UUID) -> Incident | None:
        """Loads with a row lock: the caller's transaction owns the case until it commits."""
        row = await self._conn.fetchrow(QUERIES.get_incident_for_update, incident_id)
        return _to_incident(row) if row else None

    async def lock_many(self, incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, Incident]:
        """`get` for many cases in one round trip, each with its row lock."""
        return {r["id"]: _to_incident(r) for r in await self._conn.fetch(QUERIES.get_incidents_for_update,
                                                                          incident_ids)}

    async def due_to_resume(self, now: datetime, limit: int) -> list[Incident]:
        """Suspended cases whose `until` has come, locked (SKIP LOCKED: another resumer's are left to it)."""
        return [_to_incident(row) for row in await self._conn.fetch(QUERIES.incidents_due_to_resume, now, limit)]

    async def save(self, incident: Incident) -> None:
        """The case's changes and their timeline entries, in one statement; a case changed by someone else since
        it was read is a SerializationError (the caller's unit of work retries or answers 409)."""
        i = incident
        entries = [(e.at, e.action, e.actor, _json(e.detail)) for e in i.new_timeline]
        updated = await self._conn.fetchval(QUERIES.update_incident, *_changes(i, as_json=lambda value: value),
                                            *array_columns(entries, 4))
        if updated != 1:
            raise asyncpg.SerializationError(f"incident {i.id} changed concurrently")
        i.version += 1
        i.new_timeline = []

    async def save_many(self, incidents: Sequence[Incident]) -> None:
        """`save` for many cases (each once) in one statement (a consumer's run; the API's commands save one case
        with `save`, whose statement plans cheaper per request); any case changed by someone else since it was read
        is a SerializationError, and nothing is kept (the caller's transaction rolls back)."""
        if not incidents:
            return
        if len({i.id for i in incidents}) != len(incidents):
            raise ValueError("save_many takes each case once")  # a case twice would be updated once, then refused
        cases = [_changes(i, as_json=_json) for i in incidents]
        entries = [(i.id, e.at, e.action, e.actor, _json(e.detail)) for i in incidents for e in i.new_timeline]
        updated = await self._conn.fetchval(QUERIES.update_incidents, *array_columns(cases, 20),
                                            *array_columns(entries, 5))
        if updated != len(incidents):
            raise asyncpg.SerializationError(f"{len(incidents) - updated} of {len(incidents)} incidents changed "
                                             "concurrently")
        for i in incidents:
            i.version += 1
            i.new_timeline = []


class AttachmentRepository:
    """The record of each attachment (its bytes are in the object store: adapters/attachment_store.py)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, attachment: Attachment) -> bool:
        """Insert an upload; False when its Idempotency-Key is already held (that upload is the answer)."""
        a, key = attachment, attachment.upload_key
        return await self._conn.fetchval(
            QUERIES.insert_attachment, a.id, a.incident_id, a.origin, a.status.value, a.created_at, a.created_by,
            a.filename, a.source_url, *_stored_columns(a), a.next_attempt_at, key.scope if key else None,
            key.key if key else None, key.fingerprint if key else None) is not None

    async def save(self, attachment: Attachment) -> None:
        a = attachment
        await self._conn.execute(QUERIES.update_attachment, a.id, a.status.value, *_stored_columns(a),
                                 a.next_attempt_at)

    async def by_key(self, scope: str, key: str) -> Attachment | None:
        row = await self._conn.fetchrow(QUERIES.attachment_by_key, scope, key)
        return to_attachment(row) if row else None

    async def held(self, incident_id: uuid.UUID) -> int:
        return await self._conn.fetchval(QUERIES.attachments_held, incident_id)

    async def stored_ids(self, incident_id: uuid.UUID) -> set[uuid.UUID]:
        return {r["id"] for r in await self._conn.fetch(QUERIES.stored_attachment_ids, incident_id)}

    async def claim_due(self, now: datetime, limit: int) -> list[Attachment]:
        """Pending fetches that are due, locked until this transaction ends (SKIP LOCKED: another fetcher's are
        left to it)."""
        return [to_attachment(r) for r in await self._conn.fetch(QUERIES.claim_due_attachments, now, limit)]


def _stored_columns(a: Attachment) -> tuple[Any, ...]:
    """media_type … has_thumbnail, then stored_at, error, attempts: the columns a store or a failure sets."""
    gps = a.gps
    return (a.media_type.value if a.media_type else None, a.size_bytes, a.sha256, a.width, a.height, a.captured_at,
            gps.lon if gps else None, gps.lat if gps else None, gps.altitude_m if gps else None, a.camera,
            a.has_thumbnail, a.stored_at, a.error, a.attempts)


def to_attachment(row: asyncpg.Record | dict[str, Any]) -> Attachment:
    gps = GeoTag(lon=row["gps_lon"], lat=row["gps_lat"], altitude_m=row["gps_altitude_m"]) \
        if row["gps_lon"] is not None and row["gps_lat"] is not None else None
    key = UploadKey(row["idempotency_scope"], row["idempotency_key"], row["fingerprint"]) \
        if row["idempotency_key"] is not None else None
    return Attachment(
        id=row["id"], incident_id=row["incident_id"], origin=row["origin"], status=AttachmentStatus(row["status"]),
        created_at=row["created_at"], created_by=row["created_by"], filename=row["filename"],
        source_url=row["source_url"], media_type=MediaType(row["media_type"]) if row["media_type"] else None,
        size_bytes=row["size_bytes"], sha256=row["sha256"], width=row["width"], height=row["height"],
        captured_at=row["captured_at"], gps=gps, camera=row["camera"], has_thumbnail=row["has_thumbnail"],
        stored_at=row["stored_at"], error=row["error"], attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"], upload_key=key)


class CategoryRepository:
    def __init__(self, conn: asyncpg.Connection, cache: CategoryCache) -> None:
        self._conn = conn
        self._cache = cache

    async def codes(self) -> frozenset[str]:
        return await self._cache.codes(self._conn)

    async def default_urgency(self, category: str) -> str:
        return await self._conn.fetchval(QUERIES.category_default_urgency, category) or "normal"


class MappingRuleRepository:
    """The city's mapping of 12345 诉求分类 codes and names to our categories."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def all(self) -> list[MappingRule]:
        return await mapping_rules(self._conn)

    async def replace(self, rules: list[MappingRule]) -> None:
        """The whole mapping at once; a concurrent replace waits (orders still read the old one until commit)."""
        await self._conn.execute(QUERIES.lock_hotline_mapping)
        await self._conn.execute(QUERIES.delete_hotline_mapping)
        await self._conn.execute(QUERIES.insert_hotline_mapping,
                                 *array_columns([(r.kind, r.value, r.category) for r in rules], 3))


async def mapping_rules(conn: asyncpg.Connection | asyncpg.Pool) -> list[MappingRule]:
    rows = await conn.fetch(QUERIES.hotline_mapping)
    return [MappingRule(r["kind"], r["value"], r["category"]) for r in rows]


class SignatureRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def remember(self, signature: str) -> bool:
        return bool(await self._conn.fetchval(QUERIES.remember_signature, signature))


class HotlineEventRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record(self, event_id: str, order_no: str, kind: str, payload: dict[str, Any]) -> bool:
        return bool(await self._conn.fetchval(QUERIES.record_hotline_event, event_id, order_no, kind, payload))


class ApiKeyRepository:
    """The api_keys issued to Open311 public clients."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def client(self, api_key: str) -> str | None:
        return await self._conn.fetchval(QUERIES.open311_client, api_key)

    async def issue(self, api_key: str, client_name: str) -> None:
        await self._conn.execute(QUERIES.insert_open311_client, api_key, client_name)

    async def take_request(self, api_key: str, now: datetime) -> tuple[datetime, int]:
        """Count one request against the key's one-minute window: (when the window began, requests in it)."""
        row = await self._conn.fetchrow(QUERIES.take_open311_request, api_key, now)
        return row["window_start"], row["used"]


def _changes(i: Incident, as_json: Callable[[Any], Any]) -> tuple[Any, ...]:
    """A saved case's columns in update_incident's (and update_incidents') order, its jsonb values through `as_json`:
    a single parameter goes through the connection's jsonb codec as it is, an array parameter as text (`_json`)."""
    return (i.id, i.status.value, as_json(i.owner), as_json(i.co_owners), i.grid_code, i.return_count, i.signed_at,
            i.closed_at, i.suspended_from.value if i.suspended_from else None, as_json(i.pending_extension),
            i.extensions_granted, i.extension_working_days, i.merged_into, as_json(i.visit), i.version,
            max((e.at for e in i.new_timeline), default=None), i.suspended_until, as_json(i.pending_suspension),
            i.published_at, i.public_reply)


def _json_rows(rows: list[dict[str, Any]]) -> str:
    """Rows as one JSON array of objects, a statement's `jsonb_to_recordset` parameter: encoded by pydantic-core (its
    uuids, datetimes and nested jsonb values included) in one call, where typed array parameters cost asyncpg a
    codec call per value."""
    return pydantic_core.to_json(rows, fallback=str).decode()


def _json(value: Any) -> str | None:
    """jsonb in an array parameter goes as text (the connection's jsonb codec covers single values only)."""
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _to_incident(row: asyncpg.Record) -> Incident:
    lon, lat = row["lon"], row["lat"]
    return Incident(
        id=row["id"], source=row["source"], category=row["category"], urgency=row["urgency"],
        title=row["title"], description=row["description"],
        location=Point(lon=lon, lat=lat) if lon is not None and lat is not None else None,
        address=row["address"], grid_code=row["grid_code"], reporter=row["reporter"],
        attachments=list(row["attachments"]), reported_at=row["reported_at"],
        received_at=row["received_at"], status=Status(row["status"]), owner=row["owner"],
        co_owners=list(row["co_owners"]), return_count=row["return_count"], signed_at=row["signed_at"],
        closed_at=row["closed_at"],
        suspended_from=Status(row["suspended_from"]) if row["suspended_from"] else None,
        suspended_until=row["suspended_until"], pending_suspension=row["pending_suspension"],
        published_at=row["published_at"], public_reply=row["public_reply"],
        pending_extension=row["pending_extension"], extensions_granted=row["extensions_granted"],
        extension_working_days=row["extension_working_days"], merged_into=row["merged_into"],
        duplicate_of=row["duplicate_of"], hotline_order_no=row["hotline_order_no"], deadline=row["deadline"],
        visit=row["visit"], hotline=row["hotline"], version=row["version"],
    )
