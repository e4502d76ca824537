-- Case search as history grows (issue 18; bench/history.py, bench/README.md "History").
--
-- Text search (GET /v1/incidents?q=): a substring of the title, description or address, matched
-- case-insensitively, or a whole 12345 order number (through its own unique index). A trigram index over exactly
-- the expression search_incidents filters on (the planner uses an expression index only for the same
-- expression), so a rare word reads the few cases holding it instead of every case of the year. The order number
-- stays out of it: its digits' trigrams are in every hotline case, and an order number's lookup read posting
-- lists as long as the hotline's history (50-75 ms on a city's year, against 3 ms on a quarter). pg_trgm is a
-- trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX incident_text ON incident USING gin (
    (title || ' ' || description || ' ' || coalesce(address, '')) gin_trgm_ops);
-- How common a text is decides the plan: a common phrase is best found by reading the newest cases until the page
-- is full, a rare one through the index. The planner knows only from this expression's statistics: a finer
-- sample than the default (a phrase held by 0.1 % of cases is seen in it), gathered at the end of this file, since
-- a new index alone does not make autovacuum analyse the table (until it did, every text was taken for a rare one:
-- 2 s per search of a common phrase on a city's year).
ALTER INDEX incident_text ALTER COLUMN 1 SET STATISTICS 1000;

-- A street's, a community's, a grid's cases, newest first (grid_prefix of 9, 12, 15 digits): search_incidents
-- matches left(grid_code, n) = $3 for such a prefix, so the newest page is read off one of these instead of every
-- case the area ever had being sorted (a street's year: ~30,000 cases; the page it shows: 50). A district's (a
-- fifth of the city) is found soon enough by reading the city's newest cases (incident_received).
CREATE INDEX incident_street_received ON incident (left(grid_code, 9), received_at DESC, id);
CREATE INDEX incident_community_received ON incident (left(grid_code, 12), received_at DESC, id);
CREATE INDEX incident_grid_received ON incident (left(grid_code, 15), received_at DESC, id);
-- A street supervisor's working list (their street's cases in one status, newest first): without it the street's
-- whole history and the city's cases in that status were intersected (30,000 and 21,000 rows for a page of 50).
CREATE INDEX incident_street_status_received ON incident (left(grid_code, 9), status, received_at DESC, id);

-- The expressions' statistics (see above).
ANALYZE incident;
