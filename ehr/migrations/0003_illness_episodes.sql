-- Illness episodes of a child: the "justification of absence" that replaces the paper
-- note to school. A doctor opens one in her visit (from a day) and a doctor who may
-- read the record closes it (to a day); the change and its outbox event commit together
-- (topic ehr.illness), and the integrations tell the schools the guardian consented to.
-- Never a diagnosis: the episode holds days, not why.
--
-- Scale-out: owned by the patient and distributed by patient_id (Citus); its keys
-- include it. The application's role may not delete, and may update only the closing.

CREATE TABLE illness_episodes (
    patient_id     bigint      NOT NULL REFERENCES patients (id),
    id             bigint      GENERATED ALWAYS AS IDENTITY,
    encounter_id   bigint      NOT NULL,   -- the visit that opened it
    clinic_id      bigint      NOT NULL REFERENCES clinics (id),
    doctor_id      bigint      NOT NULL,
    opened_by      bigint      NOT NULL,   -- the doctor's staff account
    opened_at      timestamptz NOT NULL,
    starts_on      date        NOT NULL,   -- the first day of illness (the city's day)
    ends_on        date,                   -- the last day; NULL: still ill
    closed_by      bigint,
    closed_at      timestamptz,
    PRIMARY KEY (patient_id, id),
    FOREIGN KEY (patient_id, encounter_id) REFERENCES encounters (patient_id, id),
    CHECK (ends_on IS NULL OR ends_on >= starts_on),
    CHECK ((ends_on IS NULL) = (closed_at IS NULL))
);
-- One open episode per child at a time.
CREATE UNIQUE INDEX illness_episodes_open ON illness_episodes (patient_id) WHERE ends_on IS NULL;

REVOKE DELETE, TRUNCATE, UPDATE ON illness_episodes FROM imias_app;
GRANT UPDATE (ends_on, closed_by, closed_at) ON illness_episodes TO imias_app;
