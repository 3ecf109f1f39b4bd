-- prescriptions: the drug catalogue as imported, the doctors' signing keys, the
-- patients' benefit categories, the prescriptions with their dispensing periods, and
-- every dispensing.
--
-- A prescription is a signed document: its signed content is rebuilt from the row at
-- the counter and checked against the signature, so a row changed after signing is
-- refused. What has been dispensed is counted per period (prescription_periods); the
-- database keeps it within what was prescribed (a CHECK), so two pharmacies scanning the
-- same code at once cannot both dispense the last of it.
--
-- Scale-out: prescriptions, their periods and their dispensings are owned by their
-- patient and distributed by patient_id (Citus); their keys include it. Catalogues and
-- signing keys are small reference tables. The application's role may not DELETE from
-- any of them.

CREATE TABLE drug_catalogues (
    version      text        PRIMARY KEY,
    published    date        NOT NULL,
    sha256       text        NOT NULL,
    body         bytea       NOT NULL,      -- the file as imported (JSON)
    imported_at  timestamptz NOT NULL
);

CREATE TABLE signing_keys (
    id           text        PRIMARY KEY,   -- key id, named in each signature
    clinic_id    bigint      NOT NULL REFERENCES clinics (id),
    doctor_id    bigint      NOT NULL,
    public_key   bytea       NOT NULL CHECK (length(public_key) = 32),
    certificate  bytea       NOT NULL,      -- the authority's signature of the key statement
    private_key  bytea       NOT NULL,      -- sealed with the deployment's key (AES-GCM)
    issued_at    timestamptz NOT NULL,
    revoked_at   timestamptz,
    FOREIGN KEY (clinic_id, doctor_id) REFERENCES doctors (clinic_id, id)
);
-- A doctor signs with one key at a time.
CREATE UNIQUE INDEX signing_keys_doctor ON signing_keys (clinic_id, doctor_id)
    WHERE revoked_at IS NULL;

CREATE TABLE patient_benefits (
    patient_id   bigint      NOT NULL REFERENCES patients (id),
    category     text        NOT NULL CHECK (category ~ '^[0-9A-Z]{1,8}$'),
    valid_from   date        NOT NULL,
    valid_to     date,
    PRIMARY KEY (patient_id, category),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

CREATE TABLE prescriptions (
    patient_id      bigint      NOT NULL REFERENCES patients (id),
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    encounter_id    bigint      NOT NULL,
    clinic_id       bigint      NOT NULL REFERENCES clinics (id),
    doctor_id       bigint      NOT NULL,
    author_id       bigint      NOT NULL,   -- the doctor's staff account
    atc             text        NOT NULL CHECK (atc ~ '^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$'),
    inn             text        NOT NULL,
    product_code    text        NOT NULL,
    drug_text       text        NOT NULL,   -- name, form and strength as signed
    dose            numeric(8, 3) NOT NULL CHECK (dose > 0),   -- dosage units an intake
    per_day         smallint    NOT NULL CHECK (per_day BETWEEN 1 AND 24),
    days            smallint    NOT NULL CHECK (days BETWEEN 1 AND 366),
    quantity        integer     NOT NULL CHECK (quantity BETWEEN 1 AND 10000), -- a period's
    schedule        text        NOT NULL CHECK (schedule IN ('once', 'monthly', 'quarterly')),
    benefit         text,                   -- the category it is given free under
    issued_on       date        NOT NULL,
    valid_until     date        NOT NULL,
    instructions    text,
    status          text        NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'cancelled')),
    cancelled_at    timestamptz,
    cancel_reason   text,
    overrides       jsonb,                  -- the blocking checks overridden, with the reason
    catalogue       text        NOT NULL,   -- the catalogue version it was checked against
    key_id          text        NOT NULL REFERENCES signing_keys (id),
    signature       bytea       NOT NULL,
    signed_at       timestamptz NOT NULL,
    PRIMARY KEY (patient_id, id),
    CHECK (valid_until >= issued_on),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX prescriptions_id ON prescriptions (id);
CREATE INDEX prescriptions_patient ON prescriptions (patient_id, issued_on DESC, id DESC);
CREATE INDEX prescriptions_encounter ON prescriptions (patient_id, encounter_id);

CREATE TABLE prescription_periods (
    patient_id       bigint  NOT NULL,
    prescription_id  bigint  NOT NULL,
    period           smallint NOT NULL CHECK (period >= 1),
    starts           date    NOT NULL,
    ends             date    NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    dispensed        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (patient_id, prescription_id, period),
    FOREIGN KEY (patient_id, prescription_id) REFERENCES prescriptions (patient_id, id),
    CONSTRAINT nothing_twice CHECK (dispensed >= 0 AND dispensed <= quantity),
    CHECK (ends >= starts)
);

CREATE TABLE dispensings (
    patient_id       bigint      NOT NULL,
    id               bigint      GENERATED ALWAYS AS IDENTITY,
    prescription_id  bigint      NOT NULL,
    period           smallint    NOT NULL,
    pharmacy_id      bigint      NOT NULL REFERENCES pharmacies (id),
    pharmacist_id    bigint      NOT NULL,  -- staff account
    product_code     text        NOT NULL,  -- what was handed out (a generic of the INN)
    quantity         integer     NOT NULL CHECK (quantity > 0),
    request_id       uuid,                  -- the pharmacy's idempotency key
    dispensed_at     timestamptz NOT NULL,
    PRIMARY KEY (patient_id, id),
    FOREIGN KEY (patient_id, prescription_id, period)
        REFERENCES prescription_periods (patient_id, prescription_id, period)
);
CREATE INDEX dispensings_id ON dispensings (id);
CREATE INDEX dispensings_prescription ON dispensings (patient_id, prescription_id, id);
CREATE UNIQUE INDEX dispensings_request ON dispensings (patient_id, request_id)
    WHERE request_id IS NOT NULL;

-- Nothing is deleted. A signed prescription is only cancelled: the application's role
-- may update its status and nothing of what was signed; a catalogue and a key, once
-- written, stay (a key is only revoked).
REVOKE DELETE, TRUNCATE ON drug_catalogues, signing_keys, patient_benefits, prescriptions,
    prescription_periods, dispensings FROM imias_app;
REVOKE UPDATE ON drug_catalogues, prescriptions, dispensings, signing_keys FROM imias_app;
GRANT UPDATE (status, cancelled_at, cancel_reason) ON prescriptions TO imias_app;
GRANT UPDATE (revoked_at) ON signing_keys TO imias_app;
