-- Per-recipient rate limit and bundling of SMS bursts: when each phone last got a non-urgent SMS, the
-- one-line summary each SMS contributes to a bundle, and which bundle (the lead delivery's id) carried it.
CREATE TABLE sms_recipient (
    address       text PRIMARY KEY,
    last_sent_at  timestamptz NOT NULL
);
ALTER TABLE delivery ADD COLUMN summary text;
ALTER TABLE delivery ADD COLUMN bundle_id uuid;
CREATE INDEX delivery_pending_sms ON delivery (address, seq) WHERE channel = 'sms' AND status = 'pending';

INSERT INTO template (name, body) VALUES
    ('sms.bundle', '【网格督办】您有{count}条提醒：{items}。请及时登录平台处理。');
