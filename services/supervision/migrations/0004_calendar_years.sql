-- Years whose whole schedule was imported from the State Council's notice (no longer provisional).
CREATE TABLE calendar_year (
    year         integer PRIMARY KEY CHECK (year BETWEEN 2000 AND 2100),
    imported_at  timestamptz NOT NULL DEFAULT now(),
    source       text
);

-- A handle due set by a 12345 deadline is an instant, not working time: calendar changes leave it.
ALTER TABLE phase_clock ADD COLUMN due_fixed boolean NOT NULL DEFAULT false;

-- Running clocks counted in working time, for recounting after a calendar change.
CREATE INDEX phase_clock_running_working_time ON phase_clock (id)
    WHERE stopped_at IS NULL AND limit_unit <> 'hours';
