-- stat_key for a whole assignment row, so the statistics queries group by `stat_key($4, a)` instead of
-- spelling out its six columns each time (the rule stays in the one function of 0003).
CREATE FUNCTION stat_key(group_by text, a assignment_fact)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT stat_key(group_by, a.unit_id, a.unit_kind, a.grid_code, a.community_code, a.street_code,
                    a.district_code)
$$;
