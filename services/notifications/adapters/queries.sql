-- name: replace_owners
-- The cases' owners from now on, one array element per case (each case once); returns the owners they replace (the
-- statement's snapshot is from before the upsert), no row for a case not seen before. A reassignment changes who owns
-- the case, not what the case is.
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[])
        AS i(incident_id, unit_id, unit_name, worker_id, worker_name, worker_phone, grid_code, category, urgency,
             unit_kind)),
-- Each case's owner looked up by its key (OFFSET 0: never a join a generic plan might make a read of every case).
previous AS (SELECT c.* FROM input CROSS JOIN LATERAL (SELECT * FROM case_owner c
                                                       WHERE c.incident_id = input.incident_id OFFSET 0) AS c),
upserted AS (
    INSERT INTO case_owner (incident_id, unit_id, unit_name, worker_id, worker_name, worker_phone, grid_code,
                            category, urgency, unit_kind)
    SELECT incident_id, unit_id, unit_name, worker_id, worker_name, worker_phone, grid_code, category, urgency,
           unit_kind
      FROM input
    ON CONFLICT (incident_id) DO UPDATE
       SET unit_id = EXCLUDED.unit_id, unit_name = EXCLUDED.unit_name, unit_kind = EXCLUDED.unit_kind,
           worker_id = EXCLUDED.worker_id,
           worker_name = EXCLUDED.worker_name, worker_phone = EXCLUDED.worker_phone,
           grid_code = EXCLUDED.grid_code, updated_at = now())
SELECT * FROM previous;

-- name: get_owner
SELECT * FROM case_owner WHERE incident_id = $1;

-- name: insert_deliveries
-- Deliveries in one statement, one array element each, written in the arrays' order (their seq, which a case's
-- webhooks and a phone's bundles follow); one already made for its event, recipient and channel is not written again.
-- Times come from the service clock, so held and retried deliveries follow a virtual clock too. Any written one due at
-- once ($18) wakes the deliverers, at commit (repeats in one transaction fold into one notification). Returns how many
-- were written.
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::boolean[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::text[],
                         $14::text[], $15::text[], $16::text[], $17::text[], $18::boolean[]) WITH ORDINALITY
        AS d(id, event_id, event_type, incident_id, channel, recipient, address, body, urgent, status, created_at,
             next_attempt_at, subject, summary, fallback_email, full_text, traceparent, due_at_once, ord)),
written AS (
    INSERT INTO delivery (id, event_id, event_type, incident_id, channel, recipient, address, body, urgent,
                          status, created_at, next_attempt_at, subject, summary, fallback_email, full_text,
                          traceparent)
    SELECT id, event_id, event_type, incident_id, channel, recipient, address, body, urgent, status, created_at,
           next_attempt_at, subject, summary, fallback_email, full_text, traceparent
      FROM input ORDER BY ord
    ON CONFLICT (event_id, recipient, channel) DO NOTHING
    RETURNING id),
woken AS (SELECT pg_notify('delivery', '')
           WHERE EXISTS (SELECT 1 FROM written JOIN input USING (id) WHERE input.due_at_once))
SELECT (SELECT count(*) FROM written) AS written, (SELECT count(*) FROM woken) AS woken;

-- name: insert_alert
-- The live streams find it by polling while someone listens (entrypoints/alert_fanout.py): no NOTIFY.
INSERT INTO alert (event_id, event_type, incident_id, grid_code, payload, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (event_id) DO NOTHING;

-- name: claim_due_deliveries
-- A webhook delivery waits until the earlier ones of its case to the same receiver are done: 12345 (and
-- any subscriber) hears of each case in order. A send's members other than its lead go with the lead
-- (claim_send_members); with bundling on ($3), a non-urgent SMS goes only in a send formed before
-- (claim_sms_to_bundle, form_send).
SELECT * FROM delivery d
 WHERE d.status = 'pending' AND d.next_attempt_at <= $2
   AND NOT (d.channel = 'webhook' AND EXISTS (
        SELECT 1 FROM delivery e
         WHERE e.incident_id = d.incident_id AND e.recipient = d.recipient AND e.channel = 'webhook'
           AND e.status = 'pending' AND e.seq < d.seq))
   AND (d.send_id IS NULL OR d.send_id = d.id)
   AND NOT ($3 AND d.channel = 'sms' AND NOT d.urgent AND d.send_id IS NULL)
 ORDER BY d.next_attempt_at, d.seq
 LIMIT $1
 FOR UPDATE SKIP LOCKED;

-- name: claim_sms_to_bundle
-- Non-urgent SMS due and in no send yet, to phones with no send still waiting for its answer or its retry
-- (what comes to a phone meanwhile goes in its next send).
SELECT * FROM delivery d
 WHERE d.channel = 'sms' AND d.status = 'pending' AND NOT d.urgent AND d.send_id IS NULL
   AND d.next_attempt_at <= $2
   AND NOT EXISTS (
        SELECT 1 FROM delivery s
         WHERE s.channel = 'sms' AND s.address = d.address AND s.status = 'pending' AND s.send_id IS NOT NULL)
 ORDER BY d.next_attempt_at, d.seq
 LIMIT $1
 FOR UPDATE SKIP LOCKED;

-- name: form_send
UPDATE delivery SET send_id = $2 WHERE id = ANY($1::uuid[]);

-- name: claim_send_members
-- The rest of the send whose lead this deliverer holds. Waits rather than skips: they are claimed only through
-- their lead, and anyone else's lock on them (a claim's stale look) is brief.
SELECT * FROM delivery
 WHERE send_id = $1 AND id <> $1 AND status = 'pending'
 ORDER BY seq
 FOR UPDATE;

-- name: mark_deliveries
-- The outcome of each one's try, one array per column.
UPDATE delivery AS d
   SET status = o.status, attempts = o.attempts, last_error = o.last_error, sent_at = o.sent_at,
       next_attempt_at = o.next_attempt_at, bundle_id = o.bundle_id
  FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::uuid[])
       AS o(id, status, attempts, last_error, sent_at, next_attempt_at, bundle_id)
 WHERE d.id = o.id;

-- name: claim_sms_siblings
-- Other non-urgent SMS to the same phone, in no send yet, that fall in the bundling window: they go in one
-- message.
SELECT * FROM delivery
 WHERE channel = 'sms' AND address = $1 AND status = 'pending' AND NOT urgent AND send_id IS NULL
   AND id <> ALL($2::uuid[]) AND next_attempt_at <= $3
 ORDER BY seq
 LIMIT $4
 FOR UPDATE SKIP LOCKED;

-- name: postpone_deliveries
UPDATE delivery SET next_attempt_at = $2 WHERE id = ANY($1::uuid[]);

-- name: last_sms_at
SELECT last_sent_at FROM sms_recipient WHERE address = $1;

-- name: sms_sent
-- The phones in order, so two deliverers' statements never lock the same rows in opposite orders.
INSERT INTO sms_recipient (address, last_sent_at)
SELECT DISTINCT address, $2::timestamptz FROM unnest($1::text[]) AS address ORDER BY address
ON CONFLICT (address) DO UPDATE SET last_sent_at = greatest(sms_recipient.last_sent_at, EXCLUDED.last_sent_at);

-- name: list_deliveries
-- Inside the caller's area ($5 city-wide, else $6 grid-code patterns): by the place of the case each delivery
-- tells of (a case notifications knows no owner of has no place: city-wide callers only).
SELECT d.id, d.event_id, d.event_type, d.incident_id, d.channel, d.recipient, d.address, d.subject, d.body,
       d.status, d.attempts, d.last_error, d.created_at, d.sent_at, d.next_attempt_at, d.bundle_id
  FROM delivery d LEFT JOIN case_owner o ON o.incident_id = d.incident_id
 WHERE ($1::uuid IS NULL OR d.incident_id = $1)
   AND ($2::text IS NULL OR d.channel = $2)
   AND ($3::text IS NULL OR d.status = $3)
   AND ($5 OR o.grid_code LIKE ANY ($6::text[]))
 ORDER BY d.created_at, d.id
 LIMIT $4;

-- name: alerts_after
SELECT id, event_type, incident_id, grid_code, payload, created_at
  FROM alert
 WHERE id > $1
 ORDER BY id
 LIMIT $2;

-- name: remember_hotline_case
INSERT INTO hotline_case (incident_id, order_no) VALUES ($1, $2) ON CONFLICT DO NOTHING;

-- name: hotline_case
SELECT incident_id, order_no, signed_sent FROM hotline_case WHERE incident_id = $1 FOR UPDATE;

-- name: save_hotline_case
UPDATE hotline_case SET signed_sent = $2 WHERE incident_id = $1;

-- name: upsert_subscription
INSERT INTO subscription (id, name, phone, email, webhook_url, role, area, event_types, levels, channels,
                          quiet_hours)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (id) DO UPDATE
   SET name = EXCLUDED.name, phone = EXCLUDED.phone, email = EXCLUDED.email, webhook_url = EXCLUDED.webhook_url,
       role = EXCLUDED.role, area = EXCLUDED.area, event_types = EXCLUDED.event_types, levels = EXCLUDED.levels,
       channels = EXCLUDED.channels, quiet_hours = EXCLUDED.quiet_hours, updated_at = now(),
       disabled_at = NULL, disabled_reason = NULL;

-- name: get_subscription
-- Never the sealed secret: it leaves the table only through subscription_secrets, for signing.
SELECT id, name, phone, email, webhook_url, role, area, event_types, levels, channels, quiet_hours, updated_at,
       disabled_at, disabled_reason, secret_created_at, secret_sealed IS NOT NULL AS has_secret
  FROM subscription WHERE id = $1;

-- name: list_subscriptions
SELECT id, name, phone, email, webhook_url, role, area, event_types, levels, channels, quiet_hours, updated_at,
       disabled_at, disabled_reason, secret_created_at, secret_sealed IS NOT NULL AS has_secret
  FROM subscription ORDER BY id;

-- name: set_subscription_secret
UPDATE subscription SET secret_sealed = $2, secret_created_at = $3 WHERE id = $1 RETURNING id;

-- name: subscription_secrets
SELECT id, secret_sealed FROM subscription WHERE id = ANY($1::text[]) AND secret_sealed IS NOT NULL;

-- name: delete_subscription
DELETE FROM subscription WHERE id = $1 RETURNING id;

-- name: subscribers_for
-- Subscriptions to this event type whose area covers the grid (NULL grid: only city-wide ones).
SELECT id, name, phone, email, webhook_url, role, area, event_types, levels, channels, quiet_hours, updated_at,
       disabled_at, disabled_reason, secret_created_at, secret_sealed IS NOT NULL AS has_secret
  FROM subscription
 WHERE event_types @> ARRAY[$1::text] AND disabled_at IS NULL
   AND EXISTS (SELECT 1 FROM unnest(area) AS prefix WHERE coalesce($2, '') LIKE prefix || '%'
                                                      AND ($2 IS NOT NULL OR prefix = ''))
 ORDER BY id;

-- name: disable_subscription
UPDATE subscription SET disabled_at = $2, disabled_reason = $3 WHERE id = $1 AND disabled_at IS NULL;

-- name: drop_pending_webhooks
-- The receiver is gone: what was still waiting for it will never be delivered.
UPDATE delivery SET status = 'dead', last_error = $2
 WHERE recipient = $1 AND channel = 'webhook' AND status = 'pending';

-- name: upsert_contact
INSERT INTO contact (unit_code, name, liaison, leader, supervisor)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (unit_code) DO UPDATE
   SET name = EXCLUDED.name, liaison = EXCLUDED.liaison, leader = EXCLUDED.leader,
       supervisor = EXCLUDED.supervisor, updated_at = now();

-- name: get_contact
SELECT * FROM contact WHERE unit_code = $1;

-- name: list_contacts
-- $3: the caller's area codes (NULL: the whole city), filtered before the limit so a page is never short.
SELECT * FROM contact
 WHERE unit_code LIKE $1 || '%'
   AND ($3::text[] IS NULL OR unit_code LIKE ANY (SELECT prefix || '%' FROM unnest($3::text[]) AS prefix))
 ORDER BY unit_code LIMIT $2;

-- name: delete_contact
DELETE FROM contact WHERE unit_code = $1 RETURNING unit_code;

-- name: contacts_in
SELECT * FROM contact WHERE unit_code = ANY($1::text[]);

-- name: templates_in
SELECT name, body FROM template WHERE name = ANY($1::text[]);

-- name: list_templates
SELECT name, body, updated_by, updated_at FROM template ORDER BY name;

-- name: put_template
INSERT INTO template (name, body, updated_by) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body, updated_by = EXCLUDED.updated_by, updated_at = now()
RETURNING name, body, updated_by, updated_at;

-- name: hold_case_links
-- One link (merge, duplicate) at a time until commit: merges are rare, and a case merged into one that is
-- being merged itself then always finds the chain whole.
SELECT pg_advisory_xact_lock(hashtext('notifications.case_link'));

-- name: link_case
INSERT INTO case_link (incident_id, master_id) VALUES ($1, $2)
ON CONFLICT (incident_id) DO UPDATE SET master_id = EXCLUDED.master_id, linked_at = now();

-- name: root_of_case
-- The end of the chain of masters from $1 ($1 itself when it follows none); a cycle stops where it closes.
WITH RECURSIVE chain (incident_id, depth, path) AS (
    SELECT $1::uuid, 0, ARRAY[$1::uuid]
    UNION ALL
    SELECT l.master_id, c.depth + 1, c.path || l.master_id
      FROM chain c JOIN case_link l ON l.incident_id = c.incident_id
     WHERE NOT l.master_id = ANY(c.path)
)
SELECT incident_id FROM chain ORDER BY depth DESC LIMIT 1;

-- name: hotline_followers
-- The 12345 orders that take $1's outcome: cases linked to it, directly or through others.
WITH RECURSIVE follower (incident_id) AS (
    SELECT incident_id FROM case_link WHERE master_id = $1
    UNION
    SELECT l.incident_id FROM follower f JOIN case_link l ON l.master_id = f.incident_id
)
SELECT h.incident_id, h.order_no, h.signed_sent
  FROM follower f JOIN hotline_case h USING (incident_id)
 WHERE h.incident_id <> $1
 ORDER BY h.incident_id;

-- name: hold_case_outcome
-- The case's outcome row, made if missing, locked until commit (the no-op update takes the lock and waits
-- for anyone holding it), as last committed.
INSERT INTO case_outcome (incident_id) VALUES ($1)
ON CONFLICT (incident_id) DO UPDATE SET incident_id = EXCLUDED.incident_id
RETURNING incident_id, result, closed;

-- name: save_case_outcome
UPDATE case_outcome SET result = $2, closed = $3 WHERE incident_id = $1;
