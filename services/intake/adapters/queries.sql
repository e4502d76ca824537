-- name: list_categories
SELECT code, name_zh, name_en, default_owner, default_urgency FROM category ORDER BY code;

-- name: insert_cases
-- New cases with their timelines, idempotency keys and outbox rows in ONE statement, which Postgres applies
-- atomically with or without a transaction around it. Keys ($1) are claimed in the order given (sorted by the
-- caller, so two statements with common keys never deadlock); a case whose key an earlier request holds is left out
-- with its timeline and outbox rows. Cases: $2; timeline: $3; outbox rows: $4..$7 (shared/messaging/outbox.py
-- columns), whose relay is woken on $8; attachments to fetch (a 12345 order's or an Open311 request's URLs): $9.
-- Each case's searchable text goes to incident_text (migration 0015). Returns the ids of the cases stored.
-- Keys, cases, timeline and attachments each come as one JSON array of objects (IncidentRepository.insert_cases):
-- binding typed arrays cost the API a codec call per value, 41 arrays in all. The outbox rows stay typed arrays:
-- their payloads are JSON texts, which inside a JSON document Postgres would have to unescape.
WITH claims AS (
    SELECT * FROM ROWS FROM (jsonb_to_recordset($1::text::jsonb)
                             AS (scope text, key text, fingerprint text, incident_id uuid))
           WITH ORDINALITY AS k(scope, key, fingerprint, incident_id, n)),
claimed AS (
    INSERT INTO idempotency_key (scope, key, fingerprint, incident_id)
    SELECT scope, key, fingerprint, incident_id FROM claims ORDER BY n
    ON CONFLICT (scope, key) DO NOTHING
    RETURNING incident_id),
new_incident AS (
    INSERT INTO incident (id, source, category, urgency, title, description, lon, lat, address, grid_code,
                          reporter, attachments, reported_at, received_at, status, owner, co_owners,
                          duplicate_of, hotline_order_no, deadline, hotline, version, updated_at)
    SELECT id, source, category, urgency, title, description, lon, lat, address, grid_code,
           reporter, attachments, reported_at, received_at, status, owner, co_owners,
           duplicate_of, hotline_order_no, deadline, hotline, 1, received_at
      FROM jsonb_to_recordset($2::text::jsonb)
           AS n(id uuid, source text, category text, urgency text, title text, description text, lon float8,
                lat float8, address text, grid_code text, reporter jsonb, attachments jsonb, reported_at timestamptz,
                received_at timestamptz, status text, owner jsonb, co_owners jsonb, duplicate_of uuid,
                hotline_order_no text, deadline timestamptz, hotline jsonb)
     WHERE n.id IN (SELECT incident_id FROM claimed) OR n.id NOT IN (SELECT incident_id FROM claims)
    RETURNING id, received_at, title || ' ' || description || ' ' || coalesce(address, '') AS body),
new_text AS (
    INSERT INTO incident_text (incident_id, received_at, body) SELECT id, received_at, body FROM new_incident),
new_timeline AS (
    INSERT INTO timeline_entry (incident_id, at, action, actor, detail)
    SELECT incident_id, at, action, actor, detail
      FROM ROWS FROM (jsonb_to_recordset($3::text::jsonb)
                      AS (incident_id uuid, at timestamptz, action text, actor text, detail jsonb))
           WITH ORDINALITY AS t(incident_id, at, action, actor, detail, n)
     WHERE incident_id IN (SELECT id FROM new_incident)
     ORDER BY n
    RETURNING 1),
new_outbox AS (
    INSERT INTO outbox (event_id, topic, key, payload)
    SELECT event_id, topic, key, payload
      FROM unnest($4::uuid[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY
           AS o(event_id, topic, key, payload, n)
     WHERE key::uuid IN (SELECT id FROM new_incident)
     ORDER BY n
    RETURNING 1),
new_attachment AS (
    INSERT INTO attachment (id, incident_id, origin, status, source_url, filename, created_at, created_by,
                            next_attempt_at)
    SELECT id, incident_id, origin, 'pending', source_url, filename, created_at, origin, created_at
      FROM jsonb_to_recordset($9::text::jsonb)
           AS a(id uuid, incident_id uuid, origin text, source_url text, filename text, created_at timestamptz)
     WHERE incident_id IN (SELECT id FROM new_incident)
    RETURNING 1),
woken AS (SELECT pg_notify($8, '') FROM (SELECT 1 FROM new_outbox LIMIT 1) AS any_row)
SELECT array(SELECT id FROM new_incident) AS created, (SELECT count(*) FROM woken) AS woken,
       (SELECT count(*) FROM new_attachment) AS attachments;

-- name: get_incidents
SELECT * FROM incident WHERE id = ANY ($1::uuid[]);

-- name: get_incident_for_update
SELECT * FROM incident WHERE id = $1 FOR UPDATE;

-- name: get_incidents_for_update
-- Locked in id order: two transactions locking cases they share wait for each other instead of deadlocking.
SELECT * FROM incident WHERE id = ANY ($1::uuid[]) ORDER BY id FOR UPDATE;

-- name: get_incident
SELECT * FROM incident WHERE id = $1;

-- name: update_incident
-- The case's changed fields and the timeline entries of the change ($21..$24, in order), in one statement: the
-- entries are written only when the case was (its version still $15). updated_at is the time of the change on the
-- service clock ($16: its last timeline entry), never the database's now(): under the virtual clock the two differ
-- by months. Returns 1 when the case was updated.
WITH updated AS (
    UPDATE incident
       SET status = $2, owner = $3, co_owners = $4, grid_code = $5, return_count = $6, signed_at = $7,
           closed_at = $8, suspended_from = $9, pending_extension = $10, extensions_granted = $11,
           extension_working_days = $12, merged_into = $13, visit = $14,
           version = version + 1, updated_at = coalesce($16, updated_at),
           suspended_until = $17, pending_suspension = $18, published_at = $19, public_reply = $20
     WHERE id = $1 AND version = $15
    RETURNING id),
timeline AS (
    INSERT INTO timeline_entry (incident_id, at, action, actor, detail)
    SELECT updated.id, t.at, t.action, t.actor, t.detail::jsonb
      FROM updated, unnest($21::timestamptz[], $22::text[], $23::text[], $24::text[]) WITH ORDINALITY
           AS t(at, action, actor, detail, n)
     ORDER BY t.n)
SELECT count(*) FROM updated;

-- name: update_incidents
-- update_incident for many cases in one statement (a consumer's run; each case once), jsonb columns as text: the
-- changed fields ($1..$20, one array element per case) and the timeline entries of the changes ($21..$25, one element
-- per entry, in order, each naming its case); a case's entries are written only when it was updated (its version
-- still the one read). Returns how many cases were updated.
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[],
                         $7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[], $11::integer[],
                         $12::float8[], $13::uuid[], $14::text[], $15::integer[], $16::timestamptz[],
                         $17::timestamptz[], $18::text[], $19::timestamptz[], $20::text[])
        AS i(id, status, owner, co_owners, grid_code, return_count, signed_at, closed_at, suspended_from,
             pending_extension, extensions_granted, extension_working_days, merged_into, visit, version, changed_at,
             suspended_until, pending_suspension, published_at, public_reply)),
updated AS (
    UPDATE incident
       SET status = i.status, owner = i.owner::jsonb, co_owners = i.co_owners::jsonb, grid_code = i.grid_code,
           return_count = i.return_count, signed_at = i.signed_at, closed_at = i.closed_at,
           suspended_from = i.suspended_from, pending_extension = i.pending_extension::jsonb,
           extensions_granted = i.extensions_granted, extension_working_days = i.extension_working_days,
           merged_into = i.merged_into, visit = i.visit::jsonb,
           version = incident.version + 1, updated_at = coalesce(i.changed_at, incident.updated_at),
           suspended_until = i.suspended_until, pending_suspension = i.pending_suspension::jsonb,
           published_at = i.published_at, public_reply = i.public_reply
      FROM input i
     WHERE incident.id = i.id AND incident.version = i.version
    RETURNING incident.id),
timeline AS (
    INSERT INTO timeline_entry (incident_id, at, action, actor, detail)
    SELECT t.incident_id, t.at, t.action, t.actor, t.detail::jsonb
      FROM unnest($21::uuid[], $22::timestamptz[], $23::text[], $24::text[], $25::text[]) WITH ORDINALITY
           AS t(incident_id, at, action, actor, detail, n)
      JOIN updated ON updated.id = t.incident_id
     ORDER BY t.n)
SELECT count(*) FROM updated;

-- name: incidents_due_to_resume
-- 挂起 whose `until` has come, locked for this resumer; another's are skipped, not waited for.
SELECT * FROM incident
 WHERE status = 'suspended' AND suspended_until <= $1
 ORDER BY suspended_until
 LIMIT $2
   FOR UPDATE SKIP LOCKED;

-- name: get_timeline
SELECT at, action, actor, detail FROM timeline_entry WHERE incident_id = $1 ORDER BY id;

-- name: get_idempotency_keys
SELECT scope, key, fingerprint, incident_id
  FROM idempotency_key JOIN unnest($1::text[], $2::text[]) AS k(scope, key) USING (scope, key);

-- name: get_action_key
-- Who holds an action's Idempotency-Key (scope, key): its fingerprint, its case and the first answer.
SELECT fingerprint, incident_id, answer FROM action_idempotency WHERE scope = $1 AND key = $2;

-- name: hold_action_key
-- Claim an action's key; no row returned when another request holds it already.
INSERT INTO action_idempotency (scope, key, fingerprint, incident_id, answer) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (scope, key) DO NOTHING
RETURNING true;

-- name: lock_hotline_order
SELECT pg_advisory_xact_lock(hashtextextended('hotline-order:' || $1, 0));

-- name: incident_by_order_no
SELECT * FROM incident WHERE hotline_order_no = $1 FOR UPDATE;

-- name: hotline_mapping
SELECT kind, value, category FROM hotline_category_map;

-- name: lock_hotline_mapping
-- Replacing the mapping: one replace at a time; readers are not blocked.
LOCK TABLE hotline_category_map IN SHARE ROW EXCLUSIVE MODE;

-- name: delete_hotline_mapping
DELETE FROM hotline_category_map;

-- name: insert_hotline_mapping
INSERT INTO hotline_category_map (kind, value, category)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[]);

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
-- A street's, community's or grid's code ($3 of 9, 12 or 15 digits) is matched as incident_street_received,
-- incident_community_received and incident_grid_received (0014) are keyed, so its newest cases are read first
-- instead of every case it ever had being sorted (a street's year: ~30,000); a district's (a fifth of the city)
-- through the newest cases of the city, as before; any other prefix with LIKE.
SELECT id, source, category, urgency, title, status, grid_code, received_at, owner, hotline_order_no,
       duplicate_of, merged_into, pending_extension, pending_suspension
  FROM incident
 WHERE ($1::text IS NULL OR status = $1)
   AND ($2::text IS NULL OR category = $2)
   AND ($3::text IS NULL OR CASE length($3) WHEN 9 THEN left(grid_code, 9) = $3 WHEN 12 THEN left(grid_code, 12) = $3
                                            WHEN 15 THEN left(grid_code, 15) = $3 ELSE grid_code LIKE $3 || '%' END)
   AND ($4::timestamptz IS NULL OR received_at >= $4)
   AND ($5::timestamptz IS NULL OR received_at < $5)
   AND ($6::boolean OR grid_code LIKE ANY ($7::text[]))
   AND ($8::timestamptz IS NULL OR (received_at, id) < ($8, $9::uuid))
 ORDER BY received_at DESC, id DESC
 LIMIT $10;

-- name: search_incidents_by_text
-- search_incidents, of the cases whose text holds $11 (a LIKE pattern over incident_text's body, migration 0015)
-- or whose 12345 order number is $12 whole (found through its unique index: in the trigram index its digits made
-- every number's trigrams common, each lookup reading posting lists as long as the hotline's history). Both
-- conditions are on incident_text, so the planner may read either side first: a rare text's few cases off the
-- trigram index (or-ed with the order number's case by key), or the newest cases of the area until the page is
-- full, each looked up in incident_text by its key. The window ($4, $5) is asked of incident_text too, so cases
-- outside it found through the trigram index are left there before being joined.
SELECT i.id, i.source, i.category, i.urgency, i.title, i.status, i.grid_code, i.received_at, i.owner,
       i.hotline_order_no, i.duplicate_of, i.merged_into, i.pending_extension, i.pending_suspension
  FROM incident i JOIN incident_text t ON t.incident_id = i.id
 WHERE (t.body ILIKE $11 OR t.incident_id = (SELECT id FROM incident WHERE hotline_order_no = $12))
   AND ($1::text IS NULL OR i.status = $1)
   AND ($2::text IS NULL OR i.category = $2)
   AND ($3::text IS NULL OR CASE length($3) WHEN 9 THEN left(i.grid_code, 9) = $3
                                            WHEN 12 THEN left(i.grid_code, 12) = $3
                                            WHEN 15 THEN left(i.grid_code, 15) = $3
                                            ELSE i.grid_code LIKE $3 || '%' END)
   AND ($4::timestamptz IS NULL OR (i.received_at >= $4 AND t.received_at >= $4))
   AND ($5::timestamptz IS NULL OR (i.received_at < $5 AND t.received_at < $5))
   AND ($6::boolean OR i.grid_code LIKE ANY ($7::text[]))
   AND ($8::timestamptz IS NULL OR (i.received_at, i.id) < ($8, $9::uuid))
 ORDER BY i.received_at DESC, i.id DESC
 LIMIT $10;

-- name: centre_queue_incidents
-- The command centre's queue (issue 16): open cases routing handed to the centre (IncidentUnroutable) that no one
-- has taken since: received or returned, their last routing step an `unroutable` entry (or 12345 refusing our
-- return of an order that had no unit: back to the dispatcher). $1 null for every kind, else one (unplaced,
-- final_dispatch, to_complete, to_merge, dispatch; an entry from before the kind was kept says 终审 for a final
-- dispatch). Then as search_incidents: $2 category, $3 grid prefix, $4 city-wide, $5 area patterns, $6/$7 the
-- cursor, $8 the limit; newest first.
SELECT id, source, category, urgency, title, status, grid_code, received_at, owner, hotline_order_no, duplicate_of,
       merged_into, pending_extension, pending_suspension, queued_at, queue_reason, queue
  FROM (SELECT i.*, q.at AS queued_at, coalesce(q.detail->>'reason', q.detail->>'note') AS queue_reason,
               CASE WHEN q.detail ? 'queue' THEN q.detail->>'queue'
                    WHEN q.action = 'return_decision' THEN 'dispatch'
                    WHEN q.detail->>'reason' LIKE '%终审%' THEN 'final_dispatch'
                    WHEN i.grid_code IS NULL THEN 'unplaced' ELSE 'dispatch' END AS queue
          FROM incident i
         CROSS JOIN LATERAL (
               SELECT t.action, t.at, t.detail FROM timeline_entry t
                WHERE t.incident_id = i.id
                  AND t.action IN ('unroutable', 'assigned', 'reassigned', 'return', 'refer_up', 'return_decision')
                ORDER BY t.id DESC LIMIT 1) q
         WHERE i.status IN ('received', 'returned')
           AND (q.action = 'unroutable' OR (q.action = 'return_decision' AND i.status = 'received'))
           AND ($2::text IS NULL OR i.category = $2)
           AND ($3::text IS NULL OR i.grid_code LIKE $3 || '%')
           AND ($4::boolean OR i.grid_code LIKE ANY ($5::text[]))
           AND ($6::timestamptz IS NULL OR (i.received_at, i.id) < ($6, $7::uuid))) AS queued
 WHERE ($1::text IS NULL OR queue = $1)
 ORDER BY received_at DESC, id DESC
 LIMIT $8;

-- name: pending_incidents
-- Requests awaiting the centre's decision (issue 16): $1 'extension' (延期, in progress) or 'suspension' (挂起,
-- assigned or in progress); then as centre_queue_incidents ($2…$8), newest first.
SELECT id, source, category, urgency, title, status, grid_code, received_at, owner, hotline_order_no,
       duplicate_of, merged_into, pending_extension, pending_suspension
  FROM incident
 WHERE CASE WHEN $1::text = 'extension' THEN status = 'in_progress' AND pending_extension IS NOT NULL
            ELSE status IN ('assigned', 'in_progress') AND pending_suspension IS NOT NULL END
   AND ($2::text IS NULL OR category = $2)
   AND ($3::text IS NULL OR grid_code LIKE $3 || '%')
   AND ($4::boolean OR grid_code LIKE ANY ($5::text[]))
   AND ($6::timestamptz IS NULL OR (received_at, id) < ($6, $7::uuid))
 ORDER BY received_at DESC, id DESC
 LIMIT $8;

-- name: duplicate_candidates
-- For each lookup n (category, since, lon, lat, half-widths of a box): open, non-duplicate cases of the
-- category received since then inside the box; the exact distance is decided in the domain.
-- ORDER BY lon is the order of incident_duplicate_lookup: it keeps the planner on that index even while the
-- table is small and has no statistics yet. Otherwise the plan a connection caches then (any of the category's
-- indexes looks as good on a few rows) is kept as the table grows, reading every case of the category.
SELECT q.n, i.id, i.lon, i.lat
  FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[], $6::float8[])
       WITH ORDINALITY AS q(category, since, lon, lat, half_lon, half_lat, n)
 CROSS JOIN LATERAL (
       SELECT id, lon, lat FROM incident
        WHERE category = q.category AND received_at >= q.since AND duplicate_of IS NULL
          AND status IN ('received', 'assigned', 'in_progress', 'suspended', 'returned', 'pending_verification')
          AND lon BETWEEN q.lon - q.half_lon AND q.lon + q.half_lon
          AND lat BETWEEN q.lat - q.half_lat AND q.lat + q.half_lat
        ORDER BY lon
        LIMIT 50) AS i;

-- name: open_duplicates_of
SELECT id FROM incident WHERE duplicate_of = $1 AND status NOT IN ('merged', 'rejected', 'closed', 'visited')
 ORDER BY id;

-- name: duplicates_of
SELECT id FROM incident WHERE duplicate_of = $1 ORDER BY received_at, id;

-- name: open311_client
SELECT name FROM open311_client WHERE api_key = $1 AND revoked_at IS NULL;

-- name: take_open311_request
-- One request of the key's share: a new window once the last is a minute old, else one more in it.
INSERT INTO open311_rate AS r (api_key, window_start, used) VALUES ($1, $2, 1)
ON CONFLICT (api_key) DO UPDATE
   SET window_start = CASE WHEN r.window_start <= $2 - interval '1 minute' THEN $2 ELSE r.window_start END,
       used = CASE WHEN r.window_start <= $2 - interval '1 minute' THEN 1 ELSE r.used + 1 END
RETURNING window_start, used;

-- name: insert_open311_client
INSERT INTO open311_client (api_key, name) VALUES ($1, $2);

-- name: open311_requests
-- The public feed: what the public reported, and what the centre published; never a confidential 12345 order.
SELECT i.id, i.source, i.category, i.status, i.description, i.title, i.address, i.lon, i.lat, i.attachments,
       i.received_at, i.updated_at, i.owner, i.deadline, c.name_zh, i.public_reply
  FROM incident i JOIN category c ON c.code = i.category
 WHERE (i.source = 'public' OR i.published_at IS NOT NULL)
   AND NOT coalesce((i.hotline->>'confidential')::boolean, false)
   AND ($1::uuid[] IS NULL OR i.id = ANY ($1))
   AND ($2::text[] IS NULL OR i.category = ANY ($2))
   AND ($3::timestamptz IS NULL OR i.received_at >= $3)
   AND ($4::timestamptz IS NULL OR i.received_at < $4)
   AND ($5::text[] IS NULL OR i.status = ANY ($5))
 ORDER BY i.received_at DESC, i.id DESC
 LIMIT $6;

-- ---- attachments (adapters/repository.py AttachmentRepository) ----

-- name: insert_attachment
-- An upload, stored. A key another upload holds leaves it out (no row returned): that upload is the answer.
INSERT INTO attachment (id, incident_id, origin, status, created_at, created_by, filename, source_url, media_type,
                        size_bytes, sha256, width, height, captured_at, gps_lon, gps_lat, gps_altitude_m, camera,
                        has_thumbnail, stored_at, error, attempts, next_attempt_at, idempotency_scope,
                        idempotency_key, fingerprint)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
        $24, $25, $26)
ON CONFLICT (idempotency_scope, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id;

-- name: update_attachment
UPDATE attachment
   SET status = $2, media_type = $3, size_bytes = $4, sha256 = $5, width = $6, height = $7, captured_at = $8,
       gps_lon = $9, gps_lat = $10, gps_altitude_m = $11, camera = $12, has_thumbnail = $13, stored_at = $14,
       error = $15, attempts = $16, next_attempt_at = $17
 WHERE id = $1;

-- name: attachment_by_key
SELECT * FROM attachment WHERE idempotency_scope = $1 AND idempotency_key = $2;

-- name: attachments_of_case
SELECT * FROM attachment WHERE incident_id = $1 ORDER BY created_at, id;

-- name: attachment_of_case
SELECT * FROM attachment WHERE incident_id = $1 AND id = $2;

-- name: attachments_held
-- The places a case's attachments take: stored ones and those still to fetch (a failed fetch takes none).
SELECT count(*) FROM attachment WHERE incident_id = $1 AND status <> 'failed';

-- name: stored_attachment_ids
SELECT id FROM attachment WHERE incident_id = $1 AND status = 'stored';

-- name: claim_due_attachments
-- Fetches that are due, locked for this fetcher until its transaction ends; another's are skipped, not waited for.
SELECT * FROM attachment
 WHERE status = 'pending' AND next_attempt_at <= $1
 ORDER BY next_attempt_at
 LIMIT $2
   FOR UPDATE SKIP LOCKED;

-- name: incident_visibility
-- What deciding whether a caller may see a case needs (views.py `visible_to`).
SELECT id, grid_code, owner, co_owners, status FROM incident WHERE id = $1;
