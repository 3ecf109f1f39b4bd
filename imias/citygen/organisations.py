"""The city's schools and clubs and its ambulance stations: Moscow has about 2.5 schools
(counted as buildings that teach) and a tenth of a pool or sports club per outpatient
clinic, and about 60 ambulance substations for its 678 clinics. School 1 is
``nurse.1``'s, station 1 ``ambulance.1``'s (:data:`imias.citygen.city.OTHER_STAFF`)."""

from __future__ import annotations

import random
from typing import Any

from imias.citygen import catalogue as cat
from imias.citygen import city as citygen

SCHOOL_COLUMNS = ("id", "name", "kind", "address", "district", "lat", "lon")
STATION_COLUMNS = ("id", "name", "address", "district")
SCHOOLS_PER_CLINIC, CLUBS_PER_CLINIC, CLINICS_PER_STATION = 2.5, 0.1, 11
_CLUBS = ("Бассейн «Дельфин»", "Спортивная школа олимпийского резерва", "Бассейн «Волна»",
          "Детско-юношеская спортивная школа", "Плавательный центр «Чайка»")  # fmt: skip


def counts(clinics: int) -> tuple[int, int, int]:
    """(schools, clubs, ambulance stations) of a city of ``clinics`` clinics."""
    return (
        max(2, round(clinics * SCHOOLS_PER_CLINIC)),
        max(1, round(clinics * CLUBS_PER_CLINIC)),
        max(1, round(clinics / CLINICS_PER_STATION)),
    )


def plan(
    clinics: int, rng: random.Random, pools: citygen.NamePools
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows of ``schools`` (schools, then clubs) and of ``ambulance_stations``, spread
    over the okrugs by population."""
    n_schools, n_clubs, n_stations = counts(clinics)
    weights = [d.population for d in cat.DISTRICTS]

    def places(total: int) -> list[cat.District]:
        per = citygen.apportion(total, weights, minimum=0)
        return [d for d, count in zip(cat.DISTRICTS, per, strict=True) for _ in range(count)]

    schools: list[tuple[Any, ...]] = []
    for kind, total in (("school", n_schools), ("club", n_clubs)):
        for i, district in enumerate(places(total), start=1):
            name = f"ГБОУ Школа № {i}" if kind == "school" else f"{_CLUBS[i % len(_CLUBS)]} № {i}"
            schools.append((
                len(schools) + 1, name, kind, citygen._address(district, rng, pools.streets),
                district.code,
                round(rng.triangular(*district.lat_range, district.lat), 6),
                round(rng.triangular(*district.lon_range, district.lon), 6),
            ))  # fmt: skip
    stations = [
        (i, f"Подстанция скорой помощи № {i}", citygen._address(d, rng, pools.streets), d.code)
        for i, d in enumerate(places(n_stations), start=1)
    ]
    return schools, stations
