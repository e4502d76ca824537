-- 挂起 applied for by the owner and decided by the centre; a granted 挂起 ends by itself at `until`.
ALTER TABLE incident ADD COLUMN suspended_until timestamptz;
ALTER TABLE incident ADD COLUMN pending_suspension jsonb;
-- The resumer's lookup: the few suspended cases, by when they end.
CREATE INDEX incident_suspended_until ON incident (suspended_until) WHERE status = 'suspended';
