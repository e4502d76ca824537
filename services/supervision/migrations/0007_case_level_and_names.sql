-- What supervision keeps of a case beyond its clocks: a 12345 order (only 12345 gives it more time), the last
-- signature seen (a 改派 may reach supervision after the new owner's signature), when the current owner got
-- it, and the last 重办 (its cycle's clocks start afresh).
ALTER TABLE supervised_case
    ADD COLUMN hotline         boolean NOT NULL DEFAULT false,
    ADD COLUMN signed_unit_id  text,
    ADD COLUMN signed_at       timestamptz,
    ADD COLUMN assigned_at     timestamptz,
    ADD COLUMN reopened_at     timestamptz;

-- The 督办 level belongs to the case: a clock starts at the case's level so far (`start_level`, what it carried
-- over; its statistics count only what it raised). `counted_from` is where its thresholds are counted from (its
-- start, or its last resumption): a calendar change recounts them from there. NULL: started_at.
ALTER TABLE phase_clock
    ADD COLUMN start_level   text NOT NULL DEFAULT 'none'
        CHECK (start_level IN ('none', 'reminder', 'yellow_card', 'red_card', 'leader')),
    ADD COLUMN counted_from  timestamptz;

-- Names seen in assignments (owners and co-owners), for the statistics' keys: a territorial unit names its
-- area's code at its level (kind = grid|community|street|district); every unit names its id (kind = unit).
CREATE TABLE unit_name (
    kind     text NOT NULL,
    key      text NOT NULL,
    name     text NOT NULL,
    seen_at  timestamptz NOT NULL,
    PRIMARY KEY (kind, key)
);

INSERT INTO unit_name (kind, key, name, seen_at)
SELECT DISTINCT ON (kind, key) kind, key, unit_name, assigned_at
  FROM (SELECT id, 'unit' AS kind, unit_id AS key, unit_name, assigned_at FROM assignment_fact
        UNION ALL
        SELECT id, unit_kind, CASE unit_kind WHEN 'grid' THEN grid_code WHEN 'community' THEN community_code
                                             WHEN 'street' THEN street_code WHEN 'district' THEN district_code END,
               unit_name, assigned_at
          FROM assignment_fact WHERE unit_kind IN ('grid', 'community', 'street', 'district')) seen
 WHERE key IS NOT NULL AND unit_name IS NOT NULL
 ORDER BY kind, key, id DESC;
