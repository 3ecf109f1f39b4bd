-- The audit log: a record of every read or change of personal or medical data.
--
-- Append-only. A record is written in the transaction of what it records, without
-- its hash; the sealer (one worker at a time) then gives each record its place in
-- the chain (seal_seq, in the order records are found committed) with the hash of
-- the previous record and its own, so that `imias audit verify` detects a record that
-- was removed or altered. The triggers refuse UPDATE, DELETE and TRUNCATE to every
-- role, the owner and superusers included; the one update allowed is the sealer's,
-- which fills the seal columns of an unsealed record and changes nothing else.
-- audit_chain_head keeps the last sealed place, so that removing the newest records
-- is detected too.

CREATE TABLE audit_log (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     bigint      NOT NULL,      -- patient id or staff account id
    actor_role   text        NOT NULL,
    actor_org    bigint,                    -- the actor's organisation (clinic id)
    acting_for   bigint,                    -- the patient acted for (guardian, proxy, registrar)
    action       text        NOT NULL,      -- read, book, cancel, sign_in, break_glass, ...
    resource     text        NOT NULL,      -- appointment, appointments, doctor_day, ...
    resource_id  text,
    patient_id   bigint,                    -- the patient whose data it is
    break_glass  boolean     NOT NULL DEFAULT false,
    reason       text,                      -- why (break-glass)
    request_id   text,
    client_addr  text,
    seal_seq     bigint      UNIQUE,
    prev_hash    bytea,
    hash         bytea,
    CHECK ((seal_seq IS NULL) = (hash IS NULL) AND (hash IS NULL) = (prev_hash IS NULL))
);
CREATE INDEX audit_log_patient ON audit_log (patient_id, at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at);
CREATE INDEX audit_log_at ON audit_log USING brin (at);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE seal_seq IS NULL;

CREATE TABLE audit_chain_head (
    one        boolean     PRIMARY KEY DEFAULT true CHECK (one),
    seal_seq   bigint      NOT NULL,
    hash       bytea       NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_chain_head (seal_seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.seal_seq IS NULL AND NEW.seal_seq IS NOT NULL
           AND to_jsonb(NEW) - ARRAY['seal_seq', 'prev_hash', 'hash']
             = to_jsonb(OLD) - ARRAY['seal_seq', 'prev_hash', 'hash'] THEN
            RETURN NEW;  -- the sealer gives the record its place in the chain, once
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE FUNCTION audit_chain_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.seal_seq > OLD.seal_seq THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_chain_head only moves forward: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only();
CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_head_forward_only();

-- Nobody is granted more than reading and appending; where the application runs as
-- a role that does not own these tables, it has no way around the triggers either.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, audit_chain_head FROM PUBLIC;
