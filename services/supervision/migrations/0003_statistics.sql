-- Facts for the monthly statistics (DOMAIN.md §6). Each row records what happened and when, so any
-- past month can be computed again "as of" its freeze and give the same figures.

-- One row per ownership: a unit received the case (派遣/改派/重办 keeps the owner).
CREATE TABLE assignment_fact (
    id              bigserial PRIMARY KEY,
    incident_id     uuid NOT NULL,
    unit_id         text NOT NULL,
    unit_name       text,
    unit_kind       text NOT NULL,
    grid_code       text,
    community_code  text,
    street_code     text,
    district_code   text,
    assigned_at     timestamptz NOT NULL,
    reassigned      boolean NOT NULL,
    returned_at     timestamptz
);
CREATE INDEX assignment_fact_month ON assignment_fact (assigned_at);
CREATE INDEX assignment_fact_incident ON assignment_fact (incident_id, id);

ALTER TABLE supervised_case ADD COLUMN assignment_id bigint REFERENCES assignment_fact (id);

-- Which ownership a phase belongs to, what started it and what ended it.
ALTER TABLE phase_clock
    ADD COLUMN assignment_id  bigint REFERENCES assignment_fact (id),
    ADD COLUMN started_by     text NOT NULL DEFAULT 'assigned',
    ADD COLUMN stop_reason    text;

-- 核查: every verification of a result, and the handle phase whose result it judged.
CREATE TABLE verification_fact (
    id               bigserial PRIMARY KEY,
    incident_id      uuid NOT NULL,
    assignment_id    bigint REFERENCES assignment_fact (id),
    handle_clock_id  bigint REFERENCES phase_clock (id),
    verified_at      timestamptz NOT NULL,
    passed           boolean NOT NULL
);
CREATE INDEX verification_fact_month ON verification_fact (verified_at);
CREATE INDEX verification_fact_clock ON verification_fact (handle_clock_id);

-- 结案, credited to the ownership whose result closed the case; a later 重办 is recorded on it.
CREATE TABLE closure_fact (
    id             bigserial PRIMARY KEY,
    incident_id    uuid NOT NULL,
    assignment_id  bigint REFERENCES assignment_fact (id),
    closed_at      timestamptz NOT NULL,
    reopened_at    timestamptz
);
CREATE INDEX closure_fact_month ON closure_fact (closed_at);
CREATE INDEX closure_fact_incident ON closure_fact (incident_id, id);

-- 回访 answers, credited like the closure they follow.
CREATE TABLE visit_fact (
    id             bigserial PRIMARY KEY,
    incident_id    uuid NOT NULL,
    assignment_id  bigint REFERENCES assignment_fact (id),
    visited_at     timestamptz NOT NULL,
    contacted      text NOT NULL,
    responded      boolean,
    solved         text,
    satisfied      text
);
CREATE INDEX visit_fact_month ON visit_fact (visited_at);

-- A month's figures once frozen (close of the 5th working day of the next month): served as stored.
CREATE TABLE frozen_stats (
    month      date NOT NULL,
    group_by   text NOT NULL,
    frozen_at  timestamptz NOT NULL,
    rows       jsonb NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (month, group_by)
);

-- The key a fact is grouped under. Territorial levels roll up the phases owned at that level or
-- below inside the area (属地: a street answers for its communities and grids); departments are not
-- territorial and are grouped by the owning department; `unit` is the owning unit itself.
CREATE FUNCTION stat_key(group_by text, unit_id text, unit_kind text, grid_code text,
                         community_code text, street_code text, district_code text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN group_by = 'unit' THEN unit_id
        WHEN group_by = 'department' THEN CASE WHEN unit_kind = 'department' THEN unit_id END
        WHEN group_by = 'grid' THEN CASE WHEN unit_kind = 'grid' THEN grid_code END
        WHEN group_by = 'community' THEN CASE WHEN unit_kind IN ('grid', 'community') THEN community_code END
        WHEN group_by = 'street' THEN
            CASE WHEN unit_kind IN ('grid', 'community', 'street') THEN street_code END
        WHEN group_by = 'district' THEN CASE WHEN unit_kind <> 'department' THEN district_code END
    END
$$;
