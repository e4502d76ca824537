-- Who else is told: supervisors and leaders by area prefix, event type, 督办 level and channel.
CREATE TABLE subscription (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    phone        text,
    email        text,
    webhook_url  text,
    role         text NOT NULL,
    area         text[] NOT NULL,          -- grid-code prefixes ('' = the whole city)
    event_types  text[] NOT NULL,          -- e.g. supervision.escalation.raised
    levels       text[] NOT NULL DEFAULT '{}',  -- 督办 levels of interest (empty = all)
    channels     text[] NOT NULL,          -- sms | email | webhook | sse
    quiet_hours  jsonb,                    -- {"from": "22:00", "to": "07:00"}
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscription_event_types ON subscription USING gin (event_types);
