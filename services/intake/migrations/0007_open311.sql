-- API keys of public Open311 clients (GeoReport v2 requires `api_key` on writes).
CREATE TABLE open311_client (
    api_key     text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
