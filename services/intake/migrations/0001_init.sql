CREATE TABLE category (
    code            text PRIMARY KEY,
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    default_owner   text NOT NULL,   -- a level (grid|community|street|district) or dept:<kind>
    default_urgency text NOT NULL CHECK (default_urgency IN ('normal', 'urgent', 'emergency'))
);

CREATE TABLE incident (
    id           uuid PRIMARY KEY,
    source       text NOT NULL,
    category     text NOT NULL REFERENCES category (code),
    urgency      text NOT NULL CHECK (urgency IN ('normal', 'urgent', 'emergency')),
    title        text NOT NULL,
    description  text NOT NULL DEFAULT '',
    lon          double precision,
    lat          double precision,
    address      text,
    grid_code    text,
    reporter     jsonb,
    attachments  jsonb NOT NULL DEFAULT '[]',
    reported_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    status       text NOT NULL,
    owner        jsonb,
    co_owners    jsonb NOT NULL DEFAULT '[]',
    version      integer NOT NULL DEFAULT 1,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_status_received ON incident (status, received_at DESC, id);
CREATE INDEX incident_grid ON incident (grid_code text_pattern_ops);

CREATE TABLE timeline_entry (
    id           bigserial PRIMARY KEY,
    incident_id  uuid NOT NULL REFERENCES incident (id),
    at           timestamptz NOT NULL,
    action       text NOT NULL,
    actor        text,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_entry_incident ON timeline_entry (incident_id, id);
