-- 12345 callbacks go out in the order they happened, per order: `seq` orders the deliveries of a case.
ALTER TABLE delivery ADD COLUMN seq bigserial;
CREATE INDEX delivery_webhook_order ON delivery (incident_id, seq) WHERE channel = 'webhook' AND status = 'pending';

-- The 12345 orders behind cases (from intake.incident.received), and whether 签收 was reported yet.
CREATE TABLE hotline_case (
    incident_id  uuid PRIMARY KEY,
    order_no     text NOT NULL,
    signed_sent  boolean NOT NULL DEFAULT false
);
