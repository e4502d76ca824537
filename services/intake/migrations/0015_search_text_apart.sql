-- The searchable text in a table of its own (issue 18: the write path's cost as history grew).
--
-- Migration 0014 put the trigram index on the incident row itself. A case's row is rewritten at every step of its
-- life (assigned, signed, handled, closed: status is indexed, so none of those updates is HOT), and every such
-- update inserted the whole text's trigrams into the GIN index again: measured on a fresh database, 50 µs and 1.4 KB
-- of WAL per update, half of each incident update's cost. A case's title, description and address never change
-- after it is taken in, so they are written here once, beside the case's receipt time (the windows a text search
-- reads in turn), and the incident row's updates no longer touch the trigram index.
DROP INDEX incident_text;   -- its name is the table's now
CREATE TABLE incident_text (
    incident_id uuid PRIMARY KEY REFERENCES incident (id),
    received_at timestamptz NOT NULL,
    body        text NOT NULL    -- title, description and address, as search_incidents matches them
);

INSERT INTO incident_text (incident_id, received_at, body)
SELECT id, received_at, title || ' ' || description || ' ' || coalesce(address, '') FROM incident;

CREATE INDEX incident_text_body ON incident_text USING gin (body gin_trgm_ops);
-- As 0014: how common a text is decides the plan (the newest cases read until the page is full, or the index),
-- and the planner knows it only from a fine sample of the text's statistics.
ALTER TABLE incident_text ALTER COLUMN body SET STATISTICS 1000;
ANALYZE incident_text;
