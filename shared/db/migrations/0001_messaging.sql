-- Transactional outbox: rows written in the same transaction as the state change they announce.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    topic       text NOT NULL,
    key         text NOT NULL,
    payload     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

-- Inbox: the ids of events a consumer has applied; a redelivery finds its id and changes nothing.
CREATE TABLE inbox (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Poison events, parked after bounded retries so the partition moves on; replayable by command.
CREATE TABLE dead_letter (
    id           bigserial PRIMARY KEY,
    consumer     text NOT NULL,
    topic        text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    event_id     uuid,
    event_type   text,
    key          text,
    payload      text NOT NULL,
    error        text NOT NULL,
    attempts     integer NOT NULL,
    parked_at    timestamptz NOT NULL DEFAULT now(),
    replayed_at  timestamptz,
    UNIQUE (consumer, topic, kafka_partition, kafka_offset)
);
CREATE INDEX dead_letter_open ON dead_letter (parked_at) WHERE replayed_at IS NULL;
