-- The ticker reads the due index (phase_clock_due) from a floor, not from its start (entrypoints/ticker.py): the
-- dead entries every fired threshold leaves at the head stay there, walked by every pass with a heap visit each,
-- for as long as an older transaction runs (a backup's snapshot: 0012). The floor is the lowest next check the
-- ticker last found; it stays below every live entry because the ticker itself only ever moves a next check later
-- (past the instant it fires at). Anything else that makes a clock due sooner than it was, or due at all (a clock
-- started, a resumed one, a calendar change bringing thresholds forward, a fix by hand, a bulk load), tells the
-- ticker from here, so that no writer can forget to: at its commit, NOTIFY clock_due_sooner with the epoch second
-- (rounded down) it is now due, and the ticker lowers its floor to it. A later or unchanged next check tells
-- nothing: the floor is below it already. Identical payloads of one transaction are sent once.
CREATE FUNCTION phase_clock_due_sooner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('clock_due_sooner',
                      CASE WHEN isfinite(NEW.next_check_at)
                           THEN floor(extract(epoch FROM NEW.next_check_at))::bigint::text ELSE '' END);
    RETURN NEW;
END
$$;

CREATE TRIGGER phase_clock_due_inserted BEFORE INSERT ON phase_clock FOR EACH ROW
    WHEN (NEW.next_check_at IS NOT NULL) EXECUTE FUNCTION phase_clock_due_sooner();

CREATE TRIGGER phase_clock_due_sooner BEFORE UPDATE OF next_check_at ON phase_clock FOR EACH ROW
    WHEN (NEW.next_check_at < OLD.next_check_at OR (OLD.next_check_at IS NULL AND NEW.next_check_at IS NOT NULL))
    EXECUTE FUNCTION phase_clock_due_sooner();
