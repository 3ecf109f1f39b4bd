-- registry: the organisations outside the clinics that IMIAS exchanges data with:
-- the city's schools (and clubs: a pool, a sports school), which receive illness days
-- and certificates when a guardian consents, and the ambulance service's stations,
-- whose crews read the emergency summary. Small reference tables, like pharmacies.

CREATE TABLE schools (
    id          bigint  PRIMARY KEY,
    name        text    NOT NULL,
    kind        text    NOT NULL DEFAULT 'school' CHECK (kind IN ('school', 'club')),
    address     text    NOT NULL,
    district    text    NOT NULL,
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180)
);

CREATE TABLE ambulance_stations (
    id          bigint  PRIMARY KEY,
    name        text    NOT NULL,
    address     text    NOT NULL,
    district    text    NOT NULL
);
