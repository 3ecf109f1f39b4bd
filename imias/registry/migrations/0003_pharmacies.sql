-- registry: the city's pharmacies, where prescriptions are dispensed. A subsidised
-- pharmacy (a city pharmacy) may also dispense drugs given free under a benefit; a
-- commercial one only the rest. A small reference table, like clinics.

CREATE TABLE pharmacies (
    id          bigint  PRIMARY KEY,
    name        text    NOT NULL,
    address     text    NOT NULL,
    district    text    NOT NULL,
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    subsidised  boolean NOT NULL
);
