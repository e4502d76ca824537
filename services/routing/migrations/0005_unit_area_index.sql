-- Routing finds the units of a place by `area && ARRAY[district, street, community, grid]` once per
-- incident; without an index that scans every unit (16,000 in the synthetic city: ~2 ms an incident).
CREATE INDEX unit_area ON unit USING gin (area);
