-- platform: the role the application's workers act as, which cannot rewrite history.
--
-- Whoever runs the migrations owns the tables. The workers' connections (the pool,
-- the outbox relay, the audit sealer) switch at connection start to imias_app
-- (imias.platform.db.APP_ROLE): it reads and writes the domain tables, but of the
-- audit log it may only read, append and seal a record once (the seal columns,
-- guarded by the append-only trigger); it cannot update or delete records, move the
-- chain head back, or disable the triggers (only the owner may). Roles belong to the
-- cluster: made once, by the first database migrated.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imias_app') THEN
        BEGIN
            CREATE ROLE imias_app NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database's migration made it meanwhile
        END;
    END IF;
END
$$;
GRANT imias_app TO CURRENT_USER;  -- so the owner's connections may act as it

GRANT USAGE ON SCHEMA public TO imias_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO imias_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO imias_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO imias_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO imias_app;

REVOKE ALL ON schema_migrations FROM imias_app;
GRANT SELECT ON schema_migrations TO imias_app;
REVOKE ALL ON audit_log, audit_chain_head FROM imias_app;
GRANT SELECT, INSERT ON audit_log TO imias_app;
GRANT UPDATE (seal_seq, prev_hash, hash) ON audit_log TO imias_app;
GRANT SELECT, UPDATE (seal_seq, hash, sealed_at) ON audit_chain_head TO imias_app;

-- A record is born unsealed: only the sealer, later, gives it its place.
CREATE FUNCTION audit_log_born_unsealed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seal_seq IS NOT NULL OR NEW.hash IS NOT NULL OR NEW.prev_hash IS NOT NULL THEN
        RAISE EXCEPTION 'audit records are written unsealed'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_log_born_unsealed BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_born_unsealed();
