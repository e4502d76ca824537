-- What 改派 and returns need to know of a case: its co-owners (协办), kept across returns and dispatches, and
-- whether it is still open (a closed, merged or rejected case cannot be dispatched).
ALTER TABLE routed_incident ADD COLUMN co_owners jsonb NOT NULL DEFAULT '[]';
ALTER TABLE routed_incident ADD COLUMN closed_at timestamptz;
