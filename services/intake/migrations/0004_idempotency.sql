-- Idempotency-Key of client writes (DESIGN.md §5): same key + same body → the first answer again;
-- same key + another body → 409. Scoped per caller: keys are chosen by clients.
CREATE TABLE idempotency_key (
    scope        text NOT NULL,
    key          text NOT NULL,
    fingerprint  text NOT NULL,               -- sha256 of the request body as validated
    incident_id  uuid NOT NULL REFERENCES incident (id) DEFERRABLE INITIALLY DEFERRED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
