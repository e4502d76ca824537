-- Near-duplicate lookup over the open cases only. A closed case is never a duplicate's master (the lookup asks
-- for open statuses), yet the index kept every case of the year: on a city's year a lookup walked a year of
-- cases at the report's longitude (48 blocks read per call), and every insert and status change wrote a random
-- leaf of a 150 MB index. Open cases are a few weeks' worth however long the history: the index stays that size.
-- The status list is duplicate_candidates' (queries.sql); the planner uses this index only while the query's
-- list implies it (tests/integration/test_duplicate_lookup.py).
--
-- Built beside the old index, then swapped: the build holds a SHARE lock (reads go on, writes wait: ~5 s on a
-- year of 3 million cases); only the swap at the end takes the exclusive lock, for as long as the commit.
SET LOCAL lock_timeout = '30s';
CREATE INDEX incident_duplicate_lookup_open ON incident (category, lon, lat)
 WHERE duplicate_of IS NULL
   AND status IN ('received', 'assigned', 'in_progress', 'suspended', 'returned', 'pending_verification');
DROP INDEX incident_duplicate_lookup;
ALTER INDEX incident_duplicate_lookup_open RENAME TO incident_duplicate_lookup;
