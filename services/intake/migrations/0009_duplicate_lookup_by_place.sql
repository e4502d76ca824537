-- Near-duplicate lookup by place, not by time: the old index led with received_at, so a lookup scanned every
-- case of the category in the 24-hour window (all of them, at a busy hour) to find the few inside a 50 m box.
-- Leading with lon, a lookup reads only the thin slice of the category's cases at the report's longitude.
DROP INDEX incident_duplicate_lookup;
CREATE INDEX incident_duplicate_lookup ON incident (category, lon, lat) WHERE duplicate_of IS NULL;
