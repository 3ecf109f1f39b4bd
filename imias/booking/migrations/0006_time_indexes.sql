-- booking: indexes that the planner cannot take for the wrong statement, and the
-- readers of a city's history bounded in time.
--
-- Three readers look for appointments in a time range: every worker's engine at start
-- (the active ones of the booking window), the no-show job every minute (booked ones
-- that ended in the last two days) and the load test's audit (overlaps). With a city's
-- history (tens of millions of completed, cancelled and no-show rows) each scanned the
-- whole table.
CREATE INDEX appointments_by_time ON appointments (starts_at);
-- Only a statement that names status = 'booked' can use it: the no-show job does; no
-- statement of the booking hot path does.
CREATE INDEX appointments_booked_by_time ON appointments (starts_at) WHERE status = 'booked';

-- The partial index of live holds (0002) goes. The planner prices a partial index by
-- its own statistics, which only VACUUM refreshes: created when no hold was live, it
-- looked empty, and every statement that names status = 'held' (a confirmation and an
-- ended hold, by primary key; the expired holds on a doctor's time) took it, walking
-- every hold made since the last VACUUM: 16 ms a booking on the full city. Its
-- successor has a predicate that no such statement implies (hold_token IS NOT NULL is
-- true of every hold, a check of the table, but only the hold sweeper says so).
DROP INDEX appointments_live_holds;
CREATE INDEX appointments_hold_expiry ON appointments (hold_expires_at)
    WHERE status = 'held' AND hold_token IS NOT NULL;

-- booking_context (0004) ends the expired holds on the wanted time as before; the holds
-- that overlap it start at most four hours before it (an appointment lasts at most four
-- hours, a check of the table), so the doctor's index is read over those hours only,
-- not back through the doctor's history.
CREATE OR REPLACE FUNCTION booking_context(
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
                   AND a.starts_at > p_starts - interval '4 hours'
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
