-- Who owns each case now (from routing.assignments.v1): the people told without a subscription.
CREATE TABLE case_owner (
    incident_id   uuid PRIMARY KEY,
    unit_id       text NOT NULL,
    unit_name     text NOT NULL,
    worker_id     text,
    worker_name   text,
    worker_phone  text,
    grid_code     text,
    category      text NOT NULL,
    urgency       text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per (event, recipient, channel): the uniqueness is what makes a delivery happen once.
CREATE TABLE delivery (
    id               uuid PRIMARY KEY,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    incident_id      uuid,
    channel          text NOT NULL CHECK (channel IN ('sms', 'email', 'webhook', 'sse')),
    recipient        text NOT NULL,
    address          text NOT NULL,
    body             text NOT NULL,
    urgent           boolean NOT NULL DEFAULT false,
    status           text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    UNIQUE (event_id, recipient, channel)
);
CREATE INDEX delivery_due ON delivery (next_attempt_at) WHERE status = 'pending';
CREATE INDEX delivery_incident ON delivery (incident_id, created_at);

-- Live alerts for supervisors (SSE); the id is the stream's Last-Event-ID.
CREATE TABLE alert (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    event_type   text NOT NULL,
    incident_id  uuid,
    grid_code    text,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL
);
