-- The event outbox: every change a domain makes writes its event here in the same
-- transaction; a relay publishes the rows to the Redis stream and marks them sent.
-- Rows are keyed by (clinic_id, id) so the table can be distributed by clinic.
CREATE TABLE event_outbox (
    clinic_id     bigint      NOT NULL DEFAULT 0,
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    topic         text        NOT NULL,
    payload       bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    PRIMARY KEY (clinic_id, id)
);

CREATE INDEX event_outbox_unpublished ON event_outbox (id) WHERE published_at IS NULL;
