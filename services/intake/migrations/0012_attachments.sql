-- Attachments of a case (domain/attachments.py): photos and PDFs, uploaded or fetched from a 12345 order's or an
-- Open311 request's URL. The bytes live in the object store (INTAKE_ATTACHMENTS_URL) under
-- <incident_id>/<id>.<ext> and <incident_id>/<id>.thumb.jpg; this row is the record: what it is, where it came
-- from, and what the photo said about itself (EXIF capture time and GPS, for 核查; never served with the image).
CREATE TABLE attachment (
    id                 uuid PRIMARY KEY,
    -- Deferred like idempotency_key's: a new case's pending fetches are written in the statement that writes it.
    incident_id        uuid NOT NULL REFERENCES incident (id) DEFERRABLE INITIALLY DEFERRED,
    origin             text NOT NULL CHECK (origin IN ('upload', 'hotline', 'open311')),
    status             text NOT NULL CHECK (status IN ('pending', 'stored', 'failed')),
    created_at         timestamptz NOT NULL,
    created_by         text,
    filename           text,
    source_url         text,
    media_type         text CHECK (media_type IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf')),
    size_bytes         bigint,            -- as served (a photo re-encoded without its EXIF)
    sha256             text,              -- of the file as received
    width              integer,
    height             integer,
    captured_at        timestamptz,       -- EXIF DateTimeOriginal (with its offset, else China time)
    gps_lon            double precision,  -- EXIF GPS, WGS84 as the camera recorded it
    gps_lat            double precision,
    gps_altitude_m     double precision,
    camera             text,
    has_thumbnail      boolean NOT NULL DEFAULT false,
    stored_at          timestamptz,
    error              text,              -- why a fetch failed (the last attempt's reason)
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz,       -- a pending fetch is due then
    -- An upload's Idempotency-Key (per caller): same key + same file → the first attachment; another → 409.
    idempotency_scope  text,
    idempotency_key    text,
    fingerprint        text,
    CHECK (status <> 'pending' OR source_url IS NOT NULL),
    CHECK (status <> 'stored' OR (media_type IS NOT NULL AND size_bytes IS NOT NULL AND sha256 IS NOT NULL))
);
CREATE INDEX attachment_incident ON attachment (incident_id, created_at, id);
CREATE UNIQUE INDEX attachment_idempotency ON attachment (idempotency_scope, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The fetcher's queue: only what is still to fetch.
CREATE INDEX attachment_due ON attachment (next_attempt_at) WHERE status = 'pending';
