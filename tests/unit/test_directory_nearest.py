"""The nearest clinics offering a specialty: the grid search ranks like measuring them all."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from imias.registry import EARTH_RADIUS_KM, Clinic, Directory, Doctor, distance_km

# Moscow and its New Moscow reaches, plus points far away (another city, the pole).
near_lat = st.floats(55.1, 56.1)
near_lon = st.floats(36.8, 38.3)
any_lat = st.floats(-89.0, 89.0)
any_lon = st.floats(-179.0, 179.0)


def directory(points: list[tuple[float, float, int]]) -> Directory:
    d = Directory()
    for i, (lat, lon, specialty) in enumerate(points, start=1):
        d.clinics[i] = Clinic(i, f"clinic {i}", "street", "district", lat, lon, "UTC", "adult")
        doctor = Doctor(i, i, specialty, "Family", "Given", None, None, 15)
        d.doctors[i] = doctor
        d.doctors_of_clinic[i] = [doctor]
    return d


def brute_force(d: Directory, lat: float, lon: float, specialty: int, limit: int) -> list[int]:
    ranked = sorted(
        (distance_km(lat, lon, c.lat, c.lon), c.id)
        for c in d.clinics.values()
        if any(doc.specialty_id == specialty for doc in d.doctors_of_clinic[c.id])
    )
    return [clinic_id for _, clinic_id in ranked[:limit]]


@settings(max_examples=300, deadline=None)
@given(
    clinics=st.lists(st.tuples(near_lat, near_lon, st.integers(1, 3)), min_size=1, max_size=80),
    point=st.one_of(st.tuples(near_lat, near_lon), st.tuples(any_lat, any_lon)),
    specialty=st.integers(1, 3),
    limit=st.integers(0, 12),
)
def test_nearest_offering_ranks_like_the_great_circle(clinics, point, specialty, limit):
    d = directory(clinics)
    got = d.nearest_offering(point[0], point[1], specialty, limit)
    assert [c.id for _, c in got] == brute_force(d, *point, specialty, limit)
    for distance, clinic in got:
        assert distance == distance_km(point[0], point[1], clinic.lat, clinic.lon)
        assert any(doc.specialty_id == specialty for doc in d.doctors_of_clinic[clinic.id])


def destination(lat: float, lon: float, bearing: float, km: float) -> tuple[float, float]:
    """The point ``km`` from (lat, lon) along ``bearing`` (radians) on the sphere."""
    p1, l1, d = math.radians(lat), math.radians(lon), km / EARTH_RADIUS_KM
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), math.degrees(l2)


@settings(max_examples=300, deadline=None)
@given(
    km=st.floats(0.5, 45.0),
    around=st.lists(
        st.tuples(st.floats(0, 2 * math.pi), st.floats(0.0, 0.003)), min_size=2, max_size=40
    ),
    limit=st.integers(1, 10),
)
def test_near_ties_are_ranked_by_the_great_circle(km, around, limit):
    """Clinics at almost the same distance in different directions: where the flat-earth
    ranking and the great circle disagree, the great circle wins."""
    lat, lon = 55.75, 37.62
    d = directory([(*destination(lat, lon, b, km * (1 + spread)), 1) for b, spread in around])
    got = d.nearest_offering(lat, lon, 1, limit)
    assert [c.id for _, c in got] == brute_force(d, lat, lon, 1, limit)
