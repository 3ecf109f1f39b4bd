-- audit: the append-only trigger (0002) checks the sealer's update by comparing rows,
-- not JSON documents.
--
-- The one update allowed gives an unsealed record its place in the chain and changes
-- nothing else. 0002 proved "nothing else" by turning both versions into jsonb,
-- dropping the seal columns and comparing: two conversions of every column of every
-- record sealed, 59 µs a record here, two records a booking. The same proof as a
-- row comparison: the new version with its seal columns put back as they were must
-- be the old version, column by column (IS NOT DISTINCT FROM, so NULLs compare
-- equal), 32 µs a record. Like the jsonb form it covers columns added later without
-- naming them; a column type without an equality operator would make every seal fail
-- loudly, never pass silently.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unsealed audit_log;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seal_seq IS NULL AND NEW.seal_seq IS NOT NULL THEN
        unsealed := NEW;
        unsealed.seal_seq := OLD.seal_seq;
        unsealed.prev_hash := OLD.prev_hash;
        unsealed.hash := OLD.hash;
        IF unsealed IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;  -- the sealer gives the record its place in the chain, once
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
