-- booking: an appointment's time units change only through its trigger.
--
-- appointment_units is the arbiter against double booking (0001), but the application's
-- role could delete or rewrite its rows directly: deleting an appointment's units and
-- then booking another patient on the same time left two active appointments. Now the
-- role may only read the table; the trigger that keeps the units runs with its owner's
-- rights (SECURITY DEFINER), so every change of an appointment still takes or frees its
-- units, and a second owner of a unit is still refused by the primary key. Deleting an
-- appointment frees its units through the foreign key's ON DELETE CASCADE, which runs
-- with the table owner's rights too.
--
-- The function's search_path is this schema, then pg_temp last: otherwise a session's
-- own temporary table named appointment_units would be found first and take the units.
ALTER FUNCTION appointments_occupy_units() SECURITY DEFINER;
DO $$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION appointments_occupy_units() SET search_path = %I, pg_temp',
        current_schema());
END
$$;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON appointment_units FROM imias_app;
