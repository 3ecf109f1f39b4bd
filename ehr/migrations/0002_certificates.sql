-- Medical certificates: the specialists' conclusions recorded in their visits, the
-- certificates the chair issues from them, and the clinics' signing keys.
--
-- A certificate is a signed document: its QR carries its content signed by the clinic's
-- key (COSE_Sign1), so it is checked offline; the row keeps what was signed and whether
-- it was revoked. A conclusion is never changed: a later one takes its place.
--
-- Scale-out: conclusions and certificates are owned by their patient and distributed by
-- patient_id (Citus); their keys include it. A certificate is found by its number
-- through a plain index (the officer gives the number with the holder's birth date).
-- The clinics' keys are a small reference table. The application's role may not
-- DELETE from any of them, and may update only a certificate's revocation and a key's
-- retirement or withdrawal.

CREATE TABLE certificate_keys (
    kid              bytea       PRIMARY KEY CHECK (length(kid) = 8),
    clinic_id        bigint      NOT NULL REFERENCES clinics (id),
    public_key       bytea       NOT NULL,   -- DER SubjectPublicKeyInfo, P-256
    private_key      bytea       NOT NULL,   -- sealed with the deployment's key (AES-GCM)
    created_at       timestamptz NOT NULL,
    retired_at       timestamptz,            -- signs no more; its certificates stay valid
    withdrawn_at     timestamptz,            -- its certificates are no longer valid
    withdrawn_reason text
);
-- A clinic signs with one key at a time.
CREATE UNIQUE INDEX certificate_keys_current ON certificate_keys (clinic_id)
    WHERE retired_at IS NULL AND withdrawn_at IS NULL;

CREATE TABLE exam_conclusions (
    patient_id    bigint      NOT NULL REFERENCES patients (id),
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    encounter_id  bigint      NOT NULL,
    clinic_id     bigint      NOT NULL REFERENCES clinics (id),
    doctor_id     bigint      NOT NULL,
    author_id     bigint      NOT NULL,   -- the doctor's staff account
    purpose       text        NOT NULL DEFAULT 'driver' CHECK (purpose IN ('driver')),
    examiner      text        NOT NULL CHECK (examiner IN ('therapist', 'ophthalmologist',
                              'psychiatrist', 'narcologist', 'neurologist', 'otolaryngologist')),
    verdict       text        NOT NULL CHECK (verdict IN ('fit', 'restricted', 'unfit')),
    restrictions  text[]      NOT NULL DEFAULT '{}',
    recorded_at   timestamptz NOT NULL,
    PRIMARY KEY (patient_id, id),
    FOREIGN KEY (patient_id, encounter_id) REFERENCES encounters (patient_id, id),
    CHECK ((verdict = 'restricted') = (cardinality(restrictions) > 0))
);
CREATE INDEX exam_conclusions_patient ON exam_conclusions (patient_id, purpose, recorded_at);

CREATE TABLE certificates (
    patient_id      bigint      NOT NULL REFERENCES patients (id),
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    number          text        NOT NULL CHECK (number ~ '^[0-9]{4}-[0-9]{1,19}-[0-9A-Z]{8}$'),
    kind            text        NOT NULL CHECK (kind IN ('driver', 'school', 'pe_group', 'pool')),
    clinic_id       bigint      NOT NULL REFERENCES clinics (id),
    doctor_id       bigint      NOT NULL,
    author_id       bigint      NOT NULL,
    holder          text        NOT NULL,   -- as signed
    birth_date      date        NOT NULL,
    categories      text[]      NOT NULL DEFAULT '{}',
    restrictions    text[]      NOT NULL DEFAULT '{}',
    pe_group        text        CHECK (pe_group IN ('main', 'preparatory', 'special_a', 'special_b')),
    valid_from      date        NOT NULL,
    valid_until     date        NOT NULL,
    issued_at       timestamptz NOT NULL,
    kid             bytea       NOT NULL REFERENCES certificate_keys (kid),
    qr              text        NOT NULL,   -- the signed QR's text, as issued
    status          text        NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'revoked')),
    revoked_at      timestamptz,
    revoked_reason  text,
    revoked_by      bigint,                 -- staff account; NULL: a later conclusion
    PRIMARY KEY (patient_id, id),
    CHECK (valid_until >= valid_from),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE UNIQUE INDEX certificates_patient_number ON certificates (patient_id, number);
CREATE INDEX certificates_number ON certificates (number);
CREATE INDEX certificates_revoked ON certificates (valid_until) WHERE status = 'revoked';

REVOKE DELETE, TRUNCATE ON certificate_keys, exam_conclusions, certificates FROM imias_app;
REVOKE UPDATE ON certificate_keys, exam_conclusions, certificates FROM imias_app;
GRANT UPDATE (status, revoked_at, revoked_reason, revoked_by) ON certificates TO imias_app;
GRANT UPDATE (retired_at, withdrawn_at, withdrawn_reason) ON certificate_keys TO imias_app;
