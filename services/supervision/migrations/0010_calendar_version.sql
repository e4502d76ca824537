-- Every change of the calendar (a date overridden, a year imported) bumps its version. A process that starts or
-- moves a clock reads the version first, under a shared advisory lock, and reloads its calendar when it is
-- behind; a change takes the lock exclusively, so it waits for clocks being started to commit (its recount then
-- sees them) and clocks started after it count on the new calendar.
CREATE TABLE calendar_state (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    version  bigint NOT NULL DEFAULT 0
);
INSERT INTO calendar_state (id, version) VALUES (true, 0);
