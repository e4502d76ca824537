-- An address may place a case at a community, street or district without naming its grid: keep the
-- most specific registry code routing placed it at, so a 退单 escalates from there.
ALTER TABLE routed_incident ADD COLUMN place_code text;
UPDATE routed_incident SET place_code = grid_code WHERE current_unit_id IS NOT NULL;

ALTER TABLE assignment ADD COLUMN place_code text;
UPDATE assignment SET place_code = grid_code;
