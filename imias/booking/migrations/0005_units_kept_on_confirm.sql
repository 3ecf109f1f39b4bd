-- booking: a change of status that keeps an appointment on the same time (a hold
-- confirmed, held -> booked; a patient arriving, booked -> arrived) keeps its time
-- units as they are. The trigger of 0002 deleted and inserted them again on every status
-- change: on the booking hot path that was a delete and an insert of each unit with
-- their index entries, for nothing.
--
-- Two triggers instead of one: a WHEN clause may name OLD only on UPDATE, and with it
-- PostgreSQL does not even call the function when the occupied time stays the same.
DROP TRIGGER appointments_occupy_units ON appointments;

CREATE TRIGGER appointments_occupy_units
    AFTER INSERT ON appointments
    FOR EACH ROW EXECUTE FUNCTION appointments_occupy_units();

CREATE TRIGGER appointments_move_units
    AFTER UPDATE OF status, starts_at, ends_at, doctor_id, clinic_id ON appointments
    FOR EACH ROW
    WHEN (NOT (OLD.status IN ('held', 'booked', 'arrived')
               AND NEW.status IN ('held', 'booked', 'arrived')
               AND OLD.clinic_id = NEW.clinic_id AND OLD.doctor_id = NEW.doctor_id
               AND OLD.starts_at = NEW.starts_at AND OLD.ends_at = NEW.ends_at))
    EXECUTE FUNCTION appointments_occupy_units();
