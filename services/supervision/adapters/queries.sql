-- name: load_virtual_clock
SELECT virtual_anchor, real_anchor, speed FROM virtual_clock;

-- name: save_virtual_clock
INSERT INTO virtual_clock (id, virtual_anchor, real_anchor, speed) VALUES (true, $1, $2, $3)
ON CONFLICT (id) DO UPDATE SET virtual_anchor = $1, real_anchor = $2, speed = $3;

-- name: find_policy
SELECT category, urgency, phase, limit_amount, limit_unit, yellow_ratio, ladder
  FROM policy
 WHERE urgency = $2 AND phase = $3 AND category IN ($1, '*')
 ORDER BY category = '*'
 LIMIT 1;

-- name: list_policies
SELECT category, urgency, phase, limit_amount, limit_unit, yellow_ratio, ladder, updated_at
  FROM policy ORDER BY category, urgency, phase;

-- name: calendar_overrides
SELECT day, workday FROM calendar_override;

-- name: upsert_case
INSERT INTO supervised_case (incident_id, category, urgency, grid_code, unit_id, deadline)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (incident_id) DO UPDATE
   SET category = EXCLUDED.category, urgency = EXCLUDED.urgency,
       grid_code = coalesce(EXCLUDED.grid_code, supervised_case.grid_code),
       unit_id = coalesce(EXCLUDED.unit_id, supervised_case.unit_id),
       deadline = coalesce(EXCLUDED.deadline, supervised_case.deadline), updated_at = now()
RETURNING incident_id, category, urgency, grid_code, unit_id, signed, deadline;

-- name: get_case
SELECT incident_id, category, urgency, grid_code, unit_id, signed, deadline
  FROM supervised_case WHERE incident_id = $1;

-- name: mark_signed
UPDATE supervised_case SET signed = $2, updated_at = now() WHERE incident_id = $1;

-- name: running_clock
SELECT * FROM phase_clock WHERE incident_id = $1 AND phase = $2 AND stopped_at IS NULL FOR UPDATE;

-- name: running_clocks
SELECT * FROM phase_clock WHERE incident_id = $1 AND stopped_at IS NULL FOR UPDATE;

-- name: last_cycle
SELECT coalesce(max(cycle), 0) FROM phase_clock WHERE incident_id = $1 AND phase = $2;

-- name: insert_clock
INSERT INTO phase_clock (incident_id, phase, cycle, category, urgency, grid_code, unit_id, started_at,
                         limit_amount, limit_unit, yellow_ratio, due_version, yellow_at, due_at,
                         red_card_at, leader_at, light, level, stopped_at, paused_at, extension_amount,
                         next_check_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
RETURNING id;

-- name: update_clock
UPDATE phase_clock
   SET light = $2, level = $3, stopped_at = $4, next_check_at = $5, due_version = $6,
       yellow_at = $7, due_at = $8, red_card_at = $9, leader_at = $10, paused_at = $11, extension_amount = $12
 WHERE id = $1;

-- name: claim_due_clocks
SELECT * FROM phase_clock
 WHERE next_check_at <= $1
 ORDER BY next_check_at
 LIMIT $2
 FOR UPDATE SKIP LOCKED;

-- name: next_due_at
SELECT min(next_check_at) FROM phase_clock WHERE next_check_at IS NOT NULL;

-- name: clocks_of_incident
SELECT * FROM phase_clock WHERE incident_id = $1 ORDER BY id;

-- name: upsert_policy
INSERT INTO policy (category, urgency, phase, limit_amount, limit_unit, yellow_ratio, ladder)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (category, urgency, phase) DO UPDATE
   SET limit_amount = EXCLUDED.limit_amount, limit_unit = EXCLUDED.limit_unit,
       yellow_ratio = EXCLUDED.yellow_ratio, ladder = EXCLUDED.ladder, updated_at = now();

-- name: upsert_calendar_override
INSERT INTO calendar_override (day, workday, note) VALUES ($1, $2, $3)
ON CONFLICT (day) DO UPDATE SET workday = EXCLUDED.workday, note = EXCLUDED.note;

-- name: board_clocks
-- Running clocks for dashboards, most urgent first, inside the caller's area.
SELECT * FROM phase_clock
 WHERE stopped_at IS NULL
   AND ($1::text IS NULL OR light = $1)
   AND ($2::text IS NULL OR grid_code LIKE $2 || '%')
   AND ($3::text IS NULL OR unit_id = $3)
   AND ($4::boolean OR grid_code LIKE ANY ($5::text[]))
 ORDER BY due_at, id
 LIMIT $6;

-- name: update_fired_clocks
-- The ticker's write: one statement for a whole batch (only what firing changes).
UPDATE phase_clock AS c
   SET light = u.light, level = u.level, next_check_at = u.next_check_at
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS u(id, light, level, next_check_at)
 WHERE c.id = u.id;
