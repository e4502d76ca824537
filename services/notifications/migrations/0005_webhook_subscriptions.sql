-- A subscriber whose webhook answers 410 Gone asked never to be called again: the subscription is
-- disabled (kept, with the reason) until someone PUTs it again.
ALTER TABLE subscription ADD COLUMN disabled_at timestamptz;
ALTER TABLE subscription ADD COLUMN disabled_reason text;

-- Webhooks keep their order per case and receiver: a subscriber's retries never hold up 12345's callbacks.
DROP INDEX delivery_webhook_order;
CREATE INDEX delivery_webhook_order ON delivery (incident_id, recipient, seq)
    WHERE channel = 'webhook' AND status = 'pending';
