"""The history generator on its own (no database): its wire times are the same instants
as its datetimes, batches do not change it, and its size estimate is near the truth."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from imias.citygen import city as citygen
from imias.citygen import history

START = date(2026, 3, 5)
DAYS = 5


def _city(seed: int = 1, patients: int = 3_000):
    pools = citygen.name_pools()
    rng = random.Random(f"imias-city-{seed}")
    clinics = citygen.plan_clinics(12, rng, pools)
    doctors = citygen.plan_doctors(clinics, 150, rng, pools)
    templates, exceptions = citygen.plan_schedules(
        doctors, START, 14, rng, past_days=DAYS, past_rng=random.Random(seed)
    )
    index = history.PatientIndex(START)
    stream = citygen.PatientStream(clinics, START, seed, pools)
    for _ in range(3):
        index.add(stream.batch(patients // 3))
    return clinics, doctors, templates, exceptions, index


def _rows(wire: bool = False, batch_rows: int = 1_000, seed: int = 1):
    clinics, doctors, templates, exceptions, index = _city(seed)
    stream = history.HistoryStream(
        clinics, doctors, templates, exceptions, index, START, DAYS, seed, wire=wire
    )
    appointments, referrals = [], []
    for a, r in stream.batches(batch_rows):
        appointments += a
        referrals += r
    return stream, appointments, referrals


def test_wire_times_are_the_same_instants_as_datetimes():
    _, plain, _ = _rows()
    _, wire, _ = _rows(wire=True)
    assert len(plain) == len(wire) > 1_000
    times = (5, 6, 11, 12, 13, 14)  # starts, ends, created, updated, cancelled, reminded
    for p, w in zip(plain, wire, strict=True):
        for i in times:
            if p[i] is None:
                assert w[i] is None
            else:
                (micros,) = w[i]
                assert history.PG_EPOCH + timedelta(microseconds=micros) == p[i]


def test_batches_do_not_change_the_history_and_the_seed_does():
    stream, whole, referrals = _rows(batch_rows=10**9)
    assert _rows(batch_rows=97)[1:] == (whole, referrals)
    assert (stream.appointments, stream.referrals) == (len(whole), len(referrals))
    assert [r[1] for r in whole] == list(range(1, len(whole) + 1)), "ids in order"
    assert _rows(seed=2)[1] != whole


def test_the_size_estimate_is_near_what_is_made():
    _, doctors, templates, _, _ = _city()
    appointments, referrals = history.plan_size(doctors, templates, START, DAYS)
    _, made, referred = _rows()
    assert 0.8 < len(made) / appointments < 1.2
    assert 0.7 < len(referred) / referrals < 1.3


def test_the_index_takes_patients_in_id_order_only():
    _, _, _, _, index = _city()
    assert len(index) == 3_000 == len(index.children) + len(index.adults)
    pools = citygen.name_pools()
    stream = citygen.PatientStream(_city()[0], START, 9, pools)
    with pytest.raises(ValueError, match="out of order"):
        index.add(stream.batch(5))  # ids from 1 again
