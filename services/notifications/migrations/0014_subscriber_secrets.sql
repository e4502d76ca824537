-- Each webhook subscriber signs with its own secret (issue 15): made when the subscription is created, shown once,
-- rotated on request. Kept sealed (AES-256-GCM under NOTIFICATIONS_SUBSCRIPTION_SECRET_KEY, adapters/secret_box.py),
-- never shown again. Subscriptions from before have none: their webhooks fail until the secret is rotated
-- (POST /v1/subscriptions/{id}/secret), which also tells the subscriber what to check with.
ALTER TABLE subscription ADD COLUMN secret_sealed bytea;
ALTER TABLE subscription ADD COLUMN secret_created_at timestamptz;

-- The delivery log keeps our reason for a failure, never the receiver's text: what was kept of it goes.
UPDATE delivery SET last_error = substring(last_error FROM '^((gone: )?HTTP [0-9]{3})')
 WHERE last_error ~ '^(gone: )?HTTP [0-9]{3}: ';
