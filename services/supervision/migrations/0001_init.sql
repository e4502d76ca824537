-- The stack's virtual clock (demo and tests only): virtual time `virtual_anchor` was current at real
-- unix time `real_anchor`; it runs at `speed` × real time.
CREATE TABLE virtual_clock (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    virtual_anchor timestamptz NOT NULL,
    real_anchor    double precision NOT NULL,
    speed          double precision NOT NULL CHECK (speed > 0)
);

CREATE TABLE policy (
    category      text NOT NULL,              -- '*' = any category
    urgency       text NOT NULL CHECK (urgency IN ('normal', 'urgent', 'emergency')),
    phase         text NOT NULL CHECK (phase IN ('sign', 'handle', 'verify')),
    limit_amount  double precision NOT NULL CHECK (limit_amount > 0),
    limit_unit    text NOT NULL CHECK (limit_unit IN ('hours', 'working_hours', 'working_days')),
    yellow_ratio  double precision NOT NULL DEFAULT 0.7 CHECK (yellow_ratio > 0 AND yellow_ratio < 1),
    ladder        jsonb NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (category, urgency, phase)
);

-- Defaults of DOMAIN.md §5 (sign / handle / verify × emergency / urgent / normal).
INSERT INTO policy (category, urgency, phase, limit_amount, limit_unit) VALUES
    ('*', 'emergency', 'sign',   0.5, 'hours'),
    ('*', 'urgent',    'sign',   2,   'hours'),
    ('*', 'normal',    'sign',   1,   'working_days'),
    ('*', 'emergency', 'handle', 2,   'hours'),
    ('*', 'urgent',    'handle', 24,  'hours'),
    ('*', 'normal',    'handle', 5,   'working_days'),
    ('*', 'emergency', 'verify', 2,   'hours'),
    ('*', 'urgent',    'verify', 1,   'working_days'),
    ('*', 'normal',    'verify', 2,   'working_days');

CREATE TABLE calendar_override (
    day      date PRIMARY KEY,
    workday  boolean NOT NULL,
    note     text
);

-- Supervision's copy of what it needs from intake and routing.
CREATE TABLE supervised_case (
    incident_id  uuid PRIMARY KEY,
    category     text NOT NULL,
    urgency      text NOT NULL,
    grid_code    text,
    unit_id      text,
    signed       boolean NOT NULL DEFAULT false,
    deadline     timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE phase_clock (
    id             bigserial PRIMARY KEY,
    incident_id    uuid NOT NULL,
    phase          text NOT NULL CHECK (phase IN ('sign', 'handle', 'verify')),
    cycle          integer NOT NULL,
    category       text NOT NULL,
    urgency        text NOT NULL,
    grid_code      text,
    unit_id        text,
    started_at     timestamptz NOT NULL,
    limit_amount   double precision NOT NULL,
    limit_unit     text NOT NULL,
    yellow_ratio   double precision NOT NULL,
    due_version    integer NOT NULL,
    yellow_at      timestamptz NOT NULL,
    due_at         timestamptz NOT NULL,
    red_card_at    timestamptz NOT NULL,
    leader_at      timestamptz NOT NULL,
    light          text NOT NULL CHECK (light IN ('green', 'yellow', 'red')),
    level          text NOT NULL CHECK (level IN ('none', 'reminder', 'yellow_card', 'red_card', 'leader')),
    stopped_at     timestamptz,
    next_check_at  timestamptz,
    UNIQUE (incident_id, phase, cycle)
);
-- The ticker's work queue: only running clocks with a threshold still to fire.
CREATE INDEX phase_clock_due ON phase_clock (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX phase_clock_incident ON phase_clock (incident_id, id);
CREATE UNIQUE INDEX phase_clock_one_running ON phase_clock (incident_id, phase) WHERE stopped_at IS NULL;
