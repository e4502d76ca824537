CREATE EXTENSION IF NOT EXISTS postgis;

-- The grid registry: district (6) → street (9) → community (12) → grid (15) → micro grid (18).
CREATE TABLE grid (
    code            text PRIMARY KEY CHECK (code ~ '^[0-9]+$' AND length(code) IN (6, 9, 12, 15, 18)),
    name            text NOT NULL,
    level           text NOT NULL CHECK (level IN ('district', 'street', 'community', 'grid', 'micro')),
    kind            text NOT NULL CHECK (kind IN ('territorial', 'comprehensive', 'dedicated', 'micro')),
    parent_code     text REFERENCES grid (code),
    dedicated_type  text,
    geom            geometry(MultiPolygon, 4326) NOT NULL,
    imported_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX grid_geom ON grid USING gist (geom);
CREATE INDEX grid_parent ON grid (parent_code);

-- Bumped by every import so each process reloads its in-memory locator.
CREATE TABLE registry_version (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    version  bigint NOT NULL
);
INSERT INTO registry_version VALUES (true, 0);

CREATE TABLE unit (
    id          text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('grid', 'community', 'street', 'district', 'department')),
    name        text NOT NULL,
    area        text[] NOT NULL DEFAULT '{}',   -- grid-code prefixes the unit answers for
    department  text,                           -- for kind=department: municipal, water, police, ...
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE worker (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    phone       text NOT NULL,
    unit_id     text REFERENCES unit (id),
    grid_codes  text[] NOT NULL DEFAULT '{}',
    on_duty     boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_grids ON worker USING gin (grid_codes);

-- Routing's own copy of what it needs from intake, plus who owns the case now.
CREATE TABLE routed_incident (
    incident_id     uuid PRIMARY KEY,
    category        text NOT NULL,
    urgency         text NOT NULL,
    lon             double precision,
    lat             double precision,
    address         text,
    grid_code       text,
    current_unit_id text,
    received_at     timestamptz NOT NULL
);

CREATE TABLE assignment (
    id           bigserial PRIMARY KEY,
    incident_id  uuid NOT NULL,
    at           timestamptz NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('assigned', 'reassigned', 'unroutable', 'dispatched')),
    unit_id      text,
    worker_id    text,
    grid_code    text,
    reason       text NOT NULL
);
CREATE INDEX assignment_incident ON assignment (incident_id, id);
