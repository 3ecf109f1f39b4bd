-- booking: patients moved when the clinic takes a doctor's time away (a sick day, leave,
-- a holiday, a changed template). Each displaced appointment is cancelled and its
-- patient offered another slot, held for them until a deadline (imias.booking.relocation).
--
-- A relocation belongs to the clinic that took the time away (the old appointment's);
-- the slot it holds may be at another clinic. Its states:
--   offered    a slot is held for the patient until the deadline
--   confirmed  the patient took it (the hold became the booking)
--   rebooked   the patient booked another time of the specialty herself
--   cancelled  she declined, or the deadline passed with nothing chosen
--   no_offer   nothing could be offered: the appointment is cancelled, the patient told
CREATE TABLE relocations (
    clinic_id             bigint      NOT NULL,
    id                    bigint      GENERATED ALWAYS AS IDENTITY,
    appointment_id        bigint      NOT NULL,       -- the old, cancelled appointment
    patient_id            bigint      NOT NULL REFERENCES patients (id),
    specialty_id          smallint    NOT NULL REFERENCES specialties (id),
    reason                text        NOT NULL CHECK (reason ~ '^[a-z_]{1,32}$'),
    state                 text        NOT NULL
                          CHECK (state IN ('offered', 'confirmed', 'rebooked', 'cancelled',
                                           'no_offer')),
    offer_clinic_id       bigint,                     -- the held slot (then the booking)
    offer_appointment_id  bigint,
    deadline              timestamptz,
    created_by            bigint,                     -- the staff account, if a person
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    settled_at            timestamptz,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, appointment_id) REFERENCES appointments (clinic_id, id),
    FOREIGN KEY (offer_clinic_id, offer_appointment_id) REFERENCES appointments (clinic_id, id),
    CHECK ((offer_appointment_id IS NULL) = (offer_clinic_id IS NULL)),
    CHECK ((offer_appointment_id IS NULL) = (deadline IS NULL)),
    CHECK (state <> 'no_offer' OR offer_appointment_id IS NULL),
    CHECK (state = 'no_offer' OR offer_appointment_id IS NOT NULL)
);
CREATE UNIQUE INDEX relocations_one_per_appointment ON relocations (clinic_id, appointment_id);
CREATE INDEX relocations_id ON relocations (id);
CREATE INDEX relocations_patient ON relocations (patient_id, created_at);
CREATE INDEX relocations_clinic_time ON relocations (clinic_id, created_at);

-- The hold offered to a displaced patient names its relocation, so that every path that
-- ends a hold (confirmed, let go, expired by the sweeper or by a booking of its time)
-- ends the relocation too, with no extra round trip for other holds. Nullable, no
-- default: adding it rewrites nothing.
ALTER TABLE appointments ADD COLUMN relocation_id bigint;

-- booking_context (0006) also says which holds are a relocation's ('a', 'h' and 'x'
-- rows): a new output column, so the function is made anew.
DROP FUNCTION booking_context(bigint, text, uuid, bigint, bigint, timestamptz, timestamptz,
                              timestamptz);
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
    response           bytea,
    relocation_id      bigint
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        SELECT 'p', p.id, p.attached_clinic_id, NULL::bigint, p.id, NULL::bigint,
               NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, NULL::bigint,
               NULL::bigint, NULL::uuid, NULL::timestamptz, NULL::bigint, NULL::date,
               p.birth_date, p.sex::text, NULL::text, NULL::bytea, NULL::bigint
          FROM patients p WHERE p.id = p_patient FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT 'a', a.id, a.clinic_id, a.doctor_id, a.patient_id, a.specialty_id::bigint,
               a.starts_at, a.ends_at, a.status, a.channel, a.referral_clinic_id,
               a.referral_id, a.hold_token, a.hold_expires_at, a.waitlist_entry_id,
               NULL::date, NULL::date, NULL::text, NULL::text, NULL::bytea, a.relocation_id
          FROM appointments a
         WHERE a.patient_id = p_patient AND a.status IN ('held', 'booked', 'arrived');
    RETURN QUERY
        SELECT 'r', r.id, r.clinic_id, NULL::bigint, r.patient_id, r.specialty_id::bigint,
               NULL::timestamptz, NULL::timestamptz, r.status, NULL::text, NULL::bigint,
               NULL::bigint, NULL::uuid, NULL::timestamptz, NULL::bigint, r.valid_until,
               NULL::date, NULL::text, NULL::text, NULL::bytea, NULL::bigint
          FROM referrals r
         WHERE r.patient_id = p_patient AND r.status = 'active';
    IF p_key IS NOT NULL THEN
        RETURN QUERY
            SELECT 'i', NULL::bigint, NULL::bigint, NULL::bigint, k.patient_id, NULL::bigint,
                   NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text,
                   NULL::bigint, NULL::bigint, NULL::uuid, NULL::timestamptz, NULL::bigint,
                   NULL::date, NULL::date, NULL::text, k.route, k.response, NULL::bigint
              FROM idempotency_keys k
             WHERE k.patient_id = p_patient AND k.key = p_key;
    END IF;
    IF p_token IS NOT NULL THEN
        RETURN QUERY
            SELECT 'h', a.id, a.clinic_id, a.doctor_id, a.patient_id, a.specialty_id::bigint,
                   a.starts_at, a.ends_at, a.status, a.channel, a.referral_clinic_id,
                   a.referral_id, a.hold_token, a.hold_expires_at, a.waitlist_entry_id,
                   NULL::date, NULL::date, NULL::text, NULL::text, NULL::bytea,
                   a.relocation_id
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
                          a.waitlist_entry_id, a.relocation_id)
            SELECT 'x', g.id, g.clinic_id, g.doctor_id, g.patient_id, NULL::bigint,
                   NULL::timestamptz, NULL::timestamptz, 'expired'::text, NULL::text,
                   NULL::bigint, NULL::bigint, g.hold_token, NULL::timestamptz,
                   g.waitlist_entry_id, NULL::date, NULL::date, NULL::text, NULL::text,
                   NULL::bytea, g.relocation_id
              FROM gone g;
    END IF;
END
$$;
