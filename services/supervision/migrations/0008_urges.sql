-- 催办 (12345 or the centre pressing for progress) counts against the assignment that had the case then:
-- 催办率 in the statistics is the share of a unit's assignments that were urged at least once.
ALTER TABLE assignment_fact ADD COLUMN urge_count integer NOT NULL DEFAULT 0;
ALTER TABLE assignment_fact ADD COLUMN first_urged_at timestamptz;
