-- Holds live in the database as appointments with status 'held' and an expiry, so
-- the same primary key over the doctor's units refuses a hold on taken time and a
-- booking on held time. An expired hold is turned to 'expired' (which frees its
-- units) by the next booking that touches its time, or by the sweeper; it never
-- blocks. Confirming a hold is an UPDATE of its row to 'booked'.
ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check CHECK (
    status IN ('held', 'booked', 'arrived', 'completed', 'cancelled', 'no_show', 'expired'));

ALTER TABLE appointments
    ADD COLUMN hold_token       uuid,
    ADD COLUMN hold_expires_at  timestamptz,
    ADD COLUMN cancelled_at     timestamptz,
    ADD COLUMN rescheduled_to   bigint,
    ADD CONSTRAINT appointments_held_has_expiry
        CHECK (status <> 'held' OR (hold_token IS NOT NULL AND hold_expires_at IS NOT NULL));

CREATE INDEX appointments_hold_token ON appointments (hold_token) WHERE hold_token IS NOT NULL;
CREATE INDEX appointments_id ON appointments (id);
CREATE INDEX appointments_live_holds ON appointments (hold_expires_at) WHERE status = 'held';

CREATE OR REPLACE FUNCTION appointments_occupy_units() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM appointment_units
         WHERE clinic_id = OLD.clinic_id AND appointment_id = OLD.id;
    END IF;
    IF NEW.status IN ('held', 'booked', 'arrived') THEN
        INSERT INTO appointment_units (clinic_id, doctor_id, unit, appointment_id)
        SELECT NEW.clinic_id, NEW.doctor_id, u, NEW.id
          FROM generate_series(
                 extract(epoch FROM NEW.starts_at)::bigint / 300,
                 extract(epoch FROM NEW.ends_at)::bigint / 300 - 1) AS u;
    END IF;
    RETURN NULL;
END;
$$;

-- The idempotency record remembers which request it answered.
ALTER TABLE idempotency_keys ADD COLUMN route text NOT NULL DEFAULT '';
