-- A month's statistics read the phases due in the month (stats_sign, stats_handle, stats_cases): without an index
-- on due_at each read scanned every clock ever started. With a city's year (9.3M clocks, bench/history.py) the live
-- month's 红黑榜 took 8.6 s against 2.0 s on the same month without the year behind it; the phase in the index
-- lets stats_sign and stats_handle skip the other phases' clocks without reading them.
CREATE INDEX phase_clock_due_month ON phase_clock (due_at, phase);

-- The 督办 board (board_clocks: running clocks, most urgent first) read the running clocks through the partial
-- unique index and sorted them; with phase_clock_due_month above the planner walks that instead, through every
-- stopped clock of the year before the first running one (seconds, then the pool's 30 s timeout on a year of
-- clocks). The running ones in due order: the board reads its page off this index, however long the history.
CREATE INDEX phase_clock_running_by_due ON phase_clock (due_at, id) WHERE stopped_at IS NULL;
