-- name: registry_version
SELECT version FROM registry_version;

-- name: bump_registry_version
UPDATE registry_version SET version = version + 1 RETURNING version;

-- name: all_grid_codes
SELECT code FROM grid;

-- name: upsert_grid
INSERT INTO grid (code, name, level, kind, parent_code, dedicated_type, geom)
VALUES ($1, $2, $3, $4, $5, $6, ST_SetSRID(ST_GeomFromWKB($7), 4326))
ON CONFLICT (code) DO UPDATE
   SET name = EXCLUDED.name, kind = EXCLUDED.kind, dedicated_type = EXCLUDED.dedicated_type,
       geom = EXCLUDED.geom, imported_at = now();

-- name: load_grids
SELECT code, name, level, kind, ST_AsBinary(geom) AS wkb FROM grid;

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
SELECT id, kind, name, area FROM unit WHERE area && $1::text[];

-- name: workers_for_grid
SELECT id, name, phone, unit_id, grid_codes, on_duty FROM worker WHERE grid_codes @> ARRAY[$1::text];

-- name: upsert_routed_incident
INSERT INTO routed_incident (incident_id, category, urgency, lon, lat, address, grid_code, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (incident_id) DO NOTHING;

-- name: set_current_unit
UPDATE routed_incident SET current_unit_id = $2, grid_code = coalesce(grid_code, $3) WHERE incident_id = $1;

-- name: insert_assignment
INSERT INTO assignment (incident_id, at, kind, unit_id, worker_id, grid_code, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: assignment_history
SELECT at, kind, unit_id, worker_id, grid_code, reason FROM assignment WHERE incident_id = $1 ORDER BY id;
