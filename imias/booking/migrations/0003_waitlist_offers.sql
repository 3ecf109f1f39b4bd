-- Waitlist offers and reminders.
-- A freed slot that matches a waiting patient is offered to the earliest eligible one
-- as a hold (an appointment row with status 'held') that points back at the entry.
ALTER TABLE appointments
    ADD COLUMN waitlist_entry_id bigint,
    ADD COLUMN reminded_at       timestamptz;

ALTER TABLE waitlist_entries
    ADD COLUMN offer_clinic_id      bigint,
    ADD COLUMN offer_appointment_id bigint,
    ADD COLUMN updated_at           timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT waitlist_offer_fk FOREIGN KEY (offer_clinic_id, offer_appointment_id)
        REFERENCES appointments (clinic_id, id);

CREATE UNIQUE INDEX waitlist_one_waiting_per_specialty
    ON waitlist_entries (patient_id, specialty_id) WHERE status IN ('waiting', 'offered');

CREATE INDEX appointments_due_reminders ON appointments (starts_at)
    WHERE status = 'booked' AND reminded_at IS NULL;
