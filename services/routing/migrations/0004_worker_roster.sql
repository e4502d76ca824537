-- Duty rosters (排班): weekly shifts and explicit periods (leave, extra duty) per worker, validated by
-- services/routing/domain/roster.py before they are written. A worker without a row is on duty
-- whenever worker.on_duty says so.
CREATE TABLE worker_roster (
    worker_id   text PRIMARY KEY REFERENCES worker (id) ON DELETE CASCADE,
    weekly      jsonb NOT NULL DEFAULT '[]',
    periods     jsonb NOT NULL DEFAULT '[]',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
