-- platform: the application logs in as imias_app itself, never as the owner.
--
-- Until now the workers logged in as the owner (on the embedded default, a superuser)
-- and switched to imias_app at connection start: any statement could switch back
-- (RESET ROLE) and, as a superuser, turn the triggers off (session_replication_role).
-- Now imias_app is a login role of its own, with no attribute that reaches further (no
-- superuser, no creating roles or databases, no replication, no bypassing row security)
-- and a member of no role: a connection that logged in as it has nowhere to go. The
-- owner stays a member of imias_app (0003), so migrations may act as it; not the
-- reverse. A server that asks for passwords gives imias_app one of the operator's
-- choosing (ALTER ROLE imias_app PASSWORD ...), and IMIAS its URL
-- (IMIAS_APP_DATABASE_URL).
ALTER ROLE imias_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    NOBYPASSRLS INHERIT;

DO $$
DECLARE
    granted regrole;
BEGIN
    FOR granted IN
        SELECT m.roleid::regrole FROM pg_auth_members m
         WHERE m.member = 'imias_app'::regrole
    LOOP
        EXECUTE format('REVOKE %s FROM imias_app', granted);
    END LOOP;
END
$$;
