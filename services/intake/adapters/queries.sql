-- name: list_categories
SELECT code, name_zh, name_en, default_owner, default_urgency FROM category ORDER BY code;

-- name: insert_incident
INSERT INTO incident (id, source, category, urgency, title, description, lon, lat, address, grid_code,
                      reporter, attachments, reported_at, received_at, status, owner, co_owners,
                      duplicate_of, hotline_order_no, deadline, hotline, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, 1);

-- name: get_incident_for_update
SELECT * FROM incident WHERE id = $1 FOR UPDATE;

-- name: get_incident
SELECT * FROM incident WHERE id = $1;

-- name: update_incident
UPDATE incident
   SET status = $2, owner = $3, co_owners = $4, grid_code = $5, return_count = $6, signed_at = $7,
       closed_at = $8, suspended_from = $9, pending_extension = $10, extensions_granted = $11,
       extension_working_days = $12, merged_into = $13, visit = $14,
       version = version + 1, updated_at = now()
 WHERE id = $1 AND version = $15;

-- name: insert_timeline_entry
INSERT INTO timeline_entry (incident_id, at, action, actor, detail) VALUES ($1, $2, $3, $4, $5);

-- name: get_timeline
SELECT at, action, actor, detail FROM timeline_entry WHERE incident_id = $1 ORDER BY id;

-- name: claim_idempotency_key
INSERT INTO idempotency_key (scope, key, fingerprint, incident_id) VALUES ($1, $2, $3, $4)
ON CONFLICT (scope, key) DO NOTHING
RETURNING incident_id;

-- name: get_idempotency_key
SELECT fingerprint, incident_id FROM idempotency_key WHERE scope = $1 AND key = $2;

-- name: lock_hotline_order
SELECT pg_advisory_xact_lock(hashtextextended('hotline-order:' || $1, 0));

-- name: incident_by_order_no
SELECT * FROM incident WHERE hotline_order_no = $1 FOR UPDATE;

-- name: hotline_mapping
SELECT kind, value, category FROM hotline_category_map;

-- name: category_default_urgency
SELECT default_urgency FROM category WHERE code = $1;

-- name: remember_signature
WITH forget AS (DELETE FROM seen_signature WHERE seen_at < now() - interval '15 minutes')
INSERT INTO seen_signature (signature) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1;

-- name: record_hotline_event
INSERT INTO hotline_event (event_id, order_no, kind, payload) VALUES ($1, $2, $3, $4)
ON CONFLICT (event_id) DO NOTHING RETURNING 1;

-- name: search_incidents
-- Keyset pagination, newest first: the cursor is the (received_at, id) of the last row returned.
SELECT id, source, category, urgency, title, status, grid_code, received_at, owner, hotline_order_no,
       duplicate_of, merged_into
  FROM incident
 WHERE ($1::text IS NULL OR status = $1)
   AND ($2::text IS NULL OR category = $2)
   AND ($3::text IS NULL OR grid_code LIKE $3 || '%')
   AND ($4::timestamptz IS NULL OR received_at >= $4)
   AND ($5::timestamptz IS NULL OR received_at < $5)
   AND ($6::boolean OR grid_code LIKE ANY ($7::text[]))
   AND ($8::timestamptz IS NULL OR (received_at, id) < ($8, $9::uuid))
 ORDER BY received_at DESC, id DESC
 LIMIT $10;

-- name: duplicate_candidates
-- Open, non-duplicate cases of the category received since $2 inside a lon/lat box; the exact distance
-- is decided in the domain.
SELECT id, lon, lat FROM incident
 WHERE category = $1 AND received_at >= $2 AND duplicate_of IS NULL
   AND status IN ('received', 'assigned', 'in_progress', 'suspended', 'returned', 'pending_verification')
   AND lon BETWEEN $3::float8 - $5::float8 AND $3::float8 + $5::float8
   AND lat BETWEEN $4::float8 - $6::float8 AND $4::float8 + $6::float8
 LIMIT 50;

-- name: open_duplicates_of
SELECT id FROM incident WHERE duplicate_of = $1 AND status NOT IN ('merged', 'rejected', 'closed', 'visited')
 ORDER BY id;

-- name: duplicates_of
SELECT id FROM incident WHERE duplicate_of = $1 ORDER BY received_at, id;

-- name: open311_client
SELECT name FROM open311_client WHERE api_key = $1 AND revoked_at IS NULL;

-- name: insert_open311_client
INSERT INTO open311_client (api_key, name) VALUES ($1, $2);

-- name: open311_requests
SELECT i.id, i.category, i.status, i.description, i.title, i.address, i.lon, i.lat, i.attachments,
       i.received_at, i.updated_at, i.owner, c.name_zh,
       (SELECT t.detail->>'result' FROM timeline_entry t
         WHERE t.incident_id = i.id AND t.action = 'submit_result' ORDER BY t.id DESC LIMIT 1) AS latest_reply
  FROM incident i JOIN category c ON c.code = i.category
 WHERE ($1::uuid[] IS NULL OR i.id = ANY ($1))
   AND ($2::text[] IS NULL OR i.category = ANY ($2))
   AND ($3::timestamptz IS NULL OR i.received_at >= $3)
   AND ($4::timestamptz IS NULL OR i.received_at < $4)
   AND ($5::text[] IS NULL OR i.status = ANY ($5))
 ORDER BY i.received_at DESC, i.id DESC
 LIMIT $6;
