-- Booking: the catalogue of specialties, clinics, doctors, patients, schedules,
-- appointments, referrals, the waitlist and idempotency keys.
--
-- Scale-out: clinic-owned tables are keyed by (clinic_id, ...) so that they can be
-- distributed by clinic (Citus); every unique key of such a table includes
-- clinic_id. Specialties are a small reference table. Patients, and what is keyed
-- by patient (waitlist, idempotency keys), are distributed by patient.

CREATE TABLE specialties (
    id              smallint PRIMARY KEY,
    code            text     NOT NULL UNIQUE CHECK (code ~ '^[a-z_]+$'),
    name_ru         text     NOT NULL,
    name_en         text     NOT NULL,
    self_referral   boolean  NOT NULL,              -- bookable without a referral
    attached_only   boolean  NOT NULL DEFAULT false, -- only at the patient's attached clinic
    min_age         smallint NOT NULL DEFAULT 0   CHECK (min_age >= 0),
    max_age         smallint NOT NULL DEFAULT 150 CHECK (max_age >= min_age),
    sex             char(1)  CHECK (sex IN ('F', 'M')),   -- NULL: any
    slot_minutes    smallint NOT NULL CHECK (slot_minutes > 0 AND slot_minutes % 5 = 0)
);

CREATE TABLE clinics (
    id          bigint PRIMARY KEY,
    name        text   NOT NULL,
    address     text   NOT NULL,
    district    text   NOT NULL,
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    time_zone   text   NOT NULL DEFAULT 'Europe/Moscow',
    kind        text   NOT NULL CHECK (kind IN ('adult', 'children', 'dental'))
);

CREATE TABLE doctors (
    clinic_id     bigint   NOT NULL REFERENCES clinics (id),
    id            bigint   NOT NULL,
    specialty_id  smallint NOT NULL REFERENCES specialties (id),
    family_name   text     NOT NULL,
    given_name    text     NOT NULL,
    patronymic    text,
    room          text,
    slot_minutes  smallint NOT NULL CHECK (slot_minutes > 0 AND slot_minutes % 5 = 0),
    active        boolean  NOT NULL DEFAULT true,
    PRIMARY KEY (clinic_id, id)
);
CREATE INDEX doctors_specialty ON doctors (specialty_id, clinic_id);

CREATE TABLE patients (
    id                  bigint  PRIMARY KEY,
    policy_number       char(16) NOT NULL UNIQUE CHECK (policy_number ~ '^[0-9]{16}$'),
    family_name         text    NOT NULL,
    given_name          text    NOT NULL,
    patronymic          text,
    birth_date          date    NOT NULL,
    sex                 char(1) NOT NULL CHECK (sex IN ('F', 'M')),
    phone               text    CHECK (phone ~ '^\+[0-9]{11,15}$'),
    attached_clinic_id  bigint  REFERENCES clinics (id)
);
CREATE INDEX patients_attached_clinic ON patients (attached_clinic_id);

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
