-- Which send (one message to the provider) a bundling SMS goes in: its lead's id, written and committed before
-- the first try. Retries (after a crash or a timeout, when the provider may have it already) carry exactly the
-- same SMS under the same idempotency key; an SMS to the phone that comes later waits for the next send.
-- NULL: not yet in a send (or never bundled: urgent SMS, email, webhooks go alone under their own id).
ALTER TABLE delivery ADD COLUMN send_id uuid;
CREATE INDEX delivery_pending_send ON delivery (send_id) WHERE status = 'pending' AND send_id IS NOT NULL;
-- What waits for a retry now was last tried as the send it is recorded in (a bundle's lead, else alone).
UPDATE delivery SET send_id = coalesce(bundle_id, id)
 WHERE status = 'pending' AND channel = 'sms' AND NOT urgent AND (attempts > 0 OR bundle_id IS NOT NULL);
