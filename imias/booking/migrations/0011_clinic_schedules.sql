-- booking: a clinic runs its own schedules (its administrator edits them through the API
-- and the pages under /admin/schedules), and the city's public holidays apply to every
-- clinic.
--
-- A template may carry its own visit length (NULL: the doctor's, doctors.slot_minutes),
-- so that a new length takes effect from a day (a new version of the template) and never
-- under appointments already booked; and may keep its time for patients with a referral.
ALTER TABLE schedule_templates
    ADD COLUMN slot_minutes smallint
        CHECK (slot_minutes IS NULL OR (slot_minutes BETWEEN 5 AND 240 AND slot_minutes % 5 = 0)),
    ADD COLUMN referral boolean NOT NULL DEFAULT false;

-- Training closes time as leave and sick days do.
ALTER TABLE schedule_exceptions DROP CONSTRAINT schedule_exceptions_kind_check;
ALTER TABLE schedule_exceptions ADD CONSTRAINT schedule_exceptions_kind_check
    CHECK (kind IN ('leave', 'sick', 'training', 'extra'));

-- The city's public holidays: no template works on one; an extra shift still does. A
-- small reference table (as the catalogues), not a clinic's.
CREATE TABLE public_holidays (
    day         date        PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);
