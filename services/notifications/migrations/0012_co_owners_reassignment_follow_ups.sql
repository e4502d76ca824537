-- Issue 14: 改派 tells the owner the case was taken from, 协办 units are told, 催办 reaches the handler;
-- their texts, editable like the rest (the defaults of services/notifications/domain/templates.py).
INSERT INTO template (name, body) VALUES
    ('sms.reassigned_away', '【网格督办】案件{case}（{category}）已改派至{unit}，你方不再办理，请停止处置并做好交接。'),
    ('email.reassigned_away_subject', '【网格督办】案件{case}已改派至{unit}'),
    ('sms.co_assigned', '【网格督办】案件{case}（{category}，{urgency}）由{unit}主办，请你单位协办配合。'),
    ('email.co_assigned_subject', '【网格督办】协办案件{case}（{urgency}）'),
    ('sms.urged', '【网格督办】催办：案件{case}（{category}）请加快办理并及时反馈。{note}'),
    ('email.urged_subject', '【网格督办】催办：案件{case}')
ON CONFLICT (name) DO NOTHING;

-- Which case's outcome a case takes: a case merged into another (intake.incident.merged), or received as a
-- duplicate of one (duplicate_of), follows it; chains follow to their end. Every 12345 order among the
-- followers gets the master's `result` and `closed` callbacks.
CREATE TABLE case_link (
    incident_id  uuid PRIMARY KEY,
    master_id    uuid NOT NULL,
    linked_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_link_master ON case_link (master_id);

-- A case's latest result and its closing ({"event_id", "event_type", "at", "data"}), for an order merged
-- into it after it had them. The row is also the lock that serialises a case's outcome with new followers.
CREATE TABLE case_outcome (
    incident_id  uuid PRIMARY KEY,
    result       jsonb,
    closed       jsonb
);
