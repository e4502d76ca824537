-- Supervision's outbox. One row each time a clock's light or 督办 level moves (thresholds fired by the
-- ticker, an extension, a supervisor's hand), holding the steps taken in order; the relay renders each step
-- as its supervision.light.changed / supervision.escalation.raised envelope, with the clock's facts.
-- Narrow rows instead of rendered envelopes: after the ticker was down, one catch-up writes a row for each of
-- hundreds of thousands of clocks, and the rendered envelopes (about 600 bytes each, four per clock) were
-- what made it slow.
CREATE TABLE clock_alert (
    id              bigserial PRIMARY KEY,
    alert_id        uuid NOT NULL DEFAULT gen_random_uuid(),  -- its events' ids derive from it (never reused)
    clock_id        bigint NOT NULL,
    at              timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    due_version     integer NOT NULL,
    light_before    text NOT NULL CHECK (light_before IN ('green', 'yellow', 'red')),
    level_before    text NOT NULL CHECK (level_before IN ('none', 'reminder', 'yellow_card', 'red_card', 'leader')),
    -- New lights and levels in the order they were reached, e.g. {yellow,reminder,red,yellow_card}.
    steps           text[] NOT NULL CHECK (cardinality(steps) > 0),
    manual          boolean NOT NULL DEFAULT false,
    note            text NOT NULL DEFAULT '',
    correlation_id  text,
    causation_id    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX clock_alert_unsent ON clock_alert (id) WHERE sent_at IS NULL;

-- Every lookup of a case's clocks is served by UNIQUE (incident_id, phase, cycle); this index only made each
-- clock update (the ticker's, above all) write one more index entry.
DROP INDEX phase_clock_incident;
