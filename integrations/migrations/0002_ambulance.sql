-- The ambulance service: every call record a dispatch system sent (ambulance_calls: the
-- call as it became an encounter of the patient's record, once per message), and the
-- "active visit" a call left at home asks of the patient's attached clinic
-- (active_visits: a task booked by a worker after the call's transaction, or shown on
-- the clinic's registrar page while no slot within a day was free).

CREATE TABLE ambulance_calls (
    patient_id      bigint      NOT NULL,
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    partner_id      text        NOT NULL,   -- the dispatch system that sent it
    message_id      text        NOT NULL,   -- its idempotency id (webhook-id or MSH-10)
    call_number     text        NOT NULL,   -- the dispatch system's number of the call
    station_id      bigint      NOT NULL,   -- the crew's station
    encounter_id    bigint      NOT NULL,   -- the encounter it became
    clinic_id       bigint      NOT NULL,   -- the patient's attached clinic then
    outcome         text        NOT NULL CHECK (outcome IN ('home', 'hospital', 'refused')),
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    PRIMARY KEY (patient_id, id)
);
CREATE INDEX ambulance_calls_id ON ambulance_calls (id);

CREATE TABLE active_visits (
    clinic_id       bigint      NOT NULL REFERENCES clinics (id),
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    patient_id      bigint      NOT NULL,
    call_id         bigint      NOT NULL,   -- ambulance_calls.id
    call_number     text        NOT NULL,
    partner_id      text        NOT NULL,   -- whom to tell what was arranged
    station_id      bigint      NOT NULL,
    author_id       bigint      NOT NULL,   -- the station's system account (books in its name)
    specialty       text        NOT NULL,   -- therapist (adults) or paediatrician (children)
    due_by          timestamptz NOT NULL,   -- within a day of the call's end
    status          text        NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'open', 'booked', 'done')),
    appointment_id  bigint,                 -- the appointment booked for it
    starts_at       timestamptz,            -- its time
    doctor_name     text,
    booked_by       text,                   -- 'system' (the worker) or 'registrar:<staff id>'
    note            text,                   -- why it is open (no slot within the day, ...)
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (clinic_id, id),
    CHECK ((status = 'booked') = (appointment_id IS NOT NULL))
);
-- The worker's queue, and each clinic's open tasks on the registrar's page.
CREATE INDEX active_visits_new ON active_visits (id) WHERE status = 'new';
CREATE INDEX active_visits_open ON active_visits (clinic_id, created_at) WHERE status = 'open';
