-- The ticker's queue is the head of phase_clock_due (next_check_at): each fired threshold moves its clock's entry
-- further on and leaves the old one dead at the head, where every pass and every look for the next due time walks
-- it, with a heap visit each, until VACUUM removes it. Index scans mark such entries dead only while no older
-- transaction runs anywhere on the server (a bulk load, a dump, a long report in another database is enough), so
-- VACUUM is what clears them. Autovacuum's default waits for 20% of the table to be dead: with ten million open
-- clocks two million fired thresholds. Measured (bench/supervision_ticker.py, 10M clocks, after a catch-up of
-- 100,000): each pass and each next_due_at read 103,000 pages (200,000 dead entries), 5.4-6.3 s, against 0.1 ms
-- after VACUUM. Vacuumed after 1% of the table (at least 10,000 rows) instead; the visibility map keeps each
-- vacuum to the pages that changed.
ALTER TABLE phase_clock SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 10000);
