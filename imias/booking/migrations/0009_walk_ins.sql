-- The walk-in queue: patients who come to a clinic without an appointment, on the
-- clinic's day (its own zone). A registrar adds them (with the complaint in a few words,
-- urgent ones first); a duty doctor of the clinic calls the next (urgent first, then
-- the longest waiting) and sees them in a visit of her own (ehr's encounter with no
-- appointment, whose id the entry keeps). An entry ends seen (the visit signed, or
-- marked) or left (the patient went away). added_at -> called_at is the wait in the
-- hall the dashboard reads.
CREATE TABLE walk_ins (
    clinic_id     bigint      NOT NULL REFERENCES clinics (id),
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    day           date        NOT NULL,              -- the clinic's local day
    patient_id    bigint      NOT NULL REFERENCES patients (id),
    complaint     text        NOT NULL CHECK (length(complaint) BETWEEN 1 AND 200),
    urgent        boolean     NOT NULL DEFAULT false,
    state         text        NOT NULL DEFAULT 'waiting'
                  CHECK (state IN ('waiting', 'called', 'seen', 'left')),
    added_by      bigint      NOT NULL,              -- the registrar's staff account
    added_at      timestamptz NOT NULL,
    called_at     timestamptz,
    called_by     bigint,                            -- the doctors row that called
    called_by_staff bigint,                          -- and her staff account
    encounter_id  bigint,                            -- the visit opened for it (ehr)
    ended_at      timestamptz,                       -- seen or left
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, called_by) REFERENCES doctors (clinic_id, id),
    CHECK ((called_at IS NULL) = (called_by IS NULL)),
    CHECK (state <> 'called' OR called_at IS NOT NULL),
    CHECK (state <> 'seen' OR called_at IS NOT NULL),
    CHECK ((state IN ('seen', 'left')) = (ended_at IS NOT NULL))
);
-- One open entry (waiting or called) per patient, clinic and day.
CREATE UNIQUE INDEX walk_ins_one_open ON walk_ins (clinic_id, day, patient_id)
    WHERE state IN ('waiting', 'called');
-- The queue in calling order.
CREATE INDEX walk_ins_queue ON walk_ins (clinic_id, day, urgent DESC, added_at, id)
    WHERE state = 'waiting';
-- Whether a doctor called a patient (the record's access rule), and a visit's entry.
CREATE INDEX walk_ins_patient ON walk_ins (patient_id, clinic_id);
CREATE INDEX walk_ins_encounter ON walk_ins (clinic_id, encounter_id)
    WHERE encounter_id IS NOT NULL;
