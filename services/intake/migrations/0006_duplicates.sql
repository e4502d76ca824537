-- Near-duplicate lookup: same category, recent, inside a small box.
CREATE INDEX incident_duplicate_lookup ON incident (category, received_at, lon, lat) WHERE duplicate_of IS NULL;
