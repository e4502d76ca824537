-- name: registry_version
SELECT version FROM registry_version;

-- name: bump_registry_version
UPDATE registry_version SET version = version + 1 RETURNING version;

-- name: lock_registry_version
SELECT version FROM registry_version FOR UPDATE;

-- name: tiling_grids_within
-- Grids that must not overlap others of their layer (see domain/grid_import.py), near an import.
SELECT code, CASE WHEN level = 'micro' THEN 'micro' ELSE 'comprehensive' END AS layer, ST_AsBinary(geom) AS wkb
  FROM grid
 WHERE ((level = 'grid' AND kind = 'comprehensive') OR level = 'micro')
   AND geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)
   AND NOT (code = ANY($5::text[]));

-- name: all_grid_codes
SELECT code FROM grid;

-- name: upsert_grid
INSERT INTO grid (code, name, level, kind, parent_code, dedicated_type, geom)
VALUES ($1, $2, $3, $4, $5, $6, ST_SetSRID(ST_GeomFromWKB($7), 4326))
ON CONFLICT (code) DO UPDATE
   SET name = EXCLUDED.name, kind = EXCLUDED.kind, dedicated_type = EXCLUDED.dedicated_type,
       geom = EXCLUDED.geom, imported_at = now();

-- name: load_grids
SELECT code, name, level, kind, dedicated_type, ST_AsBinary(geom) AS wkb FROM grid;

-- name: get_grid
SELECT code, name, level, kind, parent_code, dedicated_type FROM grid WHERE code = $1;

-- name: upsert_unit
INSERT INTO unit (id, kind, name, area, department) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE
   SET kind = EXCLUDED.kind, name = EXCLUDED.name, area = EXCLUDED.area,
       department = EXCLUDED.department, updated_at = now();

-- name: upsert_worker
INSERT INTO worker (id, name, phone, unit_id, grid_codes, on_duty) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE
   SET name = EXCLUDED.name, phone = EXCLUDED.phone, unit_id = EXCLUDED.unit_id,
       grid_codes = EXCLUDED.grid_codes, on_duty = EXCLUDED.on_duty, updated_at = now();

-- name: units_for_codes
SELECT id, kind, name, area, department FROM unit WHERE area && $1::text[];

-- name: record_first_assignments
-- Routing's copies of cases it has never seen ($9..$15: what each IncidentReceived said) and their first decisions
-- (as record_assignment: $1..$8, $8 the co-owners as JSON text), for a run of received cases in one statement, one
-- array element per case (each case once); neither row is written for a case already known (a re-published event
-- with a new id). Returns the cases that were new.
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::float8[], $12::float8[], $13::text[], $14::text[],
                         $15::timestamptz[]) WITH ORDINALITY
        AS i(incident_id, at, kind, unit_id, worker_id, place_code, reason, co_owners, category, urgency, lon, lat,
             address, grid_code, received_at, ord)),
new_case AS (
    INSERT INTO routed_incident (incident_id, category, urgency, lon, lat, address, grid_code, received_at,
                                 current_unit_id, place_code, co_owners)
    SELECT incident_id, category, urgency, lon, lat, address, grid_code, received_at, unit_id, place_code,
           CASE WHEN unit_id IS NOT NULL THEN co_owners::jsonb ELSE '[]'::jsonb END
      FROM input
    ON CONFLICT (incident_id) DO NOTHING
    RETURNING incident_id),
history AS (
    INSERT INTO assignment (incident_id, at, kind, unit_id, worker_id, grid_code, place_code, reason)
    SELECT i.incident_id, i.at, i.kind, i.unit_id, i.worker_id,
           CASE WHEN length(i.place_code) = 15 THEN i.place_code END, i.place_code, i.reason
      FROM input i JOIN new_case USING (incident_id)
     ORDER BY i.ord)
SELECT incident_id FROM new_case;

-- name: record_assignment
-- One decision in the history and, when it names a unit, the case's current owner and co-owners ($8); the
-- place is kept whatever the decision (an unroutable case stays in its district's queue). grid_code only
-- when the place is a grid, place_code the most specific level known.
WITH history AS (
    INSERT INTO assignment (incident_id, at, kind, unit_id, worker_id, grid_code, place_code, reason)
    VALUES ($1, $2, $3, $4, $5, CASE WHEN length($6::text) = 15 THEN $6::text END, $6::text, $7)
)
UPDATE routed_incident
   SET current_unit_id = coalesce($4::text, current_unit_id), place_code = coalesce($6::text, place_code),
       co_owners = CASE WHEN $4::text IS NOT NULL THEN $8::jsonb ELSE co_owners END
 WHERE incident_id = $1;

-- name: mark_case_closed
UPDATE routed_incident SET closed_at = $2 WHERE incident_id = $1 AND closed_at IS NULL;

-- name: mark_case_reopened
UPDATE routed_incident SET closed_at = NULL WHERE incident_id = $1;

-- name: decision_contexts
-- What routing decisions read, for many cases in one round trip (the hot path: a run of received cases), one row
-- per array element (`ord`: its position): the rule of the category ($3) × urgency ($4), the units of the place and
-- the levels above it ($1, the codes joined by commas), and the workers of its grid ($2, may be null) with their
-- rosters. Of the departments only those the rule names (owner or co-owner `dept:…`): a decision never looks at
-- another, and a district's dozen of them were most of what each case read and decoded.
SELECT k.ord, applicable.owner AS rule_owner, applicable.co_owner AS rule_co_owner,
    (SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind, 'name', name, 'area', area,
                                                'department', department)), '[]'::json)
       FROM unit
      WHERE area && string_to_array(k.place_codes, ',')
        AND (kind <> 'department' OR 'dept:' || department IN (applicable.owner, applicable.co_owner))) AS units,
    (SELECT coalesce(json_agg(json_build_object('id', w.id, 'name', w.name, 'phone', w.phone,
                                                'unit_id', w.unit_id, 'grid_codes', w.grid_codes,
                                                'on_duty', w.on_duty, 'weekly', r.weekly,
                                                'periods', r.periods)), '[]'::json)
       FROM worker w LEFT JOIN worker_roster r ON r.worker_id = w.id
      WHERE k.grid_code IS NOT NULL AND w.grid_codes @> ARRAY[k.grid_code]) AS workers
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
    AS k(place_codes, grid_code, category, urgency, ord)
  LEFT JOIN LATERAL (
    SELECT owner, co_owner FROM routing_rule
     WHERE category IN (k.category, '*') AND urgency IN (k.urgency, '*')
     ORDER BY category = '*', urgency = '*'
     LIMIT 1) AS applicable ON true;

-- name: assignment_history
SELECT at, kind, unit_id, worker_id, grid_code, place_code, reason FROM assignment WHERE incident_id = $1
 ORDER BY id;

-- name: list_units
-- Units with a code of their area inside $1's patterns (null: the whole city; the exact rule, every code inside
-- the caller's area, is Actor.covers'), of kind $2, with a code under $3; the levels from the top, then by id.
SELECT id, kind, name, area, department FROM unit
 WHERE ($1::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest(area) AS a(code) WHERE a.code LIKE ANY ($1::text[])))
   AND ($2::text IS NULL OR kind = $2)
   AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM unnest(area) AS a(code) WHERE a.code LIKE $3 || '%'))
 ORDER BY array_position(ARRAY['district', 'street', 'community', 'grid', 'department'], kind), id;

-- name: list_rules
SELECT category, urgency, owner, co_owner, updated_at FROM routing_rule ORDER BY category, urgency;

-- name: upsert_rule
INSERT INTO routing_rule (category, urgency, owner, co_owner) VALUES ($1, $2, $3, $4)
ON CONFLICT (category, urgency) DO UPDATE
   SET owner = EXCLUDED.owner, co_owner = EXCLUDED.co_owner, updated_at = now();

-- name: routed_incident_for_update
SELECT r.*, u.kind AS current_unit_kind
  FROM routed_incident r LEFT JOIN unit u ON u.id = r.current_unit_id
 WHERE r.incident_id = $1
 FOR UPDATE OF r;

-- name: get_unit
SELECT id, kind, name, area, department FROM unit WHERE id = $1;

-- name: known_unit_ids
SELECT id FROM unit WHERE id = ANY($1::text[]);

-- name: get_worker
SELECT w.id, w.name, w.phone, w.unit_id, w.grid_codes, w.on_duty, r.weekly, r.periods,
       r.updated_at AS roster_updated_at
  FROM worker w LEFT JOIN worker_roster r ON r.worker_id = w.id
 WHERE w.id = $1;

-- name: upsert_roster
INSERT INTO worker_roster (worker_id, weekly, periods) VALUES ($1, $2, $3)
ON CONFLICT (worker_id) DO UPDATE
   SET weekly = EXCLUDED.weekly, periods = EXCLUDED.periods, updated_at = now();

-- name: delete_roster
DELETE FROM worker_roster WHERE worker_id = $1;

-- name: browse_grids
-- $3: the caller's area codes (NULL: the whole city); a grid lies in the area when one of them is its prefix.
SELECT code, name, level, kind, parent_code, dedicated_type FROM grid
 WHERE ($1::text IS NULL OR parent_code = $1)
   AND ($2::text IS NULL OR level = $2)
   AND ($3::text[] IS NULL OR code LIKE ANY (SELECT prefix || '%' FROM unnest($3::text[]) AS prefix))
 ORDER BY code
 LIMIT $4;

-- name: grid_geojson
-- The grid and everything under it (its code is their prefix), as one FeatureCollection: only the levels $2 (NULL:
-- all), only what touches the box $5..$8 (west, south, east, north; NULL: anywhere; the GiST index), each outline
-- simplified by $3 degrees (ST_SimplifyPreserveTopology: never invalid, never empty; 0: as stored) and written
-- with $4 decimals. A district, street or community says how many grids lie in it (`grids`), so a map can choose
-- between drawing them and drawing it. As text: served as Postgres wrote it (no decoding and encoding on the way).
WITH chosen AS (
    SELECT code, name, level, kind, parent_code, dedicated_type, geom FROM grid
     WHERE code LIKE $1 || '%' AND ($2::text[] IS NULL OR level = ANY ($2::text[]))
       AND ($5::float8 IS NULL OR geom && ST_MakeEnvelope($5, $6, $7, $8, 4326))
), counted AS MATERIALIZED (
    SELECT left(code, 12) AS community, count(*) AS grids FROM grid
     WHERE code LIKE $1 || '%' AND level IN ('grid', 'micro')
       AND EXISTS (SELECT 1 FROM chosen WHERE level IN ('district', 'street', 'community'))
     GROUP BY 1
)
SELECT json_build_object(
         'type', 'FeatureCollection',
         'features', coalesce(json_agg(json_build_object(
             'type', 'Feature',
             'geometry', ST_AsGeoJSON(CASE WHEN $3 > 0 THEN ST_Multi(ST_SimplifyPreserveTopology(geom, $3))
                                           ELSE geom END, $4)::json,
             'properties', CASE WHEN level IN ('district', 'street', 'community') THEN
                 json_build_object('code', code, 'name', name, 'level', level, 'kind', kind,
                                   'parent_code', parent_code, 'dedicated_type', dedicated_type,
                                   'grids', (SELECT coalesce(sum(grids), 0) FROM counted
                                              WHERE left(community, length(code)) = code))
               ELSE json_build_object('code', code, 'name', name, 'level', level, 'kind', kind,
                                      'parent_code', parent_code, 'dedicated_type', dedicated_type) END)
           ORDER BY length(code), code), '[]'::json))::text
  FROM chosen;

-- name: dedicated_owns
SELECT EXISTS (SELECT 1 FROM dedicated_category WHERE dedicated_type = $1 AND category = $2);

-- name: delete_dedicated_categories
DELETE FROM dedicated_category WHERE dedicated_type = $1;

-- name: insert_dedicated_categories
INSERT INTO dedicated_category (dedicated_type, category) SELECT $1, unnest($2::text[]);

-- name: dedicated_categories
SELECT dedicated_type, array_agg(category ORDER BY category) AS categories
  FROM dedicated_category GROUP BY dedicated_type ORDER BY dedicated_type;
