"""Who staffs the synthetic city (no database): the demo city that `imias seed` makes by
default and the small cities of the tests have doctors of every specialty, in two
clinics where there are two; a city too small for two of each has one of each."""

from __future__ import annotations

import collections
import inspect
import random

import pytest

from imias.citygen import catalogue as cat
from imias.citygen import city as citygen
from imias.citygen.seed import seed_city

#: The conclusions a driver's medical certificate (003-В/у) needs.
CERTIFICATE_SPECIALTIES = (
    "therapist",
    "ophthalmologist",
    "psychiatrist",
    "narcologist",
    "neurologist",
    "otolaryngologist",
)


def _demo_size() -> tuple[int, int, int]:
    """(clinics, doctors, seed) of the demo city: `imias seed`'s defaults."""
    parameters = inspect.signature(seed_city).parameters
    clinics, doctors, seed = (parameters[p].default for p in ("clinics", "doctors", "seed"))
    return clinics, doctors, seed


def _staffing(clinics: int, doctors: int, seed: int) -> tuple[list, dict[str, list[int]]]:
    """The city's clinics and, by specialty code, the clinic of each of its doctors."""
    pools = citygen.name_pools()
    rng = random.Random(f"imias-city-{seed}")  # as seed_city draws them
    clinic_plan = citygen.plan_clinics(clinics, rng, pools)
    where: dict[str, list[int]] = collections.defaultdict(list)
    for doctor in citygen.plan_doctors(clinic_plan, doctors, rng, pools):
        where[doctor.specialty.code].append(doctor.clinic_id)
    return clinic_plan, where


def test_the_demo_city_has_every_certificate_specialty_in_two_clinics():
    clinics, doctors, seed = _demo_size()
    _, where = _staffing(clinics, doctors, seed)
    for code in CERTIFICATE_SPECIALTIES:
        assert len(set(where[code])) >= 2, (code, where[code])


# The demo city and the tests' cities (tests/citydb.py, test_seed.py), over a few seeds.
@pytest.mark.parametrize("clinics, doctors", [_demo_size()[:2], (16, 260), (12, 200), (12, 90)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_specialty_has_two_doctors_in_two_clinics(clinics, doctors, seed):
    plan, where = _staffing(clinics, doctors, seed)
    for specialty in cat.SPECIALTIES:
        eligible = {c.id for c in plan if c.kind in specialty.kinds}
        assert len(where[specialty.code]) >= 2, specialty.code
        assert len(set(where[specialty.code])) >= min(2, len(eligible)), specialty.code
        assert set(where[specialty.code]) <= eligible, specialty.code
    assert sum(map(len, where.values())) == doctors


@pytest.mark.parametrize("clinics, doctors", [(6, 60), (4, 40)])
def test_a_city_too_small_for_two_has_one_of_each(clinics, doctors):
    plan, where = _staffing(clinics, doctors, 1)
    assert all(where[s.code] for s in cat.SPECIALTIES)
    # Every clinic keeps its anchor.
    for clinic in plan:
        anchor = cat.ANCHOR_SPECIALTY[clinic.kind]
        assert clinic.id in where[anchor]
    assert sum(map(len, where.values())) == doctors


def test_too_few_doctors_for_one_of_each_go_by_the_shares():
    plan, where = _staffing(3, 30, 1)
    assert sum(map(len, where.values())) == 30
    assert len(where["therapist"]) > 1 and not where["nephrologist"]


def test_the_same_seed_staffs_the_same_city():
    assert _staffing(16, 260, 4)[1] == _staffing(16, 260, 4)[1]
