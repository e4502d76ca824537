-- 挂起 pauses a clock; an approved extension adds to its budget (a new due version).
ALTER TABLE phase_clock
    ADD COLUMN paused_at         timestamptz,
    ADD COLUMN extension_amount  double precision NOT NULL DEFAULT 0;
