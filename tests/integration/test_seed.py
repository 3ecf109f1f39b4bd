"""`imias seed`: a small city generated into a fresh database, checked as a user
would look at it (counts, places, names, attachment, schedules, determinism)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg
import pytest

from imias.citygen import catalogue as cat
from imias.citygen import city as citygen
from imias.citygen import prescribing
from imias.citygen.seed import (
    DEMO_PASSWORD,
    CityAlreadySeeded,
    SeedReport,
    city_is_seeded,
    seed_city,
)
from imias.domains import migrate_url
from imias.identity.passwords import Passwords
from prescriptions import Catalogue

START = date(2026, 3, 2)  # a Monday
DAYS = 14
SMALL = {"clinics": 12, "doctors": 200, "patients": 2_000, "days": DAYS, "start": START}
CYRILLIC = re.compile(r"^[А-ЯЁ][а-яё]+(-[А-ЯЁ][а-яё]+)?$")
KIND_NAME = {
    "adult": re.compile(r"^Городская поликлиника № \d+$"),
    "children": re.compile(r"^Детская городская поликлиника № \d+$"),
    "dental": re.compile(r"^Стоматологическая поликлиника № \d+$"),
}


@dataclass
class City:
    conn: asyncpg.Connection
    report: SeedReport


@pytest.fixture
async def empty(fresh_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A migrated database of its own, so the worker's shared database stays clean."""
    await migrate_url(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def city(empty: asyncpg.Connection) -> City:
    assert not await city_is_seeded(empty)
    report = await seed_city(empty, seed=1, **SMALL)
    return City(empty, report)


async def city_digest(conn: asyncpg.Connection) -> dict[str, str]:
    """An md5 of every row of every seeded table, in key order."""
    keys = {
        "specialties": "id",
        "clinics": "id",
        "doctors": "clinic_id, id",
        "schedule_templates": "clinic_id, id",
        "schedule_exceptions": "clinic_id, id",
        "patients": "id",
        "pharmacies": "id",
        "patient_benefits": "patient_id, category",
    }
    digest = {
        table: await conn.fetchval(
            f"SELECT md5(string_agg(t::text, '|' ORDER BY {key})) FROM {table} t"
        )
        for table, key in keys.items()
    }
    # Password hashes are salted, and created_at is the clock: the rest is the city's.
    digest["guardian_links"] = await conn.fetchval(
        "SELECT md5(string_agg(concat_ws(',', guardian_id, child_id, relation), '|' "
        "ORDER BY guardian_id, child_id)) FROM guardian_links"
    )
    digest["staff_accounts"] = await conn.fetchval(
        "SELECT md5(string_agg(concat_ws(',', id, username, role, full_name, clinic_id, "
        "doctor_id, organisation_id), '|' ORDER BY id)) FROM staff_accounts"
    )
    return digest


async def test_the_city_has_the_rows_asked_for_and_the_report_says_so(city: City):
    conn, report = city.conn, city.report
    expected = {"specialties": len(cat.SPECIALTIES), "clinics": 12, "doctors": 200}
    expected["patients"] = 2_000
    for table, rows in expected.items():
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == rows, table
        assert report.rows(table) == rows, table
    for table in ("schedule_templates", "schedule_exceptions"):
        assert report.rows(table) == await conn.fetchval(f"SELECT count(*) FROM {table}") > 0
    assert report.total_rows > 2_200 and report.seconds > 0 and report.rows_per_second > 0
    assert report.database_bytes > 1_000_000 and report.database_size.endswith("B")
    assert "patients: 2,000 rows" in report.summary()
    assert await city_is_seeded(conn)


async def test_children_have_guardians_and_staff_have_demo_accounts(city: City):
    conn, report = city.conn, city.report
    children = await conn.fetch(
        """
        SELECT p.id, count(g.guardian_id) AS guardians,
               bool_and(a.birth_date < p.birth_date - interval '18 years') AS older,
               bool_and(a.birth_date <= $1::date - interval '20 years') AS adults
          FROM patients p
          LEFT JOIN guardian_links g ON g.child_id = p.id
          LEFT JOIN patients a ON a.id = g.guardian_id
         WHERE p.birth_date > $1::date - interval '18 years'
         GROUP BY p.id
        """,
        report.start,
    )
    assert len(children) > 100
    linked = [c for c in children if c["guardians"]]
    assert len(linked) > 0.8 * len(children), "most children have a guardian"
    assert {c["guardians"] for c in linked} <= {1, 2}
    assert all(c["adults"] for c in linked), "guardians are adults"
    assert report.rows("guardian_links") == await conn.fetchval(
        "SELECT count(*) FROM guardian_links"
    )
    staff = await conn.fetch("SELECT role, count(*) AS n FROM staff_accounts GROUP BY role")
    by_role = {r["role"]: r["n"] for r in staff}
    assert by_role["registrar"] == 12 and by_role["doctor"] == 200
    assert by_role["clinic_admin"] == 12, "each clinic's administrator, head.<clinic id>"
    assert by_role["administrator"] == 1
    assert {"pharmacist", "police_officer", "ambulance_crew", "school_nurse"} <= set(by_role)
    police = await conn.fetch(
        "SELECT username, clinic_id, doctor_id, organisation_id FROM staff_accounts"
        " WHERE role = 'police_officer' ORDER BY username"
    )
    assert [tuple(r) for r in police] == [("police.1", None, None, 1), ("police.2", None, None, 2)]
    hashes = await conn.fetch("SELECT DISTINCT password_hash FROM staff_accounts")
    assert len(hashes) == 1, "one demo password, hashed once per seed"
    assert await Passwords().check(hashes[0]["password_hash"], DEMO_PASSWORD)
    doctor = await conn.fetchrow(
        "SELECT s.full_name, d.family_name FROM staff_accounts s "
        "JOIN doctors d ON d.clinic_id = s.clinic_id AND d.id = s.doctor_id "
        "WHERE s.username = 'doctor.1'"
    )
    assert doctor["full_name"].startswith(doctor["family_name"])


async def test_clinics_cover_every_district_inside_moscow(city: City):
    rows = await city.conn.fetch("SELECT * FROM clinics ORDER BY id")
    assert {r["district"] for r in rows} == {d.code for d in cat.DISTRICTS}
    assert {r["kind"] for r in rows} == {"adult", "children", "dental"}
    for r in rows:
        district = cat.DISTRICT_BY_CODE[r["district"]]
        assert district.lat_range[0] <= r["lat"] <= district.lat_range[1], r
        assert district.lon_range[0] <= r["lon"] <= district.lon_range[1], r
        assert cat.MOSCOW_LAT[0] <= r["lat"] <= cat.MOSCOW_LAT[1]
        assert cat.MOSCOW_LON[0] <= r["lon"] <= cat.MOSCOW_LON[1]
        assert r["time_zone"] == "Europe/Moscow"
        assert KIND_NAME[r["kind"]].match(r["name"]), r["name"]
        assert r["address"].startswith("г. Москва, ")
    zelenograd = next(r for r in rows if r["district"] == "ЗелАО")
    assert zelenograd["lat"] > 55.95 and zelenograd["lon"] < 37.25


async def test_doctors_work_where_their_specialty_belongs(city: City):
    rows = await city.conn.fetch(
        """
        SELECT d.*, s.code, s.min_age, s.max_age, s.slot_minutes AS specialty_slot, c.kind
          FROM doctors d JOIN specialties s ON s.id = d.specialty_id
          JOIN clinics c ON c.id = d.clinic_id
        """
    )
    paediatricians = [r for r in rows if r["code"] == "paediatrician"]
    assert paediatricians and all(r["kind"] == "children" for r in paediatricians)
    assert all(r["max_age"] == 17 for r in paediatricians)
    assert all(r["kind"] == "dental" for r in rows if r["code"] == "dentist")
    assert all(r["kind"] == "adult" for r in rows if r["min_age"] >= 18)
    assert all(r["slot_minutes"] == r["specialty_slot"] for r in rows)
    # Every clinic has its primary doctor; therapists and paediatricians are the many.
    clinics = await city.conn.fetch("SELECT id, kind FROM clinics")
    for clinic in clinics:
        anchor = cat.ANCHOR_SPECIALTY[clinic["kind"]]
        assert any(r["clinic_id"] == clinic["id"] and r["code"] == anchor for r in rows)
    by_code: dict[str, int] = {}
    for r in rows:
        by_code[r["code"]] = by_code.get(r["code"], 0) + 1
    ranked = sorted(by_code, key=by_code.__getitem__, reverse=True)
    assert ranked[:2] == ["therapist", "paediatrician"]
    assert by_code["therapist"] > 5 * by_code.get("cardiologist", 0)
    # Dense ids, unique rooms within a clinic, Russian names of three parts.
    assert sorted(r["id"] for r in rows) == list(range(1, 201))
    assert len({(r["clinic_id"], r["room"]) for r in rows}) == len(rows)
    for r in rows:
        for part in (r["family_name"], r["given_name"], r["patronymic"]):
            assert CYRILLIC.match(part), part


async def test_patients_have_unique_policies_and_attach_by_age(city: City):
    rows = await city.conn.fetch(
        """
        SELECT p.*, c.kind, extract(year FROM age($1::date, p.birth_date))::int AS age
          FROM patients p LEFT JOIN clinics c ON c.id = p.attached_clinic_id
        """,
        START,
    )
    policies = [r["policy_number"] for r in rows]
    assert len(set(policies)) == len(rows) == 2_000
    assert all(re.fullmatch(r"\d{16}", p) for p in policies)
    children = [r for r in rows if r["age"] < 18]
    assert 0.13 < len(children) / len(rows) < 0.23  # about 18%
    assert all(r["kind"] == "children" for r in children)
    assert all(r["kind"] == "adult" for r in rows if r["age"] >= 18)
    assert max(r["age"] for r in rows) < 100 and min(r["age"] for r in rows) >= 0
    assert {r["sex"] for r in rows} == {"F", "M"}
    assert all(re.fullmatch(r"\+79\d{9}", r["phone"]) for r in rows)
    for r in rows:
        for part in (r["family_name"], r["given_name"], r["patronymic"]):
            assert CYRILLIC.match(part), part
        # A patronymic agrees with the patient's sex.
        assert r["patronymic"].endswith("на" if r["sex"] == "F" else "ич"), r
    # Patients spread over the city, not all in one clinic.
    assert len({r["attached_clinic_id"] for r in rows}) >= 8


async def test_schedules_are_valid_working_weeks(city: City):
    conn = city.conn
    templates = await conn.fetch("SELECT * FROM schedule_templates")
    assert all(t["ends"] > t["starts"] for t in templates)
    assert all(1 <= t["weekday"] <= 6 for t in templates)  # nobody works on Sunday
    assert all(t["channels"] in (31, 20) for t in templates)
    assert sum(t["channels"] == 31 for t in templates) > 0.7 * len(templates)
    assert any(t["urgent"] for t in templates)
    assert all(t["valid_from"] == START for t in templates)
    hours = {(t["starts"].hour, t["ends"].hour) for t in templates}
    assert all(8 <= start and end <= 20 for start, end in hours)
    working = {(t["doctor_id"], t["weekday"]) for t in templates}
    assert {d for d, _ in working} == set(range(1, 201))  # every doctor has a week
    exceptions = await conn.fetch("SELECT * FROM schedule_exceptions")
    assert {e["kind"] for e in exceptions} <= {"leave", "sick", "extra"}
    assert {"leave", "sick"} <= {e["kind"] for e in exceptions}
    for e in exceptions:
        assert START <= e["day"] < START + timedelta(days=DAYS)
        works = (e["doctor_id"], e["day"].isoweekday()) in working
        assert works == (e["kind"] != "extra"), e  # time off on work days, extra on free


async def test_pharmacies_cover_the_districts_both_kinds_and_the_demo_pharmacists(city: City):
    conn, report = city.conn, city.report
    rows = await conn.fetch("SELECT * FROM pharmacies ORDER BY id")
    subsidised, commercial = prescribing.pharmacy_counts(12)
    assert report.rows("pharmacies") == len(rows) == subsidised + commercial
    assert sum(r["subsidised"] for r in rows) == subsidised >= 1 and commercial >= 1
    assert rows[0]["subsidised"] and not rows[1]["subsidised"]
    assert {r["district"] for r in rows} == {d.code for d in cat.DISTRICTS}
    assert all(55.1 < r["lat"] < 56.1 and 36.8 < r["lon"] < 38.0 for r in rows)
    assert all(r["name"].startswith(("Городская аптека № ", "Аптека «")) for r in rows)
    pharmacists = await conn.fetch(
        "SELECT username, organisation_id FROM staff_accounts WHERE role = 'pharmacist' "
        "ORDER BY username"
    )
    assert [(r["username"], r["organisation_id"]) for r in pharmacists] == [
        ("pharmacist.1", 1),  # a subsidised pharmacy
        ("pharmacist.2", 2),  # a commercial one
    ]


def test_pharmacies_scale_with_the_clinics_like_the_full_city():
    assert prescribing.pharmacy_counts(678) == (351, 1_223)
    assert prescribing.pharmacy_counts(1) == (1, 1)
    subsidised, commercial = prescribing.pharmacy_counts(60)
    assert (subsidised, commercial) == (31, 108)


async def test_some_patients_have_benefit_categories_of_the_catalogue_more_when_older(
    city: City,
):
    conn = city.conn
    catalogue = Catalogue.bundled()
    general = set(catalogue.benefits) - set(prescribing.disease_categories(catalogue))
    rows = await conn.fetch(
        """
        SELECT b.category, b.valid_from, b.valid_to, p.birth_date FROM patient_benefits b
          JOIN patients p ON p.id = b.patient_id
        """
    )
    assert city.report.rows("patient_benefits") == len(rows)
    assert {r["category"] for r in rows} <= general, "without records: no disease's"
    assert all(r["valid_from"] >= r["birth_date"] for r in rows)
    assert all(r["valid_to"] is None or r["valid_to"] >= r["valid_from"] for r in rows)
    shares = await conn.fetchrow(
        """
        SELECT avg((b.patient_id IS NOT NULL)::int)
                   FILTER (WHERE p.birth_date > $1::date - interval '60 years'
                             AND p.birth_date <= $1::date - interval '18 years') AS adults,
               avg((b.patient_id IS NOT NULL)::int)
                   FILTER (WHERE p.birth_date <= $1::date - interval '60 years') AS elderly
          FROM patients p LEFT JOIN patient_benefits b ON b.patient_id = p.id
        """,
        START,
    )
    assert 0.02 < shares["adults"] < 0.15 and shares["elderly"] > 2 * shares["adults"], shares


async def test_the_same_seed_gives_the_same_city_and_another_seed_another(city: City):
    conn = city.conn
    first = await city_digest(conn)
    await seed_city(conn, seed=1, replace=True, **SMALL)
    assert await city_digest(conn) == first
    await seed_city(conn, seed=2, replace=True, **SMALL)
    other = await city_digest(conn)
    assert other["specialties"] == first["specialties"]  # the catalogue is the catalogue
    for table in ("clinics", "doctors", "schedule_templates", "patients"):
        assert other[table] != first[table], table


async def test_seeding_a_seeded_database_is_refused_unless_replace(city: City):
    conn = city.conn
    before = await city_digest(conn)
    with pytest.raises(CityAlreadySeeded, match=r"already holds a city.*--replace"):
        await seed_city(conn, seed=3, **SMALL)
    assert await city_digest(conn) == before
    report = await seed_city(conn, seed=3, replace=True, **{**SMALL, "clinics": 15})
    assert await conn.fetchval("SELECT count(*) FROM clinics") == 15 == report.rows("clinics")
    assert await conn.fetchval("SELECT count(*) FROM patients") == 2_000


async def test_replace_also_clears_appointments_of_the_old_city(city: City):
    conn = city.conn
    await conn.execute(
        """
        INSERT INTO appointments
            (clinic_id, doctor_id, patient_id, specialty_id, starts_at, ends_at, channel)
        SELECT d.clinic_id, d.id, 1, d.specialty_id,
               '2026-03-02 06:00+00', '2026-03-02 06:15+00', 'web'
          FROM doctors d WHERE d.id = 1
        """
    )
    with pytest.raises(CityAlreadySeeded):
        await seed_city(conn, seed=1, **SMALL)
    await seed_city(conn, seed=1, replace=True, **SMALL)
    assert await conn.fetchval("SELECT count(*) FROM appointments") == 0
    assert await conn.fetchval("SELECT count(*) FROM appointment_units") == 0


async def test_a_seed_that_fails_halfway_leaves_no_half_city(
    empty: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
):
    real = citygen.PatientStream.batch
    calls = []

    def failing(self: citygen.PatientStream, count: int) -> list[tuple[object, ...]]:
        calls.append(count)
        if len(calls) == 3:
            raise RuntimeError("generator crashed")
        return real(self, count)

    monkeypatch.setattr(citygen.PatientStream, "batch", failing)
    with pytest.raises(RuntimeError, match="generator crashed"):
        await seed_city(empty, seed=1, batch_rows=500, **SMALL)
    for table in ("specialties", "clinics", "doctors", "schedule_templates", "patients"):
        assert await empty.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    assert not await city_is_seeded(empty)
    monkeypatch.setattr(citygen.PatientStream, "batch", real)
    await seed_city(empty, seed=1, **SMALL)  # and a new attempt works
    assert await empty.fetchval("SELECT count(*) FROM patients") == 2_000


async def test_batches_do_not_change_the_city(empty: asyncpg.Connection):
    await seed_city(empty, seed=5, **SMALL)
    whole = await city_digest(empty)
    await seed_city(empty, seed=5, replace=True, batch_rows=333, **SMALL)
    assert await city_digest(empty) == whole


async def test_a_city_too_small_to_staff_is_refused_before_touching_the_database():
    with pytest.raises(ValueError, match="every clinic needs a doctor"):
        await seed_city(None, clinics=10, doctors=5)  # type: ignore[arg-type]


def test_the_catalogue_is_consistent():
    assert [s.id for s in cat.SPECIALTIES] == list(range(1, len(cat.SPECIALTIES) + 1))
    assert len({s.code for s in cat.SPECIALTIES}) == len(cat.SPECIALTIES) >= 28
    assert sum(s.permille for s in cat.SPECIALTIES) == 1000
    assert sum(b[2] for b in cat.AGE_BANDS) == 1000
    assert sum(cat.CLINIC_KIND_PERMILLE.values()) == 1000
    assert len(cat.DISTRICTS) == 12 and len({d.code for d in cat.DISTRICTS}) == 12
    by = cat.SPECIALTY_BY_CODE
    assert by["therapist"].self_referral and by["therapist"].attached_only
    assert not by["cardiologist"].self_referral and not by["neurologist"].self_referral
    assert by["gynaecologist"].sex == "F" and by["urologist"].sex is None
    assert (by["paediatrician"].min_age, by["paediatrician"].max_age) == (0, 17)


def test_apportion_is_exact_and_gives_each_part_its_minimum():
    assert citygen.apportion(678, [d.population for d in cat.DISTRICTS], minimum=1)[9] >= 1
    parts = citygen.apportion(12, [d.population for d in cat.DISTRICTS], minimum=1)
    assert parts == [1] * 12
    assert sum(citygen.apportion(21_500, [s.permille for s in cat.SPECIALTIES])) == 21_500
    assert citygen.apportion(10, [1, 1, 2]) == [3, 2, 5]
