"""The synthetic city: the product's demo data, behind ``imias seed`` and the load test.

A city is planned in memory from a seed (:mod:`.city`, from the reference data of
:mod:`.catalogue`), loaded with COPY (:mod:`.seed`, :mod:`.bulkload`) and, on request,
given a past of appointments (:mod:`.history`). Nothing here describes a real person.
"""

from imias.citygen.seed import (
    MAX_HISTORY_DAYS,
    CityAlreadySeeded,
    city_is_seeded,
    run_seed,
    seed_city,
)

__all__ = ["MAX_HISTORY_DAYS", "CityAlreadySeeded", "city_is_seeded", "run_seed", "seed_city"]
