-- insights: the dashboard's aggregates (docs/dashboard.md). Small tables, one row per
-- day and clinic (and specialty, channel, code...), kept by the insights job and the
-- workers' counters and rebuilt from the source tables by `imias insights rebuild`.
-- Days are the clinic's local day (the city's day for the city-wide rows). Nothing here
-- names a patient: a clinic administrator may see her clinic's rows and the city's sums.

-- Bookings made on a day: how many, and how many for the same or the next day.
CREATE TABLE insight_bookings (
    day           date     NOT NULL,
    clinic_id     bigint   NOT NULL REFERENCES clinics (id),
    specialty_id  smallint NOT NULL REFERENCES specialties (id),
    made          integer  NOT NULL DEFAULT 0 CHECK (made >= 0),
    same_or_next  integer  NOT NULL DEFAULT 0 CHECK (same_or_next >= 0),
    PRIMARY KEY (day, clinic_id, specialty_id)
);

-- Bookings made on a day by channel (web, app, phone, kiosk, registrar, fhir).
CREATE TABLE insight_channels (
    day        date    NOT NULL,
    clinic_id  bigint  NOT NULL REFERENCES clinics (id),
    channel    text    NOT NULL,
    made       integer NOT NULL DEFAULT 0 CHECK (made >= 0),
    PRIMARY KEY (day, clinic_id, channel)
);

-- The visits of a day: the doctors' working time offered (the schedules, expanded) and
-- the minutes booked in it (appointments booked, arrived, completed or not come), the
-- appointments, those not come (no_show) and those cancelled.
CREATE TABLE insight_load (
    day             date     NOT NULL,
    clinic_id       bigint   NOT NULL REFERENCES clinics (id),
    specialty_id    smallint NOT NULL REFERENCES specialties (id),
    offered_minutes integer  NOT NULL DEFAULT 0,
    booked_minutes  integer  NOT NULL DEFAULT 0,
    appointments    integer  NOT NULL DEFAULT 0,
    no_shows        integer  NOT NULL DEFAULT 0,
    cancelled       integer  NOT NULL DEFAULT 0,
    PRIMARY KEY (day, clinic_id, specialty_id)
);

-- The wait in the clinic of a day's visits: from the check-in (or the appointment's
-- time, when the patient came early) to the visit's start, as a histogram of whole
-- minutes (minutes[i+1]: visits that waited i minutes, 0-60; the last: 60 or more).
CREATE TABLE insight_waits (
    day        date      NOT NULL,
    clinic_id  bigint    NOT NULL REFERENCES clinics (id),
    visits     integer   NOT NULL,
    minutes    integer[] NOT NULL,
    PRIMARY KEY (day, clinic_id)
);

-- Bookings the rules refused, by code and channel (the city's; counted by the workers).
CREATE TABLE insight_refusals (
    day      date    NOT NULL,
    code     text    NOT NULL,
    channel  text    NOT NULL,
    refused  integer NOT NULL DEFAULT 0 CHECK (refused >= 0),
    PRIMARY KEY (day, code, channel)
);

-- Days to the earliest free slot a patient could book (the web's time), sampled from the
-- engine by the job: per clinic and specialty, summed over the day's samples (none_found:
-- samples with nothing in the booking window; they are not in days_sum).
CREATE TABLE insight_earliest (
    day           date     NOT NULL,
    clinic_id     bigint   NOT NULL REFERENCES clinics (id),
    specialty_id  smallint NOT NULL REFERENCES specialties (id),
    samples       integer  NOT NULL DEFAULT 0,
    days_sum      integer  NOT NULL DEFAULT 0,
    none_found    integer  NOT NULL DEFAULT 0,
    PRIMARY KEY (day, clinic_id, specialty_id)
);

-- The same per district: the earliest over the district's clinics at each sample.
CREATE TABLE insight_district_earliest (
    day           date     NOT NULL,
    district      text     NOT NULL,
    specialty_id  smallint NOT NULL REFERENCES specialties (id),
    samples       integer  NOT NULL DEFAULT 0,
    days_sum      integer  NOT NULL DEFAULT 0,
    none_found    integer  NOT NULL DEFAULT 0,
    PRIMARY KEY (day, district, specialty_id)
);

-- What the job did last (one row per kind of work): the page says how fresh it is.
CREATE TABLE insight_runs (
    kind     text        PRIMARY KEY,
    ran_at   timestamptz NOT NULL,
    detail   text        NOT NULL DEFAULT ''
);
