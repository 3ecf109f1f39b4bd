-- booking: schedules, appointments, referrals, the waitlist and idempotency keys.
--
-- Scale-out: clinic-owned tables are keyed by (clinic_id, ...) so that they can be
-- distributed by clinic (Citus); every unique key of such a table includes
-- clinic_id. What is keyed by patient (waitlist, idempotency keys) is distributed by
-- patient.
-- A doctor's working week, written in the clinic's local time (clinics.time_zone)
-- and expanded into days with zoneinfo. channels: a bit set of web, app, phone,
-- kiosk, registrar (1, 2, 4, 8, 16); urgent: kept for same-day urgent care.
CREATE TABLE schedule_templates (
    clinic_id   bigint   NOT NULL,
    id          bigint   GENERATED ALWAYS AS IDENTITY,
    doctor_id   bigint   NOT NULL,
    weekday     smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),   -- ISO: Monday is 1
    starts      time     NOT NULL,
    ends        time     NOT NULL,
    channels    smallint NOT NULL DEFAULT 31 CHECK (channels BETWEEN 1 AND 31),
    urgent      boolean  NOT NULL DEFAULT false,
    valid_from  date     NOT NULL DEFAULT '2000-01-01',
    valid_to    date,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, doctor_id) REFERENCES doctors (clinic_id, id),
    CHECK (ends > starts),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX schedule_templates_doctor ON schedule_templates (clinic_id, doctor_id);

-- Leave and sick days close a day (or part of it); an extra shift opens time.
CREATE TABLE schedule_exceptions (
    clinic_id   bigint  NOT NULL,
    id          bigint  GENERATED ALWAYS AS IDENTITY,
    doctor_id   bigint  NOT NULL,
    day         date    NOT NULL,
    kind        text    NOT NULL CHECK (kind IN ('leave', 'sick', 'extra')),
    starts      time,                 -- NULL with ends NULL: the whole day
    ends        time,
    channels    smallint NOT NULL DEFAULT 31 CHECK (channels BETWEEN 1 AND 31),
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, doctor_id) REFERENCES doctors (clinic_id, id),
    CHECK ((starts IS NULL) = (ends IS NULL)),
    CHECK (ends IS NULL OR ends > starts),
    CHECK (kind <> 'extra' OR starts IS NOT NULL)
);
CREATE INDEX schedule_exceptions_doctor_day ON schedule_exceptions (clinic_id, doctor_id, day);

CREATE TABLE referrals (
    clinic_id       bigint      NOT NULL,       -- the issuing clinic
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    patient_id      bigint      NOT NULL REFERENCES patients (id),
    specialty_id    smallint    NOT NULL REFERENCES specialties (id),
    issued_by       bigint      NOT NULL,       -- doctor
    issued_at       timestamptz NOT NULL DEFAULT now(),
    valid_until     date        NOT NULL,
    status          text        NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'used', 'cancelled', 'expired')),
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, issued_by) REFERENCES doctors (clinic_id, id)
);
CREATE INDEX referrals_patient ON referrals (patient_id, specialty_id) WHERE status = 'active';

-- Appointments. Times are UTC instants on a 5-minute grid.
CREATE TABLE appointments (
    clinic_id           bigint      NOT NULL,
    id                  bigint      GENERATED ALWAYS AS IDENTITY,
    doctor_id           bigint      NOT NULL,
    patient_id          bigint      NOT NULL REFERENCES patients (id),
    specialty_id        smallint    NOT NULL REFERENCES specialties (id),
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz NOT NULL,
    status              text        NOT NULL DEFAULT 'booked'
                        CHECK (status IN ('booked', 'arrived', 'completed', 'cancelled', 'no_show')),
    channel             text        NOT NULL
                        CHECK (channel IN ('web', 'app', 'phone', 'kiosk', 'registrar')),
    referral_clinic_id  bigint,
    referral_id         bigint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, doctor_id) REFERENCES doctors (clinic_id, id),
    FOREIGN KEY (referral_clinic_id, referral_id) REFERENCES referrals (clinic_id, id),
    CHECK (ends_at > starts_at),
    CHECK (ends_at - starts_at <= interval '4 hours'),
    CHECK (extract(epoch FROM starts_at)::bigint % 300 = 0),
    CHECK (extract(epoch FROM ends_at)::bigint % 300 = 0)
);
CREATE INDEX appointments_patient ON appointments (patient_id, starts_at);
CREATE INDEX appointments_doctor_day ON appointments (clinic_id, doctor_id, starts_at);

-- The arbiter against double booking. Each active appointment (booked or arrived)
-- owns one row per 5-minute unit of its doctor's time; the primary key makes a
-- second owner of a unit impossible, whatever wrote the appointment. Unlike a
-- range exclusion constraint it needs no extension (btree_gist) and, keyed by
-- clinic, it works when the table is distributed by clinic.
CREATE TABLE appointment_units (
    clinic_id       bigint NOT NULL,
    doctor_id       bigint NOT NULL,
    unit            bigint NOT NULL,   -- epoch seconds / 300
    appointment_id  bigint NOT NULL,
    PRIMARY KEY (clinic_id, doctor_id, unit),
    FOREIGN KEY (clinic_id, appointment_id) REFERENCES appointments (clinic_id, id)
        ON DELETE CASCADE
);
CREATE INDEX appointment_units_appointment ON appointment_units (clinic_id, appointment_id);

CREATE FUNCTION appointments_occupy_units() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM appointment_units
         WHERE clinic_id = OLD.clinic_id AND appointment_id = OLD.id;
    END IF;
    IF NEW.status IN ('booked', 'arrived') THEN
        INSERT INTO appointment_units (clinic_id, doctor_id, unit, appointment_id)
        SELECT NEW.clinic_id, NEW.doctor_id, u, NEW.id
          FROM generate_series(
                 extract(epoch FROM NEW.starts_at)::bigint / 300,
                 extract(epoch FROM NEW.ends_at)::bigint / 300 - 1) AS u;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER appointments_occupy_units
    AFTER INSERT OR UPDATE OF status, starts_at, ends_at, doctor_id, clinic_id
    ON appointments
    FOR EACH ROW EXECUTE FUNCTION appointments_occupy_units();

CREATE TABLE waitlist_entries (
    patient_id    bigint      NOT NULL REFERENCES patients (id),
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    specialty_id  smallint    NOT NULL REFERENCES specialties (id),
    clinic_id     bigint      REFERENCES clinics (id),
    doctor_id     bigint,
    from_day      date        NOT NULL,
    to_day        date        NOT NULL,
    status        text        NOT NULL DEFAULT 'waiting'
                  CHECK (status IN ('waiting', 'offered', 'booked', 'cancelled', 'expired')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, id),
    CHECK (to_day >= from_day),
    CHECK (doctor_id IS NULL OR clinic_id IS NOT NULL)
);
CREATE INDEX waitlist_waiting ON waitlist_entries (specialty_id, created_at)
    WHERE status = 'waiting';

-- A repeated request with the same Idempotency-Key gets the first answer again.
CREATE TABLE idempotency_keys (
    patient_id     bigint      NOT NULL,
    key            text        NOT NULL CHECK (length(key) BETWEEN 8 AND 128),
    request_hash   text        NOT NULL,
    status_code    smallint    NOT NULL,
    response       bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, key)
);
