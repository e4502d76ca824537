-- name: load_virtual_clock
SELECT virtual_anchor, real_anchor, speed FROM virtual_clock;

-- name: save_virtual_clock
INSERT INTO virtual_clock (id, virtual_anchor, real_anchor, speed) VALUES (true, $1, $2, $3)
ON CONFLICT (id) DO UPDATE SET virtual_anchor = $1, real_anchor = $2, speed = $3;

-- name: find_policy
-- The most specific policy for category $1 and nature $4 (NULL: none, so only '*'): exact category and nature,
-- exact category with any nature, any category with the nature, then '*'/'*' (domain/model.py lookup_order).
SELECT category, urgency, phase, nature, limit_amount, limit_unit, yellow_ratio, ladder
  FROM policy
 WHERE urgency = $2 AND phase = $3 AND category IN ($1, '*') AND nature IN (coalesce($4::text, '*'), '*')
 ORDER BY category = '*', nature = '*'
 LIMIT 1;

-- name: list_policies
SELECT category, urgency, phase, nature, limit_amount, limit_unit, yellow_ratio, ladder, updated_at
  FROM policy ORDER BY category, urgency, phase, nature;

-- name: calendar_version_shared
-- Before a clock starts or moves: no calendar change is under way, and which version is current.
SELECT pg_advisory_xact_lock_shared(hashtextextended('supervision-calendar', 0)), version FROM calendar_state;

-- name: calendar_change_lock
-- A calendar change goes alone: clocks being started finish first, and later ones wait for it.
SELECT pg_advisory_xact_lock(hashtextextended('supervision-calendar', 0));

-- name: calendar_version_bump
UPDATE calendar_state SET version = version + 1 RETURNING version;

-- name: calendar_overrides
SELECT day, workday, note FROM calendar_override;

-- name: imported_years
SELECT year FROM calendar_year;

-- name: record_imported_year
INSERT INTO calendar_year (year, source) VALUES ($1, $2)
ON CONFLICT (year) DO UPDATE SET imported_at = now(), source = EXCLUDED.source;

-- name: delete_year_overrides
DELETE FROM calendar_override WHERE day >= $1 AND day < $2;

-- name: running_working_time_clocks
-- A batch of running clocks counted in working time whose last threshold is not before $1 (keyset on id).
SELECT * FROM phase_clock
 WHERE stopped_at IS NULL AND limit_unit <> 'hours' AND leader_at >= $1 AND id > $2
 ORDER BY id LIMIT $3
 FOR UPDATE;

-- name: receive_cases
-- The cases as intake received them, one array element per case (each case once): a missing grid, deadline or
-- nature keeps what was known before (the assignment may have come first), a 12345 order stays one.
INSERT INTO supervised_case (incident_id, category, urgency, grid_code, deadline, hotline, nature)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::boolean[], $7::text[])
ON CONFLICT (incident_id) DO UPDATE
   SET category = EXCLUDED.category, urgency = EXCLUDED.urgency,
       grid_code = coalesce(EXCLUDED.grid_code, supervised_case.grid_code),
       deadline = coalesce(EXCLUDED.deadline, supervised_case.deadline),
       hotline = supervised_case.hotline OR EXCLUDED.hotline,
       nature = coalesce(EXCLUDED.nature, supervised_case.nature), updated_at = now();

-- name: get_case
SELECT incident_id, category, urgency, grid_code, unit_id, signed, deadline, assignment_id, hotline,
       signed_unit_id, signed_at, assigned_at, reopened_at, nature
  FROM supervised_case WHERE incident_id = $1;

-- name: mark_signed
UPDATE supervised_case SET signed = $2, updated_at = now() WHERE incident_id = $1;

-- name: record_signature
UPDATE supervised_case SET signed_unit_id = $2, signed_at = $3, updated_at = now() WHERE incident_id = $1;

-- name: set_deadline
UPDATE supervised_case SET deadline = $2, updated_at = now() WHERE incident_id = $1;

-- name: running_clock
SELECT * FROM phase_clock WHERE incident_id = $1 AND phase = $2 AND stopped_at IS NULL FOR UPDATE;

-- name: running_clocks
SELECT * FROM phase_clock WHERE incident_id = $1 AND stopped_at IS NULL FOR UPDATE;

-- name: phase_histories
-- What starting a phase's clock reads, for many cases in one round trip, one row per array element ($4: its position):
-- the phase's running clock (locked; its columns NULL when none runs), the phase's last cycle, and the highest 督办
-- level the case's clocks reached since $3 (the start of its cycle; all of them when NULL).
SELECT a.ord,
       (SELECT coalesce(max(cycle), 0) FROM phase_clock WHERE incident_id = a.incident_id AND phase = a.phase)
           AS last_cycle,
       (SELECT level FROM phase_clock
         WHERE incident_id = a.incident_id AND (a.since IS NULL OR started_at >= a.since)
         ORDER BY array_position(ARRAY['none', 'reminder', 'yellow_card', 'red_card', 'leader'], level) DESC
         LIMIT 1) AS case_level,
       running.*
  FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS a(incident_id, phase, since, ord)
  LEFT JOIN LATERAL (SELECT * FROM phase_clock
                      WHERE incident_id = a.incident_id AND phase = a.phase AND stopped_at IS NULL
                        FOR UPDATE) AS running ON true
 ORDER BY a.ord;

-- name: insert_clocks
-- New clocks, one array element each (each case and phase once); returns each one's id with its case and phase.
INSERT INTO phase_clock (incident_id, phase, cycle, category, urgency, grid_code, unit_id, started_at,
                         limit_amount, limit_unit, yellow_ratio, due_version, yellow_at, due_at,
                         red_card_at, leader_at, light, level, stopped_at, paused_at, extension_amount,
                         assignment_id, started_by, stop_reason, due_fixed, start_level, counted_from,
                         nature, next_check_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::timestamptz[], $9::float8[], $10::text[], $11::float8[], $12::integer[], $13::timestamptz[],
                     $14::timestamptz[], $15::timestamptz[], $16::timestamptz[], $17::text[], $18::text[],
                     $19::timestamptz[], $20::timestamptz[], $21::float8[], $22::bigint[], $23::text[], $24::text[],
                     $25::boolean[], $26::text[], $27::timestamptz[], $28::text[], $29::timestamptz[])
RETURNING id, incident_id, phase;

-- name: update_clock
UPDATE phase_clock
   SET light = $2, level = $3, stopped_at = $4, next_check_at = $5, due_version = $6,
       yellow_at = $7, due_at = $8, red_card_at = $9, leader_at = $10, paused_at = $11, extension_amount = $12,
       stop_reason = $13, counted_from = $14
 WHERE id = $1;

-- name: fire_due_clocks
-- The ticker, for a batch of due clocks in one statement: claim them (SKIP LOCKED, so tickers share the
-- work), fire every threshold reached by $1, move each clock's light, level and next check, and write one
-- clock_alert row per clock that moved. This is PhaseClock.tick (domain/model.py) in SQL, so a catch-up
-- never brings a clock into Python; tests/integration/test_ticker_sql.py holds the two to the same result
-- for every light, level and position of now. Returns when each claimed clock was due. $3 is the ticker's floor
-- (NULL: the index's start): no live clock is due before it, and the dead entries below it are not read.
WITH claimed AS (
    SELECT id, light, level, yellow_at, due_at, red_card_at, leader_at, due_version, next_check_at AS due_time,
           stopped_at IS NULL AND paused_at IS NULL AS live
      FROM phase_clock
     WHERE next_check_at >= coalesce($3::timestamptz, '-infinity') AND next_check_at <= $1
     ORDER BY next_check_at
     LIMIT $2
       FOR UPDATE SKIP LOCKED
), ranked AS (
    SELECT *, array_position(ARRAY['green', 'yellow', 'red'], light) - 1 AS light_rank,
              array_position(ARRAY['none', 'reminder', 'yellow_card', 'red_card', 'leader'], level) - 1 AS level_rank
      FROM claimed
), crossed AS (
    SELECT *, live AND $1 >= yellow_at AND light_rank < 1 AS turns_yellow,
              live AND $1 >= due_at AND light_rank < 2 AS turns_red,
              live AND $1 >= red_card_at AND level_rank < 3 AS gets_red_card,
              live AND $1 >= leader_at AND level_rank < 4 AS gets_leader
      FROM ranked
), moved AS (
    SELECT *, CASE WHEN turns_red THEN 2 WHEN turns_yellow THEN 1 ELSE light_rank END AS new_light,
              CASE WHEN gets_leader THEN 4 WHEN gets_red_card THEN 3
                   WHEN turns_red AND level_rank < 2 THEN 2 WHEN turns_yellow AND level_rank < 1 THEN 1
                   ELSE level_rank END AS new_level
      FROM crossed
), fired AS (
    UPDATE phase_clock AS c
       SET light = (ARRAY['green', 'yellow', 'red'])[m.new_light + 1],
           level = (ARRAY['none', 'reminder', 'yellow_card', 'red_card', 'leader'])[m.new_level + 1],
           next_check_at = CASE WHEN m.live THEN LEAST(CASE WHEN m.new_light < 1 THEN m.yellow_at END,
                                                       CASE WHEN m.new_light < 2 THEN m.due_at END,
                                                       CASE WHEN m.new_level < 3 THEN m.red_card_at END,
                                                       CASE WHEN m.new_level < 4 THEN m.leader_at END) END
      FROM moved AS m
     WHERE c.id = m.id
    RETURNING m.*
), alerts AS (
    INSERT INTO clock_alert (clock_id, at, due_at, due_version, light_before, level_before, steps)
    SELECT id, $1, due_at, due_version, light, level,
           array_remove(ARRAY[CASE WHEN turns_yellow THEN 'yellow' END,
                              CASE WHEN turns_yellow AND level_rank < 1 THEN 'reminder' END,
                              CASE WHEN turns_red THEN 'red' END,
                              CASE WHEN turns_red AND level_rank < 2 THEN 'yellow_card' END,
                              CASE WHEN gets_red_card THEN 'red_card' END,
                              CASE WHEN gets_leader THEN 'leader' END], NULL)
      FROM fired
     WHERE turns_yellow OR turns_red OR gets_red_card OR gets_leader
     ORDER BY id
)
SELECT due_time FROM fired;

-- name: insert_clock_alerts
-- The alerts, and the hint that wakes the relay at commit ($12: its channel), in one round trip.
WITH written AS (
    INSERT INTO clock_alert (clock_id, at, due_at, due_version, light_before, level_before, steps, manual, note,
                             correlation_id, causation_id)
    SELECT a.clock_id, a.at, a.due_at, a.due_version, a.light_before, a.level_before,
           string_to_array(a.steps, ','), a.manual, a.note, a.correlation_id, a.causation_id
      FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::integer[], $5::text[], $6::text[],
                  $7::text[], $8::boolean[], $9::text[], $10::text[], $11::text[])
           AS a(clock_id, at, due_at, due_version, light_before, level_before, steps, manual, note, correlation_id,
                causation_id)
    RETURNING 1
)
SELECT pg_notify($12, '') FROM (SELECT 1 FROM written LIMIT 1) AS any_row;

-- name: unsent_clock_alerts
-- The relay's batch, oldest first, with the facts of each alert's clock (fixed for the clock's life).
SELECT a.*, c.incident_id, c.phase, c.category, c.urgency, c.grid_code, c.unit_id
  FROM clock_alert AS a JOIN phase_clock AS c ON c.id = a.clock_id
 WHERE a.sent_at IS NULL
 ORDER BY a.id
 LIMIT $1;

-- name: mark_clock_alerts_sent
UPDATE clock_alert SET sent_at = now() WHERE id = ANY($1::bigint[]);

-- name: purge_sent_clock_alerts
DELETE FROM clock_alert WHERE sent_at < now() - make_interval(hours => $1);

-- name: oldest_unsent_clock_alert_age
-- Seconds since the oldest unsent alert was written (the relay's metric; clock_alert_unsent serves it).
SELECT extract(epoch FROM now() - created_at)::float8 FROM clock_alert WHERE sent_at IS NULL ORDER BY id LIMIT 1;

-- name: next_due_at
SELECT min(next_check_at) FROM phase_clock WHERE next_check_at IS NOT NULL;

-- name: next_due_from
-- The ticker's next due time and next floor: the lowest next check at or after $1 (its floor; NULL: the whole index).
-- Rows other sessions hold locked are read as they were committed, so a clock a pass skipped keeps the floor at or
-- below it.
SELECT min(next_check_at) FROM phase_clock
 WHERE next_check_at IS NOT NULL AND next_check_at >= coalesce($1::timestamptz, '-infinity');

-- name: clocks_of_incident
SELECT * FROM phase_clock WHERE incident_id = $1 ORDER BY id;

-- name: upsert_policy
INSERT INTO policy (category, urgency, phase, limit_amount, limit_unit, yellow_ratio, ladder, nature)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (category, urgency, phase, nature) DO UPDATE
   SET limit_amount = EXCLUDED.limit_amount, limit_unit = EXCLUDED.limit_unit,
       yellow_ratio = EXCLUDED.yellow_ratio, ladder = EXCLUDED.ladder, updated_at = now();

-- name: upsert_calendar_override
INSERT INTO calendar_override (day, workday, note) VALUES ($1, $2, $3)
ON CONFLICT (day) DO UPDATE SET workday = EXCLUDED.workday, note = EXCLUDED.note;

-- name: board_clocks
-- Running clocks for dashboards (the 督办 board: by level), most urgent first, inside the caller's area.
-- $1 lights and $7 levels: any of them (null: any); $8 a category code or its group (`dispute`: dispute.*);
-- $9 a phase.
SELECT * FROM phase_clock
 WHERE stopped_at IS NULL
   AND ($1::text[] IS NULL OR light = ANY ($1::text[]))
   AND ($2::text IS NULL OR grid_code LIKE $2 || '%')
   AND ($3::text IS NULL OR unit_id = $3)
   AND ($4::boolean OR grid_code LIKE ANY ($5::text[]))
   AND ($7::text[] IS NULL OR level = ANY ($7::text[]))
   AND ($8::text IS NULL OR category = $8 OR category LIKE $8 || '.%')
   AND ($9::text IS NULL OR phase = $9)
 ORDER BY due_at, id
 LIMIT $6;

-- Statistics facts (DOMAIN.md §6) -----------------------------------------------------------------

-- name: assign_cases
-- Assignments in one round trip, one array element per case (each case once): each one's ownership fact; the case
-- as now known (made here when the assignment came before the case's IncidentReceived: the consumer reads two
-- topics; a missing grid or unit keeps what was known) pointing at that fact as its current one. Returns the cases,
-- each with its new fact's assignment_id, and on the first case's row the stored names of the keys $14 (kinds), $15
-- (keys), for the caller to tell which names are new or changed (write_unit_names). Once: on every row, a run of
-- 100 cases sent and decoded its few hundred names 100 times.
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::boolean[])
        AS i(incident_id, category, urgency, place_code, unit_id, unit_name, unit_kind, grid_code, community_code,
             street_code, district_code, at, reassigned)),
fact AS (
    INSERT INTO assignment_fact (incident_id, unit_id, unit_name, unit_kind, grid_code, community_code,
                                 street_code, district_code, assigned_at, reassigned)
    SELECT incident_id, unit_id, unit_name, unit_kind, grid_code, community_code, street_code, district_code, at,
           reassigned
      FROM input
    RETURNING id, incident_id),
-- Each name looked up by its key: OFFSET 0 keeps the lookup a subquery per key (flattened into a join, a generic
-- plan may read every name ever seen).
known AS (
    SELECT coalesce(json_agg(json_build_object('kind', n.kind, 'key', n.key, 'name', u.name,
                                               'seen_at', u.seen_at)), '[]'::json) AS names
      FROM (SELECT DISTINCT kind, key FROM unnest($14::text[], $15::text[]) AS n(kind, key)) AS n
      CROSS JOIN LATERAL (SELECT name, seen_at FROM unit_name u WHERE u.kind = n.kind AND u.key = n.key
                          OFFSET 0) AS u)
INSERT INTO supervised_case (incident_id, category, urgency, grid_code, unit_id, hotline, assignment_id, assigned_at)
SELECT i.incident_id, i.category, i.urgency, i.place_code, i.unit_id, false, fact.id, i.at
  FROM input i JOIN fact USING (incident_id)
ON CONFLICT (incident_id) DO UPDATE
   SET category = EXCLUDED.category, urgency = EXCLUDED.urgency,
       grid_code = coalesce(EXCLUDED.grid_code, supervised_case.grid_code),
       unit_id = coalesce(EXCLUDED.unit_id, supervised_case.unit_id),
       assignment_id = EXCLUDED.assignment_id, assigned_at = EXCLUDED.assigned_at, updated_at = now()
RETURNING incident_id, category, urgency, grid_code, unit_id, signed, deadline, assignment_id, hotline,
          signed_unit_id, signed_at, assigned_at, reopened_at, nature,
          CASE WHEN incident_id = ($1::uuid[])[1] THEN (SELECT names FROM known) END AS known_names;

-- name: write_unit_names
-- Names new or changed since they were read (assign_cases), in key order: ON CONFLICT DO UPDATE locks the row, and
-- a street's or district's row is shared by every case in it; one order keeps the consumer's side-by-side
-- partitions from deadlocking. A name seen later by another writer in between stays.
INSERT INTO unit_name (kind, key, name, seen_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS n(kind, key, name, seen_at)
 ORDER BY kind, key
ON CONFLICT (kind, key) DO UPDATE SET name = EXCLUDED.name, seen_at = EXCLUDED.seen_at
 WHERE unit_name.name <> EXCLUDED.name AND unit_name.seen_at <= EXCLUDED.seen_at;

-- name: mark_assignment_returned
UPDATE assignment_fact SET returned_at = $2
 WHERE id = (SELECT assignment_id FROM supervised_case WHERE incident_id = $1) AND returned_at IS NULL;

-- name: record_urge
UPDATE assignment_fact SET urge_count = urge_count + 1, first_urged_at = coalesce(first_urged_at, $2)
 WHERE id = (SELECT assignment_id FROM supervised_case WHERE incident_id = $1);

-- name: last_result_clock
SELECT id FROM phase_clock
 WHERE incident_id = $1 AND phase = 'handle' AND stop_reason = 'result_submitted'
 ORDER BY id DESC LIMIT 1;

-- name: insert_verification_fact
INSERT INTO verification_fact (incident_id, assignment_id, handle_clock_id, verified_at, passed)
VALUES ($1, (SELECT assignment_id FROM supervised_case WHERE incident_id = $1), $2, $3, $4);

-- name: insert_closure_fact
INSERT INTO closure_fact (incident_id, assignment_id, closed_at)
VALUES ($1, (SELECT assignment_id FROM supervised_case WHERE incident_id = $1), $2);

-- name: mark_closure_reopened
-- 重办: on the closure it undoes, and on the case (its new cycle starts then).
WITH closure AS (
    UPDATE closure_fact SET reopened_at = $2
     WHERE id = (SELECT max(id) FROM closure_fact WHERE incident_id = $1) AND reopened_at IS NULL
)
UPDATE supervised_case SET reopened_at = $2, updated_at = now() WHERE incident_id = $1;

-- name: insert_visit_fact
INSERT INTO visit_fact (incident_id, assignment_id, visited_at, contacted, responded, solved, satisfied)
VALUES ($1, (SELECT assignment_id FROM closure_fact WHERE incident_id = $1 ORDER BY id DESC LIMIT 1),
        $2, $3, $4, $5, $6);

-- Monthly figures: $1 month start, $2 next month's start, $3 as of (now, or the freeze), $4 group_by.
-- A phase counts in the month its due time falls in; ends that come after $3 are not yet known.
--
-- Cost stays the month's as history grows (issue 18; bench/history.py): facts are found by their month's index
-- (phase_clock_due_month, migration 0011, and the *_month indexes of 0003), and the assignment each fact is
-- credited to is joined from the assignments made since 14 days before the month (a hash of recent rows, found by
-- assignment_fact_month) instead of the whole table; the rare fact whose assignment is older (a case that waited
-- weeks: 挂起, 延期) looks its assignment up by id. Same rows, same keys as a plain join on assignment_id.

-- name: stats_sign
-- 及时签收率: sign phases due in the month, minus those ended (returned, merged, rejected, given to
-- another unit) before their due time; signed on time over the rest.
SELECT k AS key, count(*) FILTER (WHERE on_time) AS numerator, count(*) AS denominator
  FROM (SELECT CASE WHEN a.id IS NOT NULL THEN stat_key($4, a)
                    ELSE (SELECT stat_key($4, o) FROM assignment_fact o WHERE o.id = c.assignment_id) END AS k,
               c.stop_reason = 'signed' AND c.stopped_at <= c.due_at AND c.stopped_at <= $3 AS on_time
          FROM phase_clock c
          LEFT JOIN assignment_fact a ON a.id = c.assignment_id
                AND a.assigned_at >= $1::timestamptz - interval '14 days' AND a.assigned_at < $2
         WHERE c.phase = 'sign' AND c.due_at >= $1 AND c.due_at < $2 AND c.due_at <= $3
           AND NOT (c.stopped_at IS NOT NULL AND c.stopped_at < c.due_at
                    AND c.stop_reason IS DISTINCT FROM 'signed')) s
 WHERE k IS NOT NULL GROUP BY k;

-- name: stats_handle
-- 按期办结率 and 结案率 share the denominator 应办结: first handle phases (started by 签收, not 返工)
-- due in the month, minus those ended by 退单/merge/reject before due and those parked (挂起) now.
SELECT k AS key, count(*) AS denominator,
       count(*) FILTER (WHERE on_time) AS on_time,
       count(*) FILTER (WHERE closed) AS closed
  FROM (SELECT CASE WHEN a.id IS NOT NULL THEN stat_key($4, a)
                    ELSE (SELECT stat_key($4, o) FROM assignment_fact o WHERE o.id = c.assignment_id) END AS k,
               c.stop_reason = 'result_submitted' AND c.stopped_at <= c.due_at AND EXISTS (
                   SELECT 1 FROM verification_fact v
                    WHERE v.handle_clock_id = c.id AND v.passed AND v.verified_at <= $3) AS on_time,
               EXISTS (SELECT 1 FROM closure_fact f
                        WHERE f.incident_id = c.incident_id AND f.closed_at >= c.started_at
                          AND f.closed_at <= $3) AS closed
          FROM phase_clock c
          LEFT JOIN assignment_fact a ON a.id = c.assignment_id
                AND a.assigned_at >= $1::timestamptz - interval '14 days' AND a.assigned_at < $2
         WHERE c.phase = 'handle' AND c.started_by = 'signed'
           AND c.due_at >= $1 AND c.due_at < $2 AND c.due_at <= $3
           AND NOT (c.stopped_at IS NOT NULL AND c.stopped_at < c.due_at
                    AND c.stop_reason IN ('returned', 'merged', 'rejected', 'reassigned'))
           AND NOT (c.stopped_at IS NULL AND c.paused_at IS NOT NULL)) s
 WHERE k IS NOT NULL GROUP BY k;

-- name: stats_visits
-- 三率 from 回访: visits that reached the citizen; 响应 only where the citizen was asked about it.
SELECT k AS key, count(*) AS answered,
       count(*) FILTER (WHERE responded IS NOT NULL) AS asked_response,
       count(*) FILTER (WHERE responded) AS responded,
       count(*) FILTER (WHERE solved = 'yes') AS solved,
       count(*) FILTER (WHERE satisfied IN ('satisfied', 'basically')) AS satisfied
  FROM (SELECT CASE WHEN a.id IS NOT NULL THEN stat_key($4, a)
                    ELSE (SELECT stat_key($4, o) FROM assignment_fact o WHERE o.id = v.assignment_id) END AS k,
               v.responded, v.solved, v.satisfied
          FROM visit_fact v
          LEFT JOIN assignment_fact a ON a.id = v.assignment_id
                AND a.assigned_at >= $1::timestamptz - interval '14 days' AND a.assigned_at < $2
         WHERE v.visited_at >= $1 AND v.visited_at < $2 AND v.visited_at <= $3
           AND v.contacted = 'yes') s
 WHERE k IS NOT NULL GROUP BY k;

-- name: stats_returns
-- 回退率: assignments the unit received in the month that it returned (by $3).
SELECT k AS key, count(*) AS denominator, count(*) FILTER (WHERE returned) AS numerator
  FROM (SELECT stat_key($4, a) AS k, a.returned_at <= $3 AS returned
          FROM assignment_fact a
         WHERE a.assigned_at >= $1 AND a.assigned_at < $2 AND a.assigned_at <= $3) s
 WHERE k IS NOT NULL GROUP BY k;

-- name: stats_urges
-- 催办率: assignments the unit received in the month that were urged (by $3).
SELECT k AS key, count(*) AS denominator, count(*) FILTER (WHERE urged) AS numerator
  FROM (SELECT stat_key($4, a) AS k, a.first_urged_at <= $3 AS urged
          FROM assignment_fact a
         WHERE a.assigned_at >= $1 AND a.assigned_at < $2 AND a.assigned_at <= $3) s
 WHERE k IS NOT NULL GROUP BY k;

-- name: stats_reopens
-- 重办率: cases the unit closed in the month that were reopened (by $3).
SELECT k AS key, count(*) AS denominator, count(*) FILTER (WHERE reopened) AS numerator
  FROM (SELECT CASE WHEN a.id IS NOT NULL THEN stat_key($4, a)
                    ELSE (SELECT stat_key($4, o) FROM assignment_fact o WHERE o.id = f.assignment_id) END AS k,
               f.reopened_at <= $3 AS reopened
          FROM closure_fact f
          LEFT JOIN assignment_fact a ON a.id = f.assignment_id
                AND a.assigned_at >= $1::timestamptz - interval '14 days' AND a.assigned_at < $2
         WHERE f.closed_at >= $1 AND f.closed_at < $2 AND f.closed_at <= $3) s
 WHERE k IS NOT NULL GROUP BY k;

-- name: stats_rework
-- 返工率: verifications in the month of the unit's results that failed.
SELECT k AS key, count(*) AS denominator, count(*) FILTER (WHERE NOT passed) AS numerator
  FROM (SELECT CASE WHEN a.id IS NOT NULL THEN stat_key($4, a)
                    ELSE (SELECT stat_key($4, o) FROM assignment_fact o WHERE o.id = v.assignment_id) END AS k,
               v.passed
          FROM verification_fact v
          LEFT JOIN assignment_fact a ON a.id = v.assignment_id
                AND a.assigned_at >= $1::timestamptz - interval '14 days' AND a.assigned_at < $2
         WHERE v.verified_at >= $1 AND v.verified_at < $2 AND v.verified_at <= $3) s
 WHERE k IS NOT NULL GROUP BY k;

-- name: stats_cases
-- Cases a unit had in the month (received, or with a phase due) and its 督办 points (the highest level a
-- case reached on a phase due in the month: yellow card 0.5, red card 1, leader 2). A phase that started at
-- the level the case already had (督办 belongs to the case) scores only a level it raised itself.
WITH touched AS (
    SELECT stat_key($4, a) AS k, a.incident_id, 0::numeric AS points
      FROM assignment_fact a
     WHERE a.assigned_at >= $1 AND a.assigned_at < $2 AND a.assigned_at <= $3
    UNION ALL
    SELECT CASE WHEN a.id IS NOT NULL THEN stat_key($4, a)
                ELSE (SELECT stat_key($4, o) FROM assignment_fact o WHERE o.id = c.assignment_id) END, c.incident_id,
           CASE WHEN c.level = c.start_level THEN 0
                ELSE CASE c.level WHEN 'yellow_card' THEN 0.5 WHEN 'red_card' THEN 1 WHEN 'leader' THEN 2 ELSE 0 END
           END
      FROM phase_clock c
      LEFT JOIN assignment_fact a ON a.id = c.assignment_id
            AND a.assigned_at >= $1::timestamptz - interval '14 days' AND a.assigned_at < $2
     WHERE c.due_at >= $1 AND c.due_at < $2 AND c.due_at <= $3
), per_case AS (
    SELECT k, incident_id, max(points) AS points FROM touched WHERE k IS NOT NULL GROUP BY k, incident_id
)
SELECT k AS key, count(*) AS cases, sum(points)::float8 AS escalation_points
  FROM per_case GROUP BY k;

-- name: stat_names
-- A name for each key ($2): the last name seen in an assignment (owner or co-owner) of the unit at the grouped
-- level whose area the key is, or of the unit itself (departments, units).
SELECT key, name FROM unit_name
 WHERE kind = CASE WHEN $1 IN ('unit', 'department') THEN 'unit' ELSE $1 END AND key = ANY($2::text[]);

-- name: frozen_stats
SELECT frozen_at, rows FROM frozen_stats WHERE month = $1 AND group_by = $2;

-- name: store_frozen_stats
INSERT INTO frozen_stats (month, group_by, frozen_at, rows) VALUES ($1, $2, $3, $4)
ON CONFLICT (month, group_by) DO NOTHING;

-- name: running_clocks_by_district
-- Running clocks per district (the grid code's first 6 digits; '' without a grid) and light: the API's metric,
-- refreshed every half minute (phase_clock_one_running holds exactly the running clocks).
SELECT coalesce(left(grid_code, 6), '') AS district, light, count(*) AS clocks
  FROM phase_clock WHERE stopped_at IS NULL GROUP BY 1, 2;
