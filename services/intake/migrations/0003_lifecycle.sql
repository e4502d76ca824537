-- The full lifecycle (DOMAIN.md §4): returns, extensions, suspension, closing, visits, merges, 12345 orders.
ALTER TABLE incident
    ADD COLUMN return_count           integer NOT NULL DEFAULT 0,
    ADD COLUMN signed_at              timestamptz,
    ADD COLUMN closed_at              timestamptz,
    ADD COLUMN suspended_from         text,
    ADD COLUMN pending_extension      jsonb,
    ADD COLUMN extensions_granted     integer NOT NULL DEFAULT 0,
    ADD COLUMN extension_working_days double precision NOT NULL DEFAULT 0,
    ADD COLUMN merged_into            uuid REFERENCES incident (id),
    ADD COLUMN duplicate_of           uuid REFERENCES incident (id),
    ADD COLUMN hotline_order_no       text UNIQUE,
    ADD COLUMN deadline               timestamptz,
    ADD COLUMN visit                  jsonb;

CREATE INDEX incident_category_received ON incident (category, received_at DESC, id);
CREATE INDEX incident_received ON incident (received_at DESC, id);
CREATE INDEX incident_duplicate_of ON incident (duplicate_of) WHERE duplicate_of IS NOT NULL;
