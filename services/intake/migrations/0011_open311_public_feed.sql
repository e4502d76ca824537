-- The public Open311 feed shows public reports and the cases the centre publishes, with a reply meant for the
-- public (never the unit's internal result, never a confidential 12345 order).
ALTER TABLE incident ADD COLUMN published_at timestamptz;
ALTER TABLE incident ADD COLUMN public_reply text;
CREATE INDEX incident_public_feed ON incident (received_at DESC, id DESC)
    WHERE source = 'public' OR published_at IS NOT NULL;

-- Each api_key's requests in its current one-minute window (a fixed window: simple, and enough for a public
-- client's share); rows only for issued keys and the development key.
CREATE TABLE open311_rate (
    api_key       text PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    used          integer NOT NULL
);
