"""`imias seed --history-days N` writes the medical history of the past visits: an
encounter for each completed appointment, diagnoses that fit the specialty and the
patient, vitals in plausible ranges that follow the patient, children's immunizations
by the national calendar, a few allergies, and every row's first version; the patient
reads it on the card."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
import bearer
import msgspec
import pytest
from citydb import build_city_database, drop_database
from citydb import worker_id as worker
from signin import app_client

from ehr import Allergy, Condition, Encounter, Immunization, Observation, codes, template_for
from imias.booking.rules import age_on
from imias.citygen import clinical, prescribing
from imias.citygen.seed import moscow_today, seed_city
from imias.domains import migrate_url
from prescriptions import Catalogue, LocalAuthority, Period, Prescriptions

HISTORY = 3
SIZES = {"clinics": 12, "doctors": 200, "patients": 2_000, "history_days": HISTORY}
RECORD_TABLES = ("encounters", "conditions", "observations", "allergies", "immunizations")


@pytest.fixture(scope="module")
async def city(pg_admin_url: str) -> AsyncIterator[str]:
    """A small city whose schedules start today, with three days of history behind it."""
    name = f"imias_test_seed_records_{worker()}"
    url = await build_city_database(pg_admin_url, name, **SIZES)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def conn(city: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(city)
    try:
        yield c
    finally:
        await c.close()


async def test_each_completed_visit_has_its_signed_encounter(conn):
    rows = await conn.fetch(
        """
        SELECT a.id AS appointment_id, a.status AS booked, a.patient_id AS a_patient,
               a.clinic_id AS a_clinic, a.doctor_id AS a_doctor, a.starts_at, a.ends_at,
               a.specialty_id AS a_specialty, e.*, s.code AS specialty
          FROM appointments a
          LEFT JOIN encounters e ON e.patient_id = a.patient_id AND e.appointment_id = a.id
          JOIN specialties s ON s.id = a.specialty_id
        """
    )
    completed = [r for r in rows if r["booked"] == "completed"]
    assert len(completed) > 3_000
    assert all(r["id"] is None for r in rows if r["booked"] != "completed"), "only visits held"
    assert await conn.fetchval("SELECT count(*) FROM encounters") == len(completed)
    for r in completed:
        assert r["id"] is not None, dict(r)
        assert (r["clinic_id"], r["doctor_id"], r["specialty_id"]) == (
            r["a_clinic"],
            r["a_doctor"],
            r["a_specialty"],
        )
        assert (r["kind"], r["status"], r["version"]) == ("outpatient", "finished", 1)
        assert r["started_at"] == r["starts_at"] and r["signed_at"] >= r["ends_at"]
        protocol = msgspec.json.decode(r["protocol"])
        assert protocol["examination"] == template_for(r["specialty"]).examination
        assert protocol["complaints"] and protocol["conclusion"] and protocol["recommendations"]
    # The doctor who signed is the doctor's own staff account.
    assert not await conn.fetchval(
        "SELECT count(*) FROM encounters e JOIN staff_accounts s ON s.id = e.updated_by"
        " WHERE s.doctor_id IS DISTINCT FROM e.doctor_id OR s.role <> 'doctor'"
    )


async def test_diagnoses_are_icd10_codes_that_fit_the_specialty_and_the_patient(conn):
    rows = await conn.fetch(
        """
        SELECT c.*, e.started_at, s.code AS specialty, p.birth_date, p.sex
          FROM conditions c
          JOIN encounters e ON e.patient_id = c.patient_id AND e.id = c.encounter_id
          JOIN specialties s ON s.id = e.specialty_id
          JOIN patients p ON p.id = c.patient_id
        """
    )
    assert len(rows) > await conn.fetchval("SELECT count(*) FROM encounters")
    russian = codes._russian_titles()
    primaries: dict[int, int] = defaultdict(int)
    seen_codes = set()
    for r in rows:
        code, specialty = r["code"], r["specialty"]
        seen_codes.add(code)
        assert codes.diagnosis(code) is not None and code in russian, code
        age = age_on(r["birth_date"], r["started_at"].date())
        allowed = {dx.code: dx for dx in clinical.DIAGNOSES.get(specialty, ())}
        own = {"I10", "E11.9"} if specialty in clinical.VITALS else set()
        checkup = {clinical.CHECKUP_CHILD if age < 18 else clinical.CHECKUP_ADULT}
        assert code in allowed or code in own or code in checkup, (specialty, code)
        dx = allowed.get(code)
        if dx is not None and code not in own:
            assert dx.fits(age, r["sex"]), (specialty, code, age, r["sex"])
            assert (r["course"] == "chronic") == dx.chronic, (code, r["course"])
        if code == "Z00.1":
            assert age < 18, "a child's check-up is a child's"
        restricted = codes.restricted_class(code)
        assert r["restricted"] == restricted
        if restricted:  # by the psychiatrist or the narcologist, who read them
            assert specialty in codes.RESTRICTED_READERS[restricted], (specialty, code)
        assert r["onset"] <= r["started_at"].date() and r["onset"] >= r["birth_date"]
        assert r["author_specialty"] == specialty
        primaries[r["encounter_id"]] += r["rank"] == "primary"
    assert set(primaries.values()) == {1}, "one primary diagnosis a visit"
    assert {"J06.9", "I10", "K02.1"} <= seen_codes, "the common ones are there"
    # Restricted diagnoses are rare.
    assert sum(codes.restricted_class(r["code"]) is not None for r in rows) < len(rows) / 100


async def test_vitals_are_plausible_and_follow_the_patient(conn):
    rows = await conn.fetch(
        """
        SELECT o.*, s.code AS specialty, p.birth_date, e.started_at,
               EXISTS (SELECT 1 FROM conditions c WHERE c.patient_id = o.patient_id
                          AND c.code = 'I10') AS hypertensive,
               EXISTS (SELECT 1 FROM conditions c WHERE c.patient_id = o.patient_id
                          AND c.code = 'E11.9') AS diabetic
          FROM observations o
          JOIN encounters e ON e.patient_id = o.patient_id AND e.id = o.encounter_id
          JOIN specialties s ON s.id = e.specialty_id
          JOIN patients p ON p.id = o.patient_id
        """
    )
    assert rows
    by_code: dict[str, list[asyncpg.Record]] = defaultdict(list)
    weights: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        m = codes.measure(r["code"])
        assert m is not None and r["unit"] == m.unit and r["category"] == m.category
        assert m.plausible_min <= r["value"] <= m.plausible_max
        assert r["interpretation"] == codes.interpretation(r["value"], r["low"], r["high"])
        assert r["specialty"] in clinical.VITALS
        assert age_on(r["birth_date"], r["started_at"].date()) >= 18
        assert r["effective_at"] >= r["started_at"]
        by_code[r["code"]].append(r)
        if r["code"] == "29463-7":
            weights[r["patient_id"]].append(float(r["value"]))
    assert {"8480-6", "8462-4", "8867-4", "29463-7", "15074-8"} <= set(by_code)
    for r in by_code["8480-6"]:
        assert 85 <= r["value"] <= 220
    for r in by_code["8462-4"]:
        assert 50 <= r["value"] <= 130

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    systolic = by_code["8480-6"]
    high = [float(r["value"]) for r in systolic if r["hypertensive"]]
    normal = [float(r["value"]) for r in systolic if not r["hypertensive"]]
    assert mean(high) > mean(normal) + 10, "hypertension shows in the pressure"
    young = [float(r["value"]) for r in systolic if not r["hypertensive"]
             and age_on(r["birth_date"], r["started_at"].date()) < 35]  # fmt: skip
    old = [float(r["value"]) for r in systolic if not r["hypertensive"]
           and age_on(r["birth_date"], r["started_at"].date()) >= 65]  # fmt: skip
    assert mean(old) > mean(young) + 10, "pressure rises with age"
    glucose = by_code["15074-8"]
    assert (
        mean([float(r["value"]) for r in glucose if r["diabetic"]])
        > mean([float(r["value"]) for r in glucose if not r["diabetic"]]) + 1.5
    )
    again = [w for w in weights.values() if len(w) > 1]
    assert again, "some patients were weighed twice"
    assert all(max(w) - min(w) < 6 for w in again), "a patient's weight is the patient's"


async def test_childrens_immunizations_follow_the_national_calendar(conn):
    rows = await conn.fetch(
        "SELECT i.*, p.birth_date FROM immunizations i JOIN patients p ON p.id = i.patient_id"
        " ORDER BY i.patient_id, i.vaccine, i.dose_number"
    )
    assert rows
    today = moscow_today() + timedelta(days=1)  # the city's day (a test may run across midnight)
    calendar = {(v, d): (due, delay) for v, d, due, delay in clinical.CALENDAR}
    doses: dict[tuple[int, str], list[int]] = defaultdict(list)
    children = set()
    for r in rows:
        born, on = r["birth_date"], r["occurred_on"]
        assert born <= on < today
        assert r["vaccine"] in codes.vaccines() and r["status"] == "completed"
        if r["vaccine"] == "flu":
            assert age_on(born, on) >= 18 and r["dose_number"] == 1
            continue
        children.add(r["patient_id"])
        due, delay = calendar[(r["vaccine"], r["dose_number"])]
        assert born + timedelta(days=due) <= on <= born + timedelta(days=due + delay), dict(r)
        doses[(r["patient_id"], r["vaccine"])].append(r["dose_number"])
    for (_, vaccine), numbers in doses.items():
        assert numbers == list(range(1, len(numbers) + 1)), (vaccine, numbers)
    assert len(children) > 50
    # Nearly every child seen has the newborn's doses.
    newborn = {pid for (pid, vaccine) in doses if vaccine == "hepb"}
    assert len(newborn) > 0.9 * len(children)


async def test_a_few_patients_have_allergies_from_the_catalogue(conn):
    rows = await conn.fetch("SELECT * FROM allergies")
    seen = await conn.fetchval("SELECT count(DISTINCT patient_id) FROM encounters")
    assert 0 < len(rows) < 0.1 * seen
    for r in rows:
        substance = codes.substances()[r["substance"]]
        assert r["category"] == substance.category
        assert (r["criticality"] == "high") == (r["severity"] == "severe")


async def test_every_seeded_row_has_its_first_version(conn):
    for table, resource, kind in (
        ("encounters", "Encounter", Encounter),
        ("conditions", "Condition", Condition),
        ("observations", "Observation", Observation),
        ("allergies", "AllergyIntolerance", Allergy),
        ("immunizations", "Immunization", Immunization),
    ):
        missing = await conn.fetchval(
            f"SELECT count(*) FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM ehr_versions v"
            " WHERE v.patient_id = t.patient_id AND v.resource = $1 AND v.resource_id = t.id"
            " AND v.version = 1)",
            resource,
        )
        assert missing == 0, table
        body = await conn.fetchrow(
            f"SELECT v.body, t.id, t.patient_id FROM ehr_versions v JOIN {table} t"
            " ON t.patient_id = v.patient_id AND t.id = v.resource_id"
            " WHERE v.resource = $1 ORDER BY v.resource_id DESC LIMIT 1",
            resource,
        )
        state = msgspec.json.decode(body["body"], type=kind)
        assert (state.id, state.patient_id) == (body["id"], body["patient_id"])
    total = sum([await conn.fetchval(f"SELECT count(*) FROM {t}") for t in RECORD_TABLES])
    assert await conn.fetchval("SELECT count(*) FROM ehr_versions") == total
    # The sequences go on after the seeded ids.
    for table in RECORD_TABLES:
        last = await conn.fetchval(f"SELECT max(id) FROM {table}")
        nxt = await conn.fetchval("SELECT nextval(pg_get_serial_sequence($1, 'id'))", table)
        assert nxt == (last or 0) + 1, table


async def test_the_patient_reads_problems_and_trends_on_the_card(city, conn, redis_url):
    patient = await conn.fetchval(
        """
        SELECT c.patient_id FROM conditions c
          JOIN observations o ON o.patient_id = c.patient_id AND o.code = '8480-6'
         WHERE c.code = 'I10'
         GROUP BY c.patient_id ORDER BY count(DISTINCT o.id) DESC, c.patient_id LIMIT 1
        """
    )
    assert patient is not None
    async with app_client(city, redis_url) as client:
        answer = await client.get(
            f"/api/v1/patients/{patient}/record", headers=bearer.patient(patient)
        )
        assert answer.status_code == 200, answer.text
        card = answer.json()
        assert "I10" in {p["code"] for p in card["problems"]}
        assert all(p["course"] == "chronic" for p in card["problems"])
        trends = {t["code"]: t for t in card["results"]}
        assert trends["8480-6"]["points"] and trends["8480-6"]["unit"] == "mm[Hg]"
        assert card["visits"] and card["visits"][0]["status"] == "finished"
        assert all(v["diagnoses"] for v in card["visits"])
        searched = await client.get(
            f"/api/v1/patients/{patient}/observations",
            params={"code": "8480-6"},
            headers=bearer.patient(patient),
        )
        assert searched.status_code == 200
        times = [o["effective_at"] for o in searched.json()]
        assert times and times == sorted(times, reverse=True)


async def test_seeded_prescriptions_are_signed_with_the_servers_key_and_verify(conn):
    """Every prescription of the history verifies as the counter checks it: its content
    rebuilt from the row (Prescriptions.content_of) against its doctor's key certified by
    the authority of the test server's secret; the same with another secret does not."""
    rows = await conn.fetch("SELECT * FROM prescriptions ORDER BY id")
    assert len(rows) > 20
    periods: dict[int, list[Period]] = defaultdict(list)
    for p in await conn.fetch(
        "SELECT * FROM prescription_periods ORDER BY prescription_id, period"
    ):
        periods[p["prescription_id"]].append(
            Period(**{k: p[k] for k in ("period", "starts", "ends", "quantity", "dispensed")})
        )
    born = dict(await conn.fetch("SELECT id, birth_date FROM patients"))
    service = Prescriptions(
        conn, None, None, None, Catalogue.bundled(), city="MOW", today=moscow_today
    )  # type: ignore[arg-type]
    authority = LocalAuthority(conn, bearer.TEST_SECRET)
    for row in rows:
        content = service.content_of(row, born[row["patient_id"]], periods[row["id"]])
        checked = await authority.verify(row["key_id"], content, bytes(row["signature"]))
        assert checked.valid, (row["id"], checked)
        assert (checked.clinic_id, checked.doctor_id) == (row["clinic_id"], row["doctor_id"])
    other = LocalAuthority(conn, "another-deployment-secret-0123456789abcdef")
    row = rows[0]
    content = service.content_of(row, born[row["patient_id"]], periods[row["id"]])
    refused = await other.verify(row["key_id"], content, bytes(row["signature"]))
    assert refused.reason == "key_not_certified"


async def test_seeded_prescriptions_treat_the_visits_chronic_diagnoses(conn):
    catalogue = Catalogue.bundled()
    rows = await conn.fetch(
        """
        SELECT p.*, array_agg(c.code) AS codes, min(pa.birth_date) AS birth_date
          FROM prescriptions p
          JOIN conditions c ON c.patient_id = p.patient_id AND c.encounter_id = p.encounter_id
          JOIN encounters e ON e.patient_id = p.patient_id AND e.id = p.encounter_id
          JOIN patients pa ON pa.id = p.patient_id
         WHERE c.course = 'chronic' AND e.clinic_id = p.clinic_id AND e.doctor_id = p.doctor_id
           AND p.issued_on = (e.signed_at AT TIME ZONE 'Europe/Moscow')::date
         GROUP BY p.patient_id, p.id
        """
    )
    assert len(rows) == await conn.fetchval("SELECT count(*) FROM prescriptions")
    for row in rows:
        drug, product = catalogue.product(row["product_code"])
        assert drug.atc == row["atc"] and row["dose"] * row["per_day"] * Decimal(
            repr(product.strength)
        ) <= Decimal(repr(drug.max_daily))
        treated = [c for c in row["codes"] if row["atc"] in prescribing.DRUGS_FOR.get(c[:3], ())]
        assert treated, (row["atc"], row["codes"])  # e.g. I10 -> amlodipine, E11 -> metformin
        if row["benefit"] is not None:
            assert catalogue.covered(row["benefit"], row["atc"])
            assert await conn.fetchval(
                "SELECT count(*) FROM patient_benefits WHERE patient_id = $1 AND category = $2"
                " AND valid_from <= $3 AND (valid_to IS NULL OR valid_to >= $3)",
                row["patient_id"], row["benefit"], row["issued_on"],
            ) == 1  # fmt: skip
    schedules = {r["schedule"] for r in rows}
    assert "once" in schedules


async def test_dispensings_never_exceed_a_period_and_happen_before_today(conn):
    periods = await conn.fetch(
        """
        SELECT pp.*, coalesce(sum(d.quantity), 0) AS handed, max(d.dispensed_at) AS last,
               bool_and(ph.subsidised OR p.benefit IS NULL) AS right_pharmacy
          FROM prescription_periods pp
          JOIN prescriptions p ON p.patient_id = pp.patient_id AND p.id = pp.prescription_id
          LEFT JOIN dispensings d ON d.patient_id = pp.patient_id
                                 AND d.prescription_id = pp.prescription_id
                                 AND d.period = pp.period
          LEFT JOIN pharmacies ph ON ph.id = d.pharmacy_id
         GROUP BY pp.patient_id, pp.prescription_id, pp.period, p.benefit
        """
    )
    assert all(0 <= p["dispensed"] == p["handed"] <= p["quantity"] for p in periods)
    full = sum(p["dispensed"] == p["quantity"] for p in periods)
    part = sum(0 < p["dispensed"] < p["quantity"] for p in periods)
    none = sum(p["dispensed"] == 0 for p in periods)
    assert full and part and none, (full, part, none)
    today = moscow_today()
    for p in periods:
        if p["last"] is not None:
            day = p["last"].astimezone(ZoneInfo("Europe/Moscow")).date()
            assert p["starts"] <= day <= min(p["ends"], today - timedelta(days=1))
            assert p["right_pharmacy"], "a subsidised prescription at a subsidised pharmacy"


async def test_disease_benefits_follow_the_record(conn):
    disease = prescribing.disease_categories(Catalogue.bundled())
    rows = await conn.fetch(
        """
        SELECT b.patient_id, b.category, b.valid_from,
               array(SELECT code FROM conditions c WHERE c.patient_id = b.patient_id
                        AND c.onset <= b.valid_from) AS codes
          FROM patient_benefits b WHERE b.category = ANY($1::text[])
        """,
        list(disease),
    )
    assert rows, "diabetics (E11) and asthmatics (J45) of the records get their category"
    for row in rows:
        assert any(c.startswith(disease[row["category"]]) for c in row["codes"]), dict(row)


async def test_the_pharmacist_scans_and_dispenses_a_seeded_prescription(city, conn, redis_url):
    """The test server has bearer.TEST_SECRET, as build_city_database's seed had."""
    row = await conn.fetchrow(
        """
        SELECT p.id, p.patient_id, pp.period, pp.quantity - pp.dispensed AS left
          FROM prescriptions p
          JOIN prescription_periods pp ON pp.patient_id = p.patient_id
                                      AND pp.prescription_id = p.id
         WHERE p.benefit IS NOT NULL AND pp.dispensed < pp.quantity
           AND current_date BETWEEN pp.starts AND pp.ends AND p.valid_until >= current_date + 1
         ORDER BY p.id LIMIT 1
        """
    )
    assert row is not None
    pharmacist = await conn.fetchval(
        "SELECT id FROM staff_accounts WHERE username = 'pharmacist.1'"
    )
    at_counter = bearer.bearer("pharmacist", pharmacist, org=1)
    async with app_client(city, redis_url) as client:
        mine = await client.get(
            f"/api/v1/patients/{row['patient_id']}/prescriptions",
            headers=bearer.patient(row["patient_id"]),
        )
        assert mine.status_code == 200, mine.text
        code = next(p["code"] for p in mine.json() if p["id"] == row["id"])
        seen = await client.post("/api/v1/pharmacy/scans", json={"code": code}, headers=at_counter)
        assert seen.status_code == 200, seen.text
        view = seen.json()
        assert view["signature"]["valid"] is True and view["dispensable"] is True, view
        assert view["left"] == row["left"]
        given = await client.post(
            f"/api/v1/pharmacy/prescriptions/{row['id']}/dispensings",
            json={"quantity": 1, "period": row["period"], "code": code},
            headers=at_counter,
        )
        assert given.status_code == 201, given.text


async def test_the_same_seed_gives_the_same_records(fresh_database_url: str):
    await migrate_url(fresh_database_url)
    tiny = {"clinics": 4, "doctors": 60, "patients": 600, "days": 7, "history_days": 2}
    start = date(2026, 3, 5)
    digest = "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} t"
    conn = await asyncpg.connect(fresh_database_url)
    try:
        found = []
        # The prescriptions' keys and signatures are new each time; the rest is the seed's.
        prescriptions = (
            "(SELECT patient_id, id, encounter_id, doctor_id, atc, product_code, dose, quantity,"
            " schedule, benefit, issued_on, valid_until FROM prescriptions)"
        )
        tables = (
            *RECORD_TABLES, "ehr_versions", prescriptions, "prescription_periods",
            "(SELECT patient_id, id, prescription_id, pharmacy_id, quantity, dispensed_at"
            " FROM dispensings)", "patient_benefits",
        )  # fmt: skip
        for batch_rows in (50_000, 97):
            await seed_city(
                conn, seed=3, start=start, replace=True, batch_rows=batch_rows,
                secret=bearer.TEST_SECRET, **tiny,
            )  # fmt: skip
            found.append([await conn.fetchval(digest.format(t)) for t in tables])
        assert found[0] == found[1] and None not in found[0][:3]
        assert None not in found[0][-4:]
    finally:
        await conn.close()
