-- registry: master data every domain reads: the catalogue of specialties, the
-- clinics (with their districts, coordinates and time zones), their doctors and the
-- register of patients.
--
-- Scale-out: doctors are keyed by (clinic_id, id) so that they can be distributed by
-- clinic (Citus); specialties and clinics are small reference tables; patients are
-- distributed by patient.

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
