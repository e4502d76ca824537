-- Idempotency-Key of case actions (POST /v1/incidents/{id}/actions, DESIGN.md §5): a grid worker's phone resends
-- its offline queue until it hears an answer, so an action sent twice must be taken once. Same key + same case
-- and body → the first answer again, nothing applied twice; same key + another request → 409. Scoped per caller
-- (keys are chosen by clients), like the keys of reports (idempotency_key) and of uploads (attachment).
CREATE TABLE action_idempotency (
    scope        text NOT NULL,
    key          text NOT NULL,
    fingerprint  text NOT NULL,               -- sha256 of the case id and the action body as validated
    incident_id  uuid NOT NULL REFERENCES incident (id),
    answer       jsonb NOT NULL,              -- what the first request was answered: status, allowed_actions
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
