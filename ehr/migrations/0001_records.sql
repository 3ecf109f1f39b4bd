-- ehr: the medical record. One row per fact, every change versioned, nothing deleted.
--
-- Encounters (a visit: linked to its appointment, or standing alone for a home or an
-- ambulance visit) carry the protocol as a document (the signed text) and, while the
-- doctor writes, her draft. Conditions (ICD-10), observations (LOINC), allergies and
-- immunizations are facts of the patient, each written in an encounter or alone.
--
-- Every row holds its current version; ehr_versions keeps every version as written
-- (who, when, why), so that an amended visit's earlier text stays readable and FHIR's
-- vread and _history answer from it. A wrong entry is marked entered-in-error, never
-- deleted: the application's role may not DELETE from these tables.
--
-- Scale-out: every table is owned by its patient and distributed by patient_id (Citus);
-- its keys include it. Ids come from one sequence per table and are unique on their
-- own; a lookup by id alone uses a plain index.

CREATE TABLE encounters (
    patient_id      bigint      NOT NULL REFERENCES patients (id),
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    clinic_id       bigint      NOT NULL REFERENCES clinics (id),
    doctor_id       bigint,                 -- NULL: an ambulance crew's encounter
    specialty_id    smallint    REFERENCES specialties (id),
    appointment_id  bigint,                 -- the booking's appointment, when booked
    kind            text        NOT NULL CHECK (kind IN ('outpatient', 'home', 'ambulance')),
    status          text        NOT NULL DEFAULT 'in-progress'
                    CHECK (status IN ('in-progress', 'finished', 'entered-in-error')),
    started_at      timestamptz NOT NULL,
    signed_at       timestamptz,
    protocol        jsonb,                  -- the signed protocol (sections of text)
    draft           jsonb,                  -- the doctor's unsigned form, saved as she types
    draft_saved_at  timestamptz,
    restricted      text,                   -- its diagnoses' restricted class ('mixed': two)
    version         integer     NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL,
    updated_by      bigint      NOT NULL,   -- staff account
    PRIMARY KEY (patient_id, id),
    CONSTRAINT encounters_signed CHECK ((status = 'in-progress') = (signed_at IS NULL)),
    CONSTRAINT encounters_doctor CHECK (kind = 'ambulance' OR doctor_id IS NOT NULL)
);
CREATE INDEX encounters_id ON encounters (id);
CREATE INDEX encounters_patient_time ON encounters (patient_id, started_at DESC, id DESC);
-- One encounter per appointment (the appointment's patient is the encounter's).
CREATE UNIQUE INDEX encounters_appointment ON encounters (patient_id, appointment_id)
    WHERE appointment_id IS NOT NULL;

CREATE TABLE conditions (
    patient_id          bigint      NOT NULL REFERENCES patients (id),
    id                  bigint      GENERATED ALWAYS AS IDENTITY,
    encounter_id        bigint,
    clinic_id           bigint      NOT NULL REFERENCES clinics (id),
    code                text        NOT NULL CHECK (code ~ '^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$'),
    category            text        NOT NULL DEFAULT 'encounter-diagnosis'
                        CHECK (category IN ('encounter-diagnosis', 'problem-list-item')),
    rank                text        NOT NULL DEFAULT 'secondary'
                        CHECK (rank IN ('primary', 'secondary')),
    course              text        NOT NULL DEFAULT 'acute' CHECK (course IN ('acute', 'chronic')),
    clinical_status     text        NOT NULL DEFAULT 'active'
                        CHECK (clinical_status IN ('active', 'recurrence', 'relapse',
                                                   'inactive', 'remission', 'resolved')),
    verification_status text        NOT NULL DEFAULT 'confirmed'
                        CHECK (verification_status IN ('provisional', 'confirmed',
                                                       'refuted', 'entered-in-error')),
    onset               date,
    abatement           date,
    note                text,
    restricted          text,       -- 'mental', 'hiv', 'sti' (ehr.codes.restricted_class)
    author_id           bigint      NOT NULL,   -- staff account that wrote it
    author_specialty    text,                   -- its doctor's specialty code
    recorded_at         timestamptz NOT NULL,
    version             integer     NOT NULL DEFAULT 1,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (patient_id, id),
    CHECK (abatement IS NULL OR onset IS NULL OR abatement >= onset)
);
CREATE INDEX conditions_id ON conditions (id);
CREATE INDEX conditions_patient ON conditions (patient_id, recorded_at DESC, id DESC);
CREATE INDEX conditions_encounter ON conditions (patient_id, encounter_id);

CREATE TABLE observations (
    patient_id      bigint      NOT NULL REFERENCES patients (id),
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    encounter_id    bigint,
    clinic_id       bigint      NOT NULL REFERENCES clinics (id),
    code            text        NOT NULL,           -- LOINC
    category        text        NOT NULL CHECK (category IN ('vital-signs', 'laboratory')),
    value           numeric     NOT NULL,
    unit            text        NOT NULL,
    low             numeric,                        -- the reference range, as recorded
    high            numeric,
    interpretation  text        CHECK (interpretation IN ('L', 'N', 'H')),
    status          text        NOT NULL DEFAULT 'final'
                    CHECK (status IN ('final', 'amended', 'entered-in-error')),
    effective_at    timestamptz NOT NULL,
    restricted      text,
    author_id       bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL,
    version         integer     NOT NULL DEFAULT 1,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (patient_id, id)
);
CREATE INDEX observations_id ON observations (id);
-- The card's latest results and FHIR's Observation?patient=X&code=Y&_sort=-date.
CREATE INDEX observations_patient_code ON observations (patient_id, code, effective_at DESC, id DESC);
CREATE INDEX observations_patient_time ON observations (patient_id, effective_at DESC, id DESC);
CREATE INDEX observations_encounter ON observations (patient_id, encounter_id);

CREATE TABLE allergies (
    patient_id          bigint      NOT NULL REFERENCES patients (id),
    id                  bigint      GENERATED ALWAYS AS IDENTITY,
    encounter_id        bigint,
    clinic_id           bigint      NOT NULL REFERENCES clinics (id),
    substance           text        NOT NULL,   -- ehr catalogue code (an ATC code for a drug)
    category            text        NOT NULL CHECK (category IN ('medication', 'food',
                                                               'environment', 'biologic')),
    criticality         text        NOT NULL DEFAULT 'low'
                        CHECK (criticality IN ('low', 'high', 'unable-to-assess')),
    reaction            text,
    severity            text        CHECK (severity IN ('mild', 'moderate', 'severe')),
    clinical_status     text        NOT NULL DEFAULT 'active'
                        CHECK (clinical_status IN ('active', 'inactive', 'resolved')),
    verification_status text        NOT NULL DEFAULT 'confirmed'
                        CHECK (verification_status IN ('unconfirmed', 'confirmed',
                                                       'refuted', 'entered-in-error')),
    onset               date,
    author_id           bigint      NOT NULL,
    recorded_at         timestamptz NOT NULL,
    version             integer     NOT NULL DEFAULT 1,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (patient_id, id)
);
CREATE INDEX allergies_id ON allergies (id);

CREATE TABLE immunizations (
    patient_id      bigint      NOT NULL REFERENCES patients (id),
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    encounter_id    bigint,
    clinic_id       bigint      NOT NULL REFERENCES clinics (id),
    vaccine         text        NOT NULL,           -- ehr catalogue code
    dose_number     smallint    NOT NULL CHECK (dose_number BETWEEN 1 AND 20),
    occurred_on     date        NOT NULL,
    lot             text        CHECK (length(lot) <= 40),
    status          text        NOT NULL DEFAULT 'completed'
                    CHECK (status IN ('completed', 'not-done', 'entered-in-error')),
    author_id       bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL,
    version         integer     NOT NULL DEFAULT 1,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (patient_id, id)
);
CREATE INDEX immunizations_id ON immunizations (id);
CREATE INDEX immunizations_patient ON immunizations (patient_id, occurred_on DESC);

-- Every version of every fact, as written: the resource's state (ehr's own Struct,
-- JSON), who wrote it, when and why (an amendment's reason).
CREATE TABLE ehr_versions (
    patient_id      bigint      NOT NULL REFERENCES patients (id),
    resource        text        NOT NULL CHECK (resource IN ('Encounter', 'Condition',
                        'Observation', 'AllergyIntolerance', 'Immunization')),
    resource_id     bigint      NOT NULL,
    version         integer     NOT NULL CHECK (version >= 1),
    body            jsonb       NOT NULL,
    written_by      bigint      NOT NULL,
    written_at      timestamptz NOT NULL,
    reason          text,
    PRIMARY KEY (patient_id, resource, resource_id, version)
);
CREATE INDEX ehr_versions_resource ON ehr_versions (resource, resource_id, version);

-- Nothing is deleted, and a version once written stays as it was.
REVOKE DELETE, TRUNCATE ON encounters, conditions, observations, allergies, immunizations
    FROM imias_app;
REVOKE UPDATE, DELETE, TRUNCATE ON ehr_versions FROM imias_app;
