-- booking: the facts a booking decision needs, read in one round trip.
--
-- booking_context(patient, idempotency key, hold token, slot, now) locks the patient's
-- row (so one patient's requests are serialised), then returns, one row each, tagged
-- by kind:
--   'p'  the patient (birth_date, sex, clinic_id = the attached clinic)
--   'a'  each live appointment or hold of the patient
--   'r'  each active referral of the patient
--   'i'  the stored answer to the idempotency key, if any (route, response)
--   'h'  the appointment row holding the token, locked FOR UPDATE, if any
--   'x'  each hold on the slot's time (clinic, doctor, starts, ends) that had expired
--        at now and is ended by this call (status 'expired'), so that the slot can be
--        taken; the caller publishes their release. Not swept when the doctor is null.
-- Nothing when there is no such patient. It is a VOLATILE PL/pgSQL function on
-- purpose: each RETURN QUERY takes a fresh snapshot, so the rows read after the lock
-- include everything committed by the request that held the lock before (a single
-- SELECT would read them with the snapshot taken before it waited for the lock).
CREATE FUNCTION booking_context(
    p_patient bigint, p_key text, p_token uuid,
    p_clinic bigint, p_doctor bigint, p_starts timestamptz, p_ends timestamptz,
    p_now timestamptz)
RETURNS TABLE (
    kind               text,
    id                 bigint,
    clinic_id          bigint,
    doctor_id          bigint,
    patient_id         bigint,
    specialty_id       bigint,
    starts_at          timestamptz,
    ends_at            timestamptz,
    status             text,
    channel            text,
    referral_clinic_id bigint,
    referral_id        bigint,
    hold_token         uuid,
    hold_expires_at    timestamptz,
    waitlist_entry_id  bigint,
    valid_until        date,
    birth_date         date,
    sex                text,
    route              text,
    response           bytea
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        SELECT 'p', p.id, p.attached_clinic_id, NULL::bigint, p.id, NULL::bigint,
               NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, NULL::bigint,
               NULL::bigint, NULL::uuid, NULL::timestamptz, NULL::bigint, NULL::date,
               p.birth_date, p.sex::text, NULL::text, NULL::bytea
          FROM patients p WHERE p.id = p_patient FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT 'a', a.id, a.clinic_id, a.doctor_id, a.patient_id, a.specialty_id::bigint,
               a.starts_at, a.ends_at, a.status, a.channel, a.referral_clinic_id,
               a.referral_id, a.hold_token, a.hold_expires_at, a.waitlist_entry_id,
               NULL::date, NULL::date, NULL::text, NULL::text, NULL::bytea
          FROM appointments a
         WHERE a.patient_id = p_patient AND a.status IN ('held', 'booked', 'arrived');
    RETURN QUERY
        SELECT 'r', r.id, r.clinic_id, NULL::bigint, r.patient_id, r.specialty_id::bigint,
               NULL::timestamptz, NULL::timestamptz, r.status, NULL::text, NULL::bigint,
               NULL::bigint, NULL::uuid, NULL::timestamptz, NULL::bigint, r.valid_until,
               NULL::date, NULL::text, NULL::text, NULL::bytea
          FROM referrals r
         WHERE r.patient_id = p_patient AND r.status = 'active';
    IF p_key IS NOT NULL THEN
        RETURN QUERY
            SELECT 'i', NULL::bigint, NULL::bigint, NULL::bigint, k.patient_id, NULL::bigint,
                   NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text,
                   NULL::bigint, NULL::bigint, NULL::uuid, NULL::timestamptz, NULL::bigint,
                   NULL::date, NULL::date, NULL::text, k.route, k.response
              FROM idempotency_keys k
             WHERE k.patient_id = p_patient AND k.key = p_key;
    END IF;
    IF p_token IS NOT NULL THEN
        RETURN QUERY
            SELECT 'h', a.id, a.clinic_id, a.doctor_id, a.patient_id, a.specialty_id::bigint,
                   a.starts_at, a.ends_at, a.status, a.channel, a.referral_clinic_id,
                   a.referral_id, a.hold_token, a.hold_expires_at, a.waitlist_entry_id,
                   NULL::date, NULL::date, NULL::text, NULL::text, NULL::bytea
              FROM appointments a
             WHERE a.hold_token = p_token
             ORDER BY a.created_at DESC
             LIMIT 1
               FOR UPDATE;
    END IF;
    IF p_doctor IS NOT NULL THEN
        RETURN QUERY
            WITH gone AS (
                UPDATE appointments a SET status = 'expired', updated_at = p_now
                 WHERE a.clinic_id = p_clinic AND a.doctor_id = p_doctor
                   AND a.status = 'held' AND a.hold_expires_at <= p_now
                   AND a.starts_at < p_ends AND a.ends_at > p_starts
                RETURNING a.id, a.clinic_id, a.doctor_id, a.patient_id, a.hold_token,
                          a.waitlist_entry_id)
            SELECT 'x', g.id, g.clinic_id, g.doctor_id, g.patient_id, NULL::bigint,
                   NULL::timestamptz, NULL::timestamptz, 'expired'::text, NULL::text,
                   NULL::bigint, NULL::bigint, g.hold_token, NULL::timestamptz,
                   g.waitlist_entry_id, NULL::date, NULL::date, NULL::text, NULL::text,
                   NULL::bytea
              FROM gone g;
    END IF;
END
$$;
