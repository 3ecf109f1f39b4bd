"""A driver examined and certified through the JSON API, and a police officer's account,
for the officer's page's tests (imported as ``drivers``). ``client`` is an httpx-like
client: the in-process test client or one of a served app (the server's secret must be
``bearer.TEST_SECRET``: the doctors' tokens are minted here)."""

from __future__ import annotations

from typing import Any

import asyncpg
import bearer
from signin import fetch

from imias.citygen.seed import DEMO_PASSWORD
from imias.identity.accounts import Accounts
from imias.identity.passwords import Passwords

#: The examinations of category B; the ophthalmologist's: glasses or contact lenses.
EXAMINATIONS = (
    ("therapist", "fit", []),
    ("ophthalmologist", "restricted", ["01.06"]),
    ("psychiatrist", "fit", []),
    ("narcologist", "fit", []),
)


async def _doctors(city: str) -> dict[str, list[Any]]:
    rows = await fetch(
        city,
        "SELECT s.code, d.id, d.clinic_id FROM doctors d JOIN specialties s"
        " ON s.id = d.specialty_id WHERE s.code = ANY($1::text[]) ORDER BY d.clinic_id, d.id",
        [e for e, _, _ in EXAMINATIONS],
    )
    found: dict[str, list[Any]] = {}
    for r in rows:
        found.setdefault(r["code"], []).append(r)
    return found


async def examined(client: Any, city: str, person: dict[str, Any]) -> dict[str, str]:
    """The four examinations of category B, each in a home visit of a doctor of the
    clinic the driver is attached to (there, each reads the record); the therapist's
    headers (the chair). A specialist the clinic lacks breaks the glass from her own."""
    doctors = await _doctors(city)
    clinics = {r["clinic_id"] for r in doctors["therapist"]}
    for code in ("ophthalmologist", "psychiatrist", "narcologist"):
        have = clinics & {r["clinic_id"] for r in doctors.get(code, [])}
        clinics = have or clinics  # the narcologist may be in another clinic, or none
    clinic = min(clinics)
    await fetch(
        city, "UPDATE patients SET attached_clinic_id = $2 WHERE id = $1", person["id"], clinic
    )
    chair: dict[str, str] = {}
    first_visit = 0
    for specialty, verdict, restrictions in EXAMINATIONS:
        if specialty not in doctors:
            # A city too small to have a narcologist: her conclusion, written with SQL in
            # the therapist's visit, is what the chair's rules read.
            await fetch(
                city,
                "INSERT INTO exam_conclusions (patient_id, encounter_id, clinic_id, doctor_id,"
                " author_id, examiner, verdict, restrictions, recorded_at)"
                " SELECT patient_id, id, clinic_id, doctor_id, 0, $2, $3, $4, now()"
                "   FROM encounters WHERE id = $1",
                first_visit,
                specialty,
                verdict,
                restrictions,
            )
            continue
        mine = [r for r in doctors[specialty] if r["clinic_id"] == clinic]
        doctor = (mine or doctors[specialty])[0]
        headers = bearer.doctor(doctor["id"], doctor["clinic_id"])
        if not mine:
            glass = await client.post(
                "/api/v1/break-glass",
                json={"patient_id": person["id"], "reason": "the driver's examination"},
                headers=headers,
            )
            assert glass.status_code == 201, glass.text
        visit = await client.post(
            "/api/v1/encounters", json={"patient_id": person["id"], "kind": "home"}, headers=headers
        )
        assert visit.status_code == 201, visit.text
        concluded = await client.post(
            f"/api/v1/encounters/{visit.json()['id']}/conclusions",
            json={"verdict": verdict, "restrictions": restrictions},
            headers=headers,
        )
        assert concluded.status_code == 201, concluded.text
        if specialty == "therapist":
            chair, first_visit = headers, visit.json()["id"]
    return chair


async def issued(client: Any, chair: dict[str, str], person: dict[str, Any]) -> dict[str, Any]:
    """The chair issues the driver's certificate of category B."""
    answer = await client.post(
        "/api/v1/certificates",
        json={"patient_id": person["id"], "categories": ["B"]},
        headers=chair,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def officer_account(city: str, username: str, password: str = DEMO_PASSWORD) -> int:
    """A police officer's staff account (of police unit 1), as `imias staff add` makes one."""
    pool = await asyncpg.create_pool(city, min_size=1, max_size=1)
    try:
        accounts = Accounts(pool, None, Passwords())  # type: ignore[arg-type]
        return await accounts.create_staff(
            username, password, "police_officer", organisation_id=1, full_name="Петров П. П."
        )
    finally:
        await pool.close()
