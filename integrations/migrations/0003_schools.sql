-- The schools' adapter: a guardian's consents, per child and per school (or club), to
-- send the child's illness absences and/or certificates there; and, optionally, which
-- partner (school journal system) serves which school.
--
-- A consent is never changed but for its withdrawal: what was consented at the time of
-- an event decides what the event sends. Scale-out: consents are owned by the child and
-- distributed by patient_id; the journals' bindings are small and local, as partners are.

CREATE TABLE school_consents (
    patient_id    bigint      NOT NULL REFERENCES patients (id),   -- the child
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    school_id     bigint      NOT NULL REFERENCES schools (id),
    absences      boolean     NOT NULL,   -- illness absences ("Б" days) go to the school
    certificates  boolean     NOT NULL,   -- certificates (086/у, PE group, pool) go there
    given_by      bigint      NOT NULL,   -- the guardian (a patients.id)
    given_at      timestamptz NOT NULL,
    withdrawn_by  bigint,
    withdrawn_at  timestamptz,
    PRIMARY KEY (patient_id, id),
    CHECK (absences OR certificates),
    CHECK ((withdrawn_at IS NULL) = (withdrawn_by IS NULL))
);
-- One consent in force per child and school.
CREATE UNIQUE INDEX school_consents_active ON school_consents (patient_id, school_id)
    WHERE withdrawn_at IS NULL;
-- A school's children (the school nurse's list).
CREATE INDEX school_consents_school ON school_consents (school_id) WHERE withdrawn_at IS NULL;

REVOKE DELETE, TRUNCATE, UPDATE ON school_consents FROM imias_app;
GRANT UPDATE (withdrawn_by, withdrawn_at) ON school_consents TO imias_app;

-- Which journal system serves a school: its messages go to these partners only. A school
-- with none goes to every partner whose topics take the message (a city-wide journal).
CREATE TABLE school_journals (
    school_id   bigint NOT NULL REFERENCES schools (id),
    partner_id  text   NOT NULL REFERENCES partners (id),
    PRIMARY KEY (school_id, partner_id)
);
