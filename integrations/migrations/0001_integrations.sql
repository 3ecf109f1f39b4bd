-- integrations: the outside systems IMIAS exchanges messages with (partners), every
-- message out to one of them (deliveries: the delivery outbox, written in the
-- transaction that publishes the event it comes from), and every message in that was
-- answered (inbound_messages: a sender's retry gets the same answer, nothing twice).

CREATE TABLE partners (
    id              text        PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{1,62}$'),
    kind            text        NOT NULL,   -- what it is: school_journal, ambulance_dispatch, hl7_feed
    name            text        NOT NULL,
    transport       text        NOT NULL CHECK (transport IN ('http', 'mllp')),
    url             text,                   -- where deliveries go (NULL: it only sends to us)
    topics          text[]      NOT NULL DEFAULT '{}',  -- what it is sent (its kind's messages)
    secret_version  integer     NOT NULL DEFAULT 1,     -- the shared secret's generation
    tls_cert        text,                   -- mutual TLS: our client certificate and key (PEM files)
    tls_key         text,
    tls_ca          text,                   -- the CA that signed the partner's server certificate
    max_attempts    integer     NOT NULL DEFAULT 25 CHECK (max_attempts BETWEEN 1 AND 1000),
    backoff_ms      integer     NOT NULL DEFAULT 1000 CHECK (backoff_ms BETWEEN 1 AND 3600000),
    backoff_cap_ms  integer     NOT NULL DEFAULT 300000 CHECK (backoff_cap_ms >= backoff_ms),
    timeout_ms      integer     NOT NULL DEFAULT 10000 CHECK (timeout_ms BETWEEN 10 AND 600000),
    concurrency     integer     NOT NULL DEFAULT 8 CHECK (concurrency BETWEEN 1 AND 256),
    enabled         boolean     NOT NULL DEFAULT true,
    failing_since   timestamptz,            -- the first failure of the current outage
    last_error      text,
    last_success_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deliveries (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partner_id      text        NOT NULL REFERENCES partners (id),
    patient_id      bigint,                 -- the order key: one patient's messages go in id order
    message_id      text        NOT NULL,   -- the idempotency id the receiver dedups on
    source          text        NOT NULL,   -- what made it (e.g. outbox:<clinic>:<id>:<n>)
    kind            text        NOT NULL,   -- absence, certificate, siu.s12, adt.a28, ...
    content_type    text        NOT NULL,
    body            bytea       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (partner_id, source),
    UNIQUE (partner_id, message_id)
);
-- A partner's pending messages per patient in order (the head of each patient is sent).
CREATE INDEX deliveries_pending ON deliveries (partner_id, patient_id, id) WHERE status = 'pending';
CREATE INDEX deliveries_due ON deliveries (partner_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_dead ON deliveries (partner_id, id) WHERE status = 'dead';
CREATE INDEX deliveries_time ON deliveries (partner_id, created_at);

-- An event the router could not turn into messages (a bug): kept, shown, routed again.
CREATE TABLE routing_failures (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id   bigint      NOT NULL,
    clinic_id   bigint      NOT NULL,
    topic       text        NOT NULL,
    payload     bytea       NOT NULL,
    error       text        NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);

CREATE TABLE inbound_messages (
    partner_id  text        NOT NULL REFERENCES partners (id),
    message_id  text        NOT NULL,
    kind        text        NOT NULL,
    received_at timestamptz NOT NULL,
    status      integer     NOT NULL,   -- the answer given, given again to a retry
    response    bytea       NOT NULL,
    content_type text       NOT NULL,
    PRIMARY KEY (partner_id, message_id)
);
