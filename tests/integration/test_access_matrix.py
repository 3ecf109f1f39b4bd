"""Each role against each route, with its own, someone else's (foreign) and a missing
resource: the status, and that nothing of the foreign patient is in the answer.

The world: clinic A and clinic B; patient P (a guardian of child C) booked at A with
doctor dA; patient Q, a stranger to P, booked at B with doctor dB, with a hold and a
waiting entry there. The callers: P (a patient), A's registrar, dA (a doctor of A),
the roles with no booking routes, an administrator, and nobody signed in. A change that
succeeds works on a resource made for that case (a fresh patient, a fresh slot at A).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import adults, app_client, fetch, guardian_and_child, key

from ehr import codes
from imias.booking import BookingService, Engine
from imias.platform.db import create_pool

MISSING = 999_999_999
RX = {"product": "C08CA01-TAB-5", "dose": 1, "per_day": 1, "days": 10}
ROLES = (
    "patient",
    "registrar",
    "doctor",
    "pharmacist",
    "police_officer",
    "ambulance_crew",
    "school_nurse",
    "clinic_admin",
    "administrator",
    "anonymous",
)
VARIANTS = ("own", "foreign", "missing")


@dataclass
class World:
    clinic_a: int
    clinic_b: int
    doctor_a: int
    doctor_b: int
    day_a: str
    p: Any
    c: Any
    q: Any
    appointment_p: int
    appointment_q: int
    hold_q: str
    waiting_q: int
    slots_a: list[dict]
    slot_b: dict
    fresh: list[Any]
    police_staff_id: int
    city: str
    colleague_a: int  # a doctor of A besides dA, who never broke the glass
    markers: tuple[str, ...]
    encounter_p: int  # P's signed visit with dA
    encounter_q: int  # Q's signed visit with dB
    rx_p: tuple[int, str]  # P's prescription by dA: (id, its QR code's text)
    rx_q: tuple[int, str]  # Q's by dB
    _next_slot: itertools.count = field(default_factory=itertools.count)
    _next_adult: itertools.count = field(default_factory=itertools.count)

    def slot(self) -> dict:
        return self.slots_a[next(self._next_slot)]

    def adult(self) -> Any:
        return self.fresh[next(self._next_adult)]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_matrix_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=3000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as test_client:
        yield test_client


@pytest.fixture(scope="module")
async def world(client, city) -> World:
    slots = (
        await client.get("/api/v1/slots", params={"specialty": "ophthalmologist", "limit": 50})
    ).json()
    clinic_a = slots[0]["clinic_id"]
    slots_a = [s for s in slots if s["clinic_id"] == clinic_a]
    slot_b = next(s for s in slots if s["clinic_id"] != clinic_a)
    clinic_b = slot_b["clinic_id"]
    more = (
        await client.get(
            "/api/v1/slots",
            params={"specialty": "ophthalmologist", "clinic": clinic_a, "limit": 50},
        )
    ).json()
    slots_a = list({s["starts_at"] + str(s["doctor_id"]): s for s in slots_a + more}.values())
    p, c = await guardian_and_child(city)
    q, *fresh = await adults(city, 60, offset=0)
    fresh = [a for a in fresh if a["id"] not in (p["id"], c["id"])]
    desk_a, desk_b = bearer.registrar(clinic_a), bearer.registrar(clinic_b)

    async def book(patient: int, slot: dict, desk: dict) -> dict:
        body = {
            "patient_id": patient,
            "doctor_id": slot["doctor_id"],
            "starts_at": slot["starts_at"],
        }
        response = await client.post("/api/v1/appointments", json=body, headers=key() | desk)
        assert response.status_code == 201, response.text
        return response.json()

    first = slots_a.pop(0)
    appointment_p = await book(p["id"], first, desk_a)
    appointment_q = await book(q["id"], slot_b, desk_b)
    other_b: list[dict] = []
    for specialty in ("otolaryngologist", "surgeon", "urologist"):  # not ophthalmology again
        other_b = (
            await client.get(
                "/api/v1/slots", params={"specialty": specialty, "clinic": clinic_b, "limit": 1}
            )
        ).json()
        if other_b:
            break
    hold_q = await client.post(
        "/api/v1/holds",
        json={"doctor_id": other_b[0]["doctor_id"], "starts_at": other_b[0]["starts_at"]},
        headers=bearer.patient(q["id"]),
    )
    assert hold_q.status_code == 201, hold_q.text
    today = client.app_state.engine.today().isoformat()
    waiting = await client.post(
        "/api/v1/waitlist",
        json={"patient_id": q["id"], "specialty": "cardiologist", "from": today, "to": today},
        headers=desk_b,
    )
    assert waiting.status_code == 201, waiting.text
    police = (await fetch(city, "SELECT id FROM staff_accounts WHERE username = 'police.1'"))[0]
    # The record: P attached to clinic A and Q to clinic B (the registry's fact the
    # record's rule reads), each with a signed visit.
    await fetch(
        city, "UPDATE patients SET attached_clinic_id = $2 WHERE id = $1", p["id"], clinic_a
    )
    await fetch(
        city, "UPDATE patients SET attached_clinic_id = $2 WHERE id = $1", q["id"], clinic_b
    )

    async def signed_visit(appointment: dict, doctor: dict) -> int:
        visit = await client.post(
            "/api/v1/encounters", json={"appointment_id": appointment["id"]}, headers=doctor
        )
        assert visit.status_code == 201, visit.text
        signed = await client.post(
            f"/api/v1/encounters/{visit.json()['id']}/sign",
            json={"protocol": {"conclusion": "ОРВИ"}, "diagnoses": [{"code": "J06.9"}]},
            headers=doctor,
        )
        assert signed.status_code == 200, signed.text
        return int(visit.json()["id"])

    encounter_p = await signed_visit(appointment_p, bearer.doctor(first["doctor_id"], clinic_a))
    encounter_q = await signed_visit(appointment_q, bearer.doctor(slot_b["doctor_id"], clinic_b))
    # Prescriptions: P's by dA and Q's by dB, with the QR codes their patients hold; the
    # pharmacist of pharmacy 1 works at the counter.

    async def prescription(encounter: int, doctor: dict, patient: int) -> tuple[int, str]:
        written = await client.post(
            f"/api/v1/encounters/{encounter}/prescriptions", json=RX, headers=doctor
        )
        assert written.status_code == 201, written.text
        mine = await client.get(
            f"/api/v1/patients/{patient}/prescriptions", headers=bearer.patient(patient)
        )
        return written.json()["id"], mine.json()[0]["code"]

    rx_p = await prescription(encounter_p, bearer.doctor(first["doctor_id"], clinic_a), p["id"])
    rx_q = await prescription(encounter_q, bearer.doctor(slot_b["doctor_id"], clinic_b), q["id"])
    full_name = " ".join(x for x in (q["family_name"], q["given_name"], q["patronymic"]) if x)
    return World(
        clinic_a=clinic_a,
        clinic_b=clinic_b,
        doctor_a=first["doctor_id"],
        doctor_b=slot_b["doctor_id"],
        day_a=first["local_start"][:10],
        p=p,
        c=c,
        q=q,
        appointment_p=appointment_p["id"],
        appointment_q=appointment_q["id"],
        hold_q=hold_q.json()["token"],
        waiting_q=waiting.json()["id"],
        slots_a=slots_a,
        slot_b=slot_b,
        fresh=fresh,
        police_staff_id=police["id"],
        city=city,
        colleague_a=(
            await fetch(
                city,
                "SELECT id FROM doctors WHERE clinic_id = $1 AND id <> $2 ORDER BY id LIMIT 1",
                clinic_a,
                first["doctor_id"],
            )
        )[0]["id"],
        markers=(full_name, q["policy_number"], q["phone"]),
        encounter_p=encounter_p,
        encounter_q=encounter_q,
        rx_p=rx_p,
        rx_q=rx_q,
    )


def headers_of(role: str, world: World, subject: int | None = None) -> dict[str, str]:
    if role == "anonymous":
        return {}
    if role == "patient":
        return bearer.patient(subject or world.p["id"])
    if role == "registrar":
        return bearer.registrar(world.clinic_a)
    if role == "doctor":
        return bearer.doctor(world.doctor_a, world.clinic_a)
    if role == "clinic_admin":  # A's administrator
        return bearer.bearer(role, 300_000 + world.clinic_a, org=world.clinic_a)
    return bearer.bearer(role, 7, org=1 if role != "administrator" else None)


# -- what each request is, per route, role and variant ---------------------------------


@dataclass
class Call:
    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    expect_in_body: tuple[str, ...] = ()


async def _own_appointment(client, world: World, patient: int | None = None) -> dict:
    patient = patient or world.adult()["id"]
    slot = world.slot()
    response = await client.post(
        "/api/v1/appointments",
        json={
            "patient_id": patient,
            "doctor_id": slot["doctor_id"],
            "starts_at": slot["starts_at"],
        },
        headers=key() | bearer.registrar(world.clinic_a),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _own_hold(client, world: World, patient: int) -> str:
    slot = world.slot()
    response = await client.post(
        "/api/v1/holds",
        json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
        headers=bearer.patient(patient),
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


async def _own_waiting(client, world: World, patient: int) -> int:
    today = client.app_state.engine.today().isoformat()
    response = await client.post(
        "/api/v1/waitlist",
        json={"specialty": "ophthalmologist", "from": today, "to": today},
        headers=bearer.patient(patient),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def build(route: str, role: str, variant: str, client, w: World) -> Call:
    """The request of one case (creating what an 'own' change works on)."""
    h = headers_of(role, w)
    me = w.p["id"]
    if route == "list_appointments":
        target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
        expect = (f'"id":{w.appointment_p}',) if variant == "own" else ()
        return Call(
            "GET", f"/api/v1/patients/{target}/appointments", headers=h, expect_in_body=expect
        )
    if route == "list_waitlist":
        target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
        return Call("GET", f"/api/v1/patients/{target}/waitlist", headers=h)
    if route in ("cancel", "reschedule", "check_in", "complete", "no_show"):
        if variant == "own":
            if route in ("complete", "no_show"):
                # booked, not arrived and not begun: reached, then refused 409
                target = w.appointment_p
            elif role == "patient":
                fresh = w.adult()["id"]
                target = (await _own_appointment(client, w, fresh))["id"]
                h = headers_of(role, w, fresh)
                if route == "check_in":  # reached, then refused whatever the time: cancelled
                    await client.post(
                        f"/api/v1/appointments/{target}/cancel",
                        json={"patient_id": fresh},
                        headers=bearer.registrar(w.clinic_a),
                    )
            else:
                target = (await _own_appointment(client, w))["id"]
        else:
            target = w.appointment_q if variant == "foreign" else MISSING
        action = route.replace("_", "-")
        body = None
        if route == "reschedule":
            slot = w.slot() if variant == "own" else w.slot_b
            body = {"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]}
            h = h | key()
        return Call("POST", f"/api/v1/appointments/{target}/{action}", body, h)
    if route == "doctor_day":
        target = {"own": w.doctor_a, "foreign": w.doctor_b, "missing": MISSING}[variant]
        return Call("GET", f"/api/v1/doctors/{target}/day?date={w.day_a}", headers=h)
    if route in ("hold", "book"):
        path = "/api/v1/holds" if route == "hold" else "/api/v1/appointments"
        extra = key() if route == "book" else {}
        if role == "registrar":
            slot = w.slot_b if variant == "foreign" else w.slot()
            patient = MISSING if variant == "missing" else w.adult()["id"]
            body = {
                "patient_id": patient,
                "doctor_id": slot["doctor_id"],
                "starts_at": slot["starts_at"],
            }
            return Call("POST", path, body, h | extra)
        slot = w.slot() if variant == "own" else w.slot_b
        body = {"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]}
        if variant == "own":
            fresh = w.adult()["id"]
            h = headers_of(role, w, fresh)
        else:
            body["patient_id"] = w.q["id"] if variant == "foreign" else MISSING
        return Call("POST", path, body, h | extra)
    if route in ("confirm", "release"):
        extra = key() if route == "confirm" else {}
        if variant == "own":
            fresh = w.adult()["id"]
            token = await _own_hold(client, w, fresh)
            if role == "patient":
                h = headers_of(role, w, fresh)
        else:
            token = w.hold_q if variant == "foreign" else str(uuid.uuid4())
        return Call("POST", f"/api/v1/holds/{token}/{route}", None, h | extra)
    if route == "join_waitlist":
        today = client.app_state.engine.today().isoformat()
        body: dict[str, Any] = {"specialty": "ophthalmologist", "from": today, "to": today}
        if role == "registrar":
            body["patient_id"] = MISSING if variant == "missing" else w.adult()["id"]
            if variant == "foreign":
                body["clinic_id"] = w.clinic_b
        elif variant == "own":
            h = headers_of(role, w, w.adult()["id"])
        else:
            body["patient_id"] = w.q["id"] if variant == "foreign" else MISSING
        return Call("POST", "/api/v1/waitlist", body, h)
    if route == "leave_waitlist":
        if variant == "own":
            fresh = w.adult()["id"]
            entry = await _own_waiting(client, w, fresh)
            if role == "patient":
                h = headers_of(role, w, fresh)
            else:  # a registrar's own: an entry for her clinic
                entry = await _registrar_waiting(client, w, fresh)
            return Call("POST", f"/api/v1/waitlist/{entry}/cancel", {"patient_id": fresh}, h)
        if variant == "foreign":
            body = {"patient_id": w.q["id"]} if role == "registrar" else None
            return Call("POST", f"/api/v1/waitlist/{w.waiting_q}/cancel", body, h)
        return Call("POST", f"/api/v1/waitlist/{MISSING}/cancel", {"patient_id": me}, h)
    if route == "referral":
        target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
        return Call(
            "POST", "/api/v1/referrals", {"patient_id": target, "specialty": "neurologist"}, h
        )
    if route == "access_log":
        target = {"own": w.c["id"], "foreign": w.q["id"], "missing": MISSING}[variant]
        return Call("GET", f"/api/v1/me/access-log?patient_id={target}", headers=h)
    if route == "audit_search":
        target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
        return Call("GET", f"/api/v1/audit/records?patient={target}", headers=h)
    if route == "disable_staff":
        target = w.police_staff_id if variant == "own" else MISSING
        if role == "clinic_admin":  # her own: an account of A; foreign: B's registrar
            target = {
                "own": await _fresh_staff(client, w),
                "foreign": await _staff_id(w, f"registrar.{w.clinic_b}"),
                "missing": MISSING,
            }[variant]
        return Call("POST", f"/api/v1/staff/{target}/disable", None, h)
    if route == "break_glass":
        target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
        body = {"patient_id": target, "reason": "covering a colleague's list today"}
        return Call("POST", "/api/v1/break-glass", body, h)
    if route == "me":
        return Call("GET", "/api/v1/me", headers=h)
    if route in ("read_card", "read_encounter", "record_allergy") and role == "doctor":
        # dA broke the glass for Q above (break_glass): the record's reads are tried by a
        # colleague of her clinic, who reads P through P's attachment to the clinic.
        h = bearer.doctor(w.colleague_a, w.clinic_a)
    if route == "read_card":
        # A patient's own: the linked child's card; a doctor's own: P, attached to A.
        own = w.c["id"] if role == "patient" else me
        target = {"own": own, "foreign": w.q["id"], "missing": MISSING}[variant]
        expect = ('"problems":',) if variant == "own" else ()
        return Call("GET", f"/api/v1/patients/{target}/record", headers=h, expect_in_body=expect)
    if route == "read_encounter":
        target = {"own": w.encounter_p, "foreign": w.encounter_q, "missing": MISSING}[variant]
        expect = ('"J06.9"',) if variant == "own" else ()
        return Call("GET", f"/api/v1/encounters/{target}", headers=h, expect_in_body=expect)
    if route == "open_visit":
        if variant == "own":
            target = (await _own_appointment(client, w))["id"]  # booked with A, maybe not dA
            doctor = (
                await fetch(w.city, "SELECT doctor_id FROM appointments WHERE id = $1", target)
            )[0]
            if role == "doctor":
                h = bearer.doctor(doctor["doctor_id"], w.clinic_a)
        else:
            target = w.appointment_q if variant == "foreign" else MISSING
        return Call("POST", "/api/v1/encounters", {"appointment_id": target}, h)
    if route == "sign_visit":
        target = {"own": w.encounter_p, "foreign": w.encounter_q, "missing": MISSING}[variant]
        body = {"protocol": {"conclusion": "x"}}
        return Call("POST", f"/api/v1/encounters/{target}/sign", body, h)
    if route == "record_allergy":
        target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
        return Call("POST", f"/api/v1/patients/{target}/allergies", {"substance": "x-birch"}, h)
    if route in ("patient_prescriptions", "read_prescription", "prescription_qr"):
        if role == "doctor":  # as the record's reads: a colleague of A
            h = bearer.doctor(w.colleague_a, w.clinic_a)
        if route == "patient_prescriptions":
            target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
            expect = (f'"id":{w.rx_p[0]},',) if variant == "own" else ()
            path = f"/api/v1/patients/{target}/prescriptions"
            return Call("GET", path, headers=h, expect_in_body=expect)
        target = {"own": w.rx_p[0], "foreign": w.rx_q[0], "missing": MISSING}[variant]
        suffix = "/qr.svg" if route == "prescription_qr" else ""
        return Call("GET", f"/api/v1/prescriptions/{target}{suffix}", headers=h)
    if route == "prescribe":
        target = {"own": w.encounter_p, "foreign": w.encounter_q, "missing": MISSING}[variant]
        return Call("POST", f"/api/v1/encounters/{target}/prescriptions", RX, h)
    if route == "cancel_prescription":
        if variant == "own":
            made = await client.post(
                f"/api/v1/encounters/{w.encounter_p}/prescriptions", json=RX, headers=h
            )
            assert made.status_code == 201, made.text
            target = made.json()["id"]
        else:
            target = w.rx_q[0] if variant == "foreign" else MISSING
        return Call(
            "POST", f"/api/v1/prescriptions/{target}/cancel", {"reason": "ошибка в дозе"}, h
        )
    if route == "pharmacy_scan":
        # Own: the code P shows; foreign: Q's number with P's signature (a forged code);
        # missing: a number that was never issued.
        number, code = w.rx_p
        signature = code.rsplit(".", 1)[1]
        text = {
            "own": code,
            "foreign": f"RX1.MOW.{w.rx_q[0]}.{signature}",
            "missing": f"RX1.MOW.{MISSING}.{signature}",
        }[variant]
        expect = (f'"id":{number},',) if variant == "own" else ()
        return Call("POST", "/api/v1/pharmacy/scans", {"code": text}, h, expect_in_body=expect)
    if route == "dispense":
        number, code = w.rx_p
        target = {"own": number, "foreign": w.rx_q[0], "missing": MISSING}[variant]
        if variant == "missing":  # a code of a number never issued
            code = f"RX1.MOW.{MISSING}.{code.rsplit('.', 1)[1]}"
        body = {"quantity": 1, "period": 1, "code": code}
        return Call("POST", f"/api/v1/pharmacy/prescriptions/{target}/dispensings", body, h)
    if route in ("patient_certificates", "read_certificate"):
        if role == "doctor":  # as the record's reads: a colleague of A
            h = bearer.doctor(w.colleague_a, w.clinic_a)
        if route == "patient_certificates":
            target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
            return Call("GET", f"/api/v1/patients/{target}/certificates", headers=h)
        # None is issued in this world: whoever may read one is told there is no such one.
        return Call("GET", f"/api/v1/certificates/2026-{w.clinic_a}-NONE0000", headers=h)
    if route == "verify":
        # Own: a QR's text (not a certificate's); foreign: Q's birth date with a number
        # never issued; missing: a number of no clinic. Each is answered with a verdict.
        body: dict[str, Any] = {"place": "МКАД, 41 км, пост ДПС"}
        body |= {
            "own": {"qr": "MC1:NOT-A-CERTIFICATE"},
            "foreign": {
                "number": f"2026-{w.clinic_b}-AAAAAAAA",
                "birth_date": w.q["birth_date"].isoformat(),
            },
            "missing": {"number": f"2026-{MISSING}-ZZZZZZZZ", "birth_date": "2000-01-01"},
        }[variant]
        verdict = "not_genuine" if variant == "own" else "not_found"
        expect = (f'"verdict":"{verdict}"',) if role == "police_officer" else ()
        return Call("POST", "/api/v1/verify", body, h, expect_in_body=expect)
    if route == "register_patient":
        # Own: a newcomer (201); foreign: Q's policy, registered (409); missing: a birth
        # date ahead of the city's day (422).
        policy = {"own": f"78{uuid.uuid4().int % 10**14:014d}", "foreign": w.q["policy_number"],
                  "missing": f"79{uuid.uuid4().int % 10**14:014d}"}[variant]  # fmt: skip
        born = "2199-01-01" if variant == "missing" else "1990-01-01"
        body = {"policy_number": policy, "family_name": "Новикова", "given_name": "Ольга",
                "birth_date": born, "sex": "F"}  # fmt: skip
        return Call("POST", "/api/v1/patients", body, h)
    if route == "change_patient":
        # the same phone again: the world's patients (and Q's markers) stay as they are
        who = {"own": w.p, "foreign": w.q, "missing": w.q}[variant]
        target = MISSING if variant == "missing" else who["id"]
        phone = who["phone"] or "+79990000000"
        return Call("PATCH", f"/api/v1/patients/{target}", {"phone": phone}, h)
    if route == "verify_page":
        return Call("GET", "/verify", headers=h)
    if route in ("school_consents", "give_school_consent", "withdraw_school_consent"):
        # Own: P's child C; foreign: the stranger Q (not P's child); missing: no one.
        target = {"own": w.c["id"], "foreign": w.q["id"], "missing": MISSING}[variant]
        base = f"/api/v1/patients/{target}/school-consents"
        if route == "school_consents":
            return Call("GET", base, headers=h)
        if route == "give_school_consent":
            return Call("POST", base, {"school_id": 1, "certificates": True}, h)
        consent = MISSING
        if variant == "own":
            made = await client.post(
                base, json={"school_id": 2, "absences": True}, headers=bearer.patient(me)
            )
            assert made.status_code == 201, made.text
            consent = made.json()["id"]
        return Call("POST", f"{base}/{consent}/withdraw", headers=h)
    if route == "illness_episodes":
        if role == "doctor":  # as the record's reads: a colleague of A
            h = bearer.doctor(w.colleague_a, w.clinic_a)
        target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
        if role == "patient":
            target = {"own": w.c["id"], "foreign": w.q["id"], "missing": MISSING}[variant]
        return Call("GET", f"/api/v1/patients/{target}/illness-episodes", headers=h)
    if route == "open_illness":
        # Own: dA's visit of P, an adult: reached, then refused (422 not_a_child).
        target = {"own": w.encounter_p, "foreign": w.encounter_q, "missing": MISSING}[variant]
        return Call(
            "POST", f"/api/v1/encounters/{target}/illness-episodes", {"starts_on": w.day_a}, h
        )
    if route == "close_illness":
        # Own: P, whose record A's doctors read, has no such episode (404); foreign: Q
        # (403). A colleague of A, who never broke the glass (dA did, for Q, above).
        if role == "doctor":
            h = bearer.doctor(w.colleague_a, w.clinic_a)
        target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
        return Call(
            "POST",
            f"/api/v1/patients/{target}/illness-episodes/{MISSING}/close",
            {"ends_on": w.day_a},
            h,
        )
    if route == "school_pe_restrictions":
        return Call("GET", "/api/v1/school/pe-restrictions", headers=h)
    if route == "school_page":
        return Call("GET", "/school/pupils", headers=h)
    if route in ("emergency_summary", "emergency_summary_by_policy"):
        # A crew reads any patient's summary with a call's number and a reason: "foreign"
        # is another patient (C), so that Q's markers still tell a leak from a read.
        target = {"own": w.p, "foreign": w.c, "missing": None}[variant]
        why = "call=103-1&reason=%D0%94%D0%A2%D0%9F"
        reads = variant != "missing" and role == "ambulance_crew"
        expect = ('"resourceType":"Composition"',) if reads else ()
        if role != "ambulance_crew":
            target = w.q if variant != "missing" else None
        if route == "emergency_summary":
            whose = target["id"] if target is not None else MISSING
            path = f"/fhir/R4/Patient/{whose}/$summary?{why}"
        else:
            policy = target["policy_number"] if target is not None else "9" * 16
            path = f"/fhir/R4/Patient/$summary?identifier=urn:imias:policy|{policy}&{why}"
        return Call("GET", path, headers=h, expect_in_body=expect)
    if route == "active_visits_page":
        return Call("GET", "/registrar/active-visits", headers=h)
    if route == "admin_partners":
        return Call("GET", "/api/v1/admin/partners", headers=h)
    if route == "admin_page":
        return Call("GET", "/admin/integrations", headers=h)
    if route == "admin_home":
        clinic = {"own": w.clinic_a, "foreign": w.clinic_b, "missing": MISSING}[variant]
        return Call("GET", f"/admin?clinic={clinic}", headers=h)
    if route.startswith("insights"):
        # -- the dashboard's JSON twins (helper "dash") --
        path = INSIGHTS_ROUTES[route]
        clinic = {"own": w.clinic_a, "foreign": w.clinic_b, "missing": MISSING}[variant]
        return Call("GET", f"/api/v1/insights{path}?clinic={clinic}", headers=h)
    if route == "metrics":
        return Call("GET", "/metrics", headers=h)
    if route == "admin_retry":
        target = "no-such-partner" if variant == "missing" else "matrix-school"
        return Call("POST", f"/admin/integrations/{target}/retry", None, h)
    if route == "admin_partner_messages":
        await fetch(
            w.city,
            "INSERT INTO partners (id, kind, name, transport, url) VALUES"
            " ('matrix-school', 'school_journal', 'Школа', 'http', NULL) ON CONFLICT DO NOTHING",
        )
        target = "no-such-partner" if variant == "missing" else "matrix-school"
        return Call("GET", f"/admin/integrations/{target}", headers=h)
    if route in STAFF_AND_WALK_IN_ROUTES:
        return await _staff_and_walk_in_call(route, role, variant, client, w, h)
    # Patients moved when a clinic takes a doctor's time away (relocate).
    if route in RELOCATION_ROUTES:
        return await _relocation_call(route, role, variant, client, w, h)
    if route.startswith("fhir_"):
        return await _fhir_call(route, role, variant, client, w, h)
    # -- the clinic's schedules (issue 22, "clinic") --
    if route.startswith("schedule_") or route.startswith("admin_schedule"):
        return await _schedule_call(route, variant, client, w, h)
    # -- notifications (helper "notify"): a patient's preference ------------------------
    if route in ("notification_preference", "set_notification_preference"):
        # Own: P herself (GET) and her child C (PUT, as the guardian); a registrar any
        # patient (own P, foreign Q); missing: no one.
        own = me if route == "notification_preference" or role != "patient" else w.c["id"]
        target = {"own": own, "foreign": w.q["id"], "missing": MISSING}[variant]
        path = f"/api/v1/patients/{target}/notifications"
        if route == "notification_preference":
            return Call("GET", path, headers=h)
        return Call("PUT", path, {"channel": "sms", "language": "ru"}, h)
    raise AssertionError(route)


# -- the clinic's schedules (issue 22, "clinic"): clinic A's doctor dA is own, clinic B's
# dB foreign; what a change works on is made for the call, beyond the engine's window
# (so that no appointment of the world is displaced) and on days of its own (so that no
# two calls' templates overlap).
_SCHEDULE_N = itertools.count()


async def _schedule_call(route: str, variant: str, client, w: World, h: dict) -> Call:
    from datetime import timedelta

    n = next(_SCHEDULE_N)
    day = client.app_state.engine.today() + timedelta(days=100 + 2 * n)
    clinic = {"own": w.clinic_a, "foreign": w.clinic_b, "missing": w.clinic_a}[variant]
    doctor = {"own": w.doctor_a, "foreign": w.doctor_b, "missing": MISSING}[variant]
    base = f"/api/v1/clinics/{clinic}"
    hours = {"weekday": 7, "starts": "08:00", "ends": "09:00"}
    once = {"valid_from": day.isoformat(), "valid_to": day.isoformat()}

    async def template() -> int:
        if variant == "missing":
            return MISSING
        rows = await fetch(
            w.city,
            "INSERT INTO schedule_templates (clinic_id, doctor_id, weekday, starts, ends,"
            " valid_from, valid_to) VALUES ($1, $2, 7, '08:00', '09:00', $3, $3) RETURNING id",
            clinic, doctor, day,
        )  # fmt: skip
        return int(rows[0]["id"])

    if route == "schedule_doctors":
        where = MISSING if variant == "missing" else clinic
        return Call("GET", f"/api/v1/clinics/{where}/schedule/doctors", headers=h)
    if route == "schedule_doctor":
        return Call("GET", f"{base}/doctors/{doctor}/schedule", headers=h)
    if route == "schedule_add_template":
        return Call("POST", f"{base}/doctors/{doctor}/templates", hours | once, h)
    if route == "schedule_change_template":
        body = hours | once | {"starts": "08:30", "slot_minutes": 30, "from": day.isoformat()}
        return Call("PUT", f"{base}/templates/{await template()}", body, h)
    if route == "schedule_remove_template":
        return Call("DELETE", f"{base}/templates/{await template()}", headers=h)
    if route == "schedule_add_exception":
        body = {"day": (day - timedelta(days=40)).isoformat(), "kind": "training"}
        return Call("POST", f"{base}/doctors/{doctor}/exceptions", body, h)
    if route == "schedule_remove_exception":
        target = MISSING
        if variant != "missing":
            rows = await fetch(
                w.city,
                "INSERT INTO schedule_exceptions (clinic_id, doctor_id, day, kind)"
                " VALUES ($1, $2, $3, 'training') RETURNING id",
                clinic, doctor, day - timedelta(days=40),
            )  # fmt: skip
            target = rows[0]["id"]
        return Call("DELETE", f"{base}/exceptions/{target}", headers=h)
    if route == "schedule_holidays":
        return Call("GET", "/api/v1/holidays", headers=h)
    if route == "schedule_add_holiday":
        return Call("POST", "/api/v1/holidays", {"day": day.isoformat(), "name": "Матрица"}, h)
    if route == "schedule_remove_holiday":
        if variant != "missing":
            await fetch(w.city, "INSERT INTO public_holidays (day, name) VALUES ($1, 'М')", day)
        return Call("DELETE", f"/api/v1/holidays/{day.isoformat()}", headers=h)
    if route == "admin_schedules":
        where = MISSING if variant == "missing" else clinic
        return Call("GET", f"/admin/schedules?clinic={where}", headers=h)
    if route == "admin_schedule_doctor":
        return Call("GET", f"/admin/schedules/{clinic}/doctors/{doctor}", headers=h)
    if route == "admin_schedule_holidays":
        return Call("GET", "/admin/schedules/holidays", headers=h)
    if route == "admin_schedule_day_off":  # a page's form: without its CSRF value, refused
        body = {"doctor_id": doctor, "day": day.isoformat(), "kind": "sick"}
        return Call("POST", f"/admin/schedules/{clinic}/exceptions", body, h)
    if route == "admin_schedule_add_holiday":
        return Call("POST", "/admin/schedules/holidays", {"day": day.isoformat()}, h)
    raise AssertionError(route)


def _parameters(slot: dict | None, patient: int | None, **more: str) -> dict:
    params: list[dict] = [{"name": k, "valueString": v} for k, v in more.items()]
    if patient is not None:
        params.append({"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}})
    if slot is not None:
        practitioner = f"Practitioner/{slot['clinic_id']}-{slot['doctor_id']}"
        params.append({
            "name": "appt-resource",
            "resource": {
                "resourceType": "Appointment", "status": "proposed", "start": slot["starts_at"],
                "participant": [{"actor": {"reference": practitioner}, "status": "needs-action"}],
            },
        })  # fmt: skip
    return {"resourceType": "Parameters", "parameter": params}


async def _fhir_call(route: str, role: str, variant: str, client, w: World, h: dict) -> Call:
    """FHIR scheduling's routes (integrations.scheduling): the JSON API's rules."""
    me = w.p["id"]
    if route in ("fhir_find", "fhir_hold", "fhir_book"):
        op = route.removeprefix("fhir_")
        path = f"/fhir/R4/Appointment/${op}"
        slot = None if op == "find" else (w.slot_b if variant == "foreign" else w.slot())
        more = {"specialty": "ophthalmologist"} if op == "find" else {}
        if role == "registrar":
            patient = MISSING if variant == "missing" else w.adult()["id"]
            if op == "find" and variant == "foreign":
                more["practitioner"] = f"Practitioner/{w.clinic_b}-{w.doctor_b}"
            return Call("POST", path, _parameters(slot, patient, **more), h)
        if variant == "own":
            fresh = w.adult()["id"]
            return Call("POST", path, _parameters(slot, None, **more), headers_of(role, w, fresh))
        patient = w.q["id"] if variant == "foreign" else MISSING
        return Call("POST", path, _parameters(slot, patient, **more), h)
    if route == "fhir_appointments":
        target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
        expect = (f'"id":"{w.appointment_p}"',) if variant == "own" else ()
        return Call(
            "GET",
            f"/fhir/R4/Appointment?patient=Patient/{target}",
            headers=h,
            expect_in_body=expect,
        )
    if route == "fhir_appointment":
        target = {"own": w.appointment_p, "foreign": w.appointment_q, "missing": MISSING}[variant]
        return Call("GET", f"/fhir/R4/Appointment/{target}", headers=h)
    doctor = {
        "own": f"{w.clinic_a}-{w.doctor_a}",
        "foreign": f"{w.clinic_b}-{w.doctor_b}",
        "missing": f"{w.clinic_a}-{MISSING}",
    }[variant]
    if route == "fhir_schedule":
        return Call("GET", f"/fhir/R4/Schedule/{doctor}", headers=h)
    if route == "fhir_schedules":
        return Call("GET", f"/fhir/R4/Schedule?_id={doctor}", headers=h)
    if route == "fhir_slots":
        return Call("GET", f"/fhir/R4/Slot?schedule=Schedule/{doctor}&status=free", headers=h)
    if route == "fhir_slot":
        free = (await client.get(f"/fhir/R4/Slot?schedule=Schedule/{doctor}&_count=1")).json()
        slot = free["entry"][0]["resource"]["id"] if variant != "missing" else f"{doctor}-1"
        return Call("GET", f"/fhir/R4/Slot/{slot}", headers=h)
    raise AssertionError(route)


# -- patients moved when a clinic takes a doctor's time away (relocate) -----------------

RELOCATION_ROUTES = (
    "list_relocations",
    "confirm_relocation",
    "decline_relocation",
    "clinic_relocations",
    "admin_relocations_page",
)
_moved: dict[int, int] = {}  # id(world) -> the foreign relocation (a patient of B's)
_engines: dict[int, Any] = {}  # id(world) -> an engine of the test's loop


async def _relocated(client, w: World, patient: int, slot: dict) -> int:
    """Book ``patient`` on ``slot`` at its clinic's desk, then displace it as the schedule's
    editing does (the appointment locked, in one transaction): the relocation's id.
    An earlier move may have offered (held) one of the world's fresh slots: the next one
    is taken then."""
    for _ in range(10):
        booked = await client.post(
            "/api/v1/appointments",
            json={
                "patient_id": patient,
                "doctor_id": slot["doctor_id"],
                "starts_at": slot["starts_at"],
            },
            headers=key() | bearer.registrar(slot["clinic_id"]),
        )
        if booked.status_code != 409:
            break
        slot = w.slot()
    assert booked.status_code == 201, booked.text
    # The app's pool lives in the test client's loop: the move runs on a connection and an
    # engine of this one; the app's engine learns of it by the event stream.
    if id(w) not in _engines:
        pool = await create_pool(w.city, 1)
        try:
            _engines[id(w)] = Engine()
            await _engines[id(w)].load(pool)
        finally:
            await pool.close()
    booking = BookingService(None, _engines[id(w)], apply_locally=True)
    writes = booking.writes()
    conn = await asyncpg.connect(w.city)
    try:
        async with conn.transaction():
            rows = await conn.fetch(
                "SELECT * FROM appointments WHERE id = $1 FOR UPDATE", booked.json()["id"]
            )
            await booking.relocations.displace(
                conn, rows, now=booking.clock(), writes=writes, reason="schedule", by=None
            )
            relocation = await conn.fetchrow(
                "SELECT id, state, offer_clinic_id FROM relocations WHERE appointment_id = $1",
                booked.json()["id"],
            )
    finally:
        await conn.close()
    writes.applied()
    assert relocation["state"] == "offered", "the matrix needs an offer to answer"
    return int(relocation["id"])


async def _foreign_relocation(client, w: World) -> int:
    """A relocation by clinic B of one of its patients (not P, nor Q: their markers are
    checked), whose offer is at B: a doctor of B with a colleague there free that day."""
    if id(w) not in _moved:
        directory = client.app_state.engine.directory

        async def free(doctor: int, **days: str) -> list[dict]:
            params = {"doctor": doctor, "limit": 3, "channel": "registrar"} | days
            return (await client.get("/api/v1/slots", params=params)).json()

        by_specialty: dict[int, list[int]] = {}
        for d in directory.doctors_of_clinic[w.clinic_b]:
            by_specialty.setdefault(d.specialty_id, []).append(d.id)
        slot = None
        for doctors in by_specialty.values():
            for first, second in itertools.permutations(doctors, 2):
                mine = await free(first)
                if mine:
                    day = mine[0]["local_start"][:10]
                    if await free(second, **{"from": day, "to": day}):
                        slot = mine[0]
                        break
            if slot is not None:
                break
        assert slot is not None, "clinic B has no two doctors of a specialty"
        patient = w.adult()["id"]
        await fetch(
            w.city, "UPDATE patients SET attached_clinic_id = $2 WHERE id = $1", patient, w.clinic_b
        )
        relocation = await _relocated(client, w, patient, slot)
        row = await fetch(
            w.city, "SELECT offer_clinic_id FROM relocations WHERE id = $1", relocation
        )
        assert row[0]["offer_clinic_id"] != w.clinic_a, "the foreign offer is at A"
        _moved[id(w)] = relocation
    return _moved[id(w)]


async def _relocation_call(route: str, role: str, variant: str, client, w: World, h) -> Call:
    if route == "list_relocations":
        target = {"own": w.p["id"], "foreign": w.q["id"], "missing": MISSING}[variant]
        return Call("GET", f"/api/v1/patients/{target}/relocations", headers=h)
    if route in ("confirm_relocation", "decline_relocation"):
        action = route.removesuffix("_relocation")
        if variant == "own":
            fresh = w.adult()["id"]
            target = await _relocated(client, w, fresh, w.slot())
            if role == "patient":
                h = headers_of(role, w, fresh)
        elif variant == "foreign":
            target = await _foreign_relocation(client, w)
        else:
            target = MISSING
        return Call("POST", f"/api/v1/relocations/{target}/{action}", None, h)
    clinic = {"own": w.clinic_a, "foreign": w.clinic_b, "missing": MISSING}[variant]
    if variant == "own":
        await _foreign_relocation(client, w)  # something in B's list; A's has the own ones
    if route == "clinic_relocations":
        return Call("GET", f"/api/v1/clinics/{clinic}/relocations", headers=h)
    return Call("GET", f"/admin/relocations?clinic={clinic}", headers=h)


async def _registrar_waiting(client, world: World, patient: int) -> int:
    today = client.app_state.engine.today().isoformat()
    response = await client.post(
        "/api/v1/waitlist",
        json={"patient_id": patient, "specialty": "cardiologist", "from": today, "to": today},
        headers=bearer.registrar(world.clinic_a),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


# route -> {role: (own, foreign, missing)}; a role not named gets 403 (anonymous: 401).
# Own for a registrar is her clinic's; for a doctor a patient booked with her clinic.
EXPECTED: dict[str, dict[str, tuple[int, int, int]]] = {
    "list_appointments": {
        "patient": (200, 404, 404),
        "registrar": (200, 200, 404),  # a stranger's list holds nothing of clinic B
        "doctor": (200, 403, 404),  # 403 break_glass_required
    },
    "list_waitlist": {"patient": (200, 404, 404), "registrar": (200, 200, 404)},
    "cancel": {"patient": (200, 404, 404), "registrar": (200, 404, 404)},
    "reschedule": {"patient": (201, 404, 404), "registrar": (201, 404, 404)},
    "check_in": {"registrar": (204, 404, 404), "patient": (409, 404, 404)},  # own: cancelled
    "complete": {"doctor": (409, 404, 404)},  # own: reached, but not arrived yet
    "no_show": {"doctor": (409, 404, 404)},  # own: reached, but not begun yet
    "doctor_day": {"doctor": (200, 403, 404), "registrar": (200, 403, 404)},
    "hold": {"patient": (201, 404, 404), "registrar": (201, 403, 404)},
    "book": {"patient": (201, 404, 404), "registrar": (201, 403, 404)},
    # A hold token of another patient answers as an unknown one: 410 hold_expired.
    "confirm": {"patient": (201, 410, 410), "registrar": (201, 404, 404)},
    "release": {"patient": (204, 404, 404), "registrar": (204, 404, 404)},
    "join_waitlist": {"patient": (201, 404, 404), "registrar": (201, 403, 404)},
    "leave_waitlist": {"patient": (204, 404, 404), "registrar": (204, 404, 404)},
    "referral": {"doctor": (201, 403, 404)},
    # FHIR scheduling (IHE ITI), before break_glass (a doctor's foreign read is refused
    # until she breaks the glass for Q below): the booking routes' rules; answers 200
    # (operations), a refusal an OperationOutcome. A registrar's foreign: another
    # clinic's doctor (403).
    "fhir_find": {"patient": (200, 404, 404), "registrar": (200, 403, 404)},
    "fhir_hold": {"patient": (200, 404, 404), "registrar": (200, 403, 404)},
    "fhir_book": {"patient": (200, 404, 404), "registrar": (200, 403, 404)},
    "fhir_appointments": {
        "patient": (200, 404, 404),
        "registrar": (200, 200, 404),  # a stranger's search holds nothing of clinic B
        "doctor": (200, 403, 404),  # 403 break_glass_required
    },
    "fhir_appointment": {
        "patient": (200, 404, 404),
        "registrar": (200, 404, 404),
        "doctor": (200, 403, 404),
    },
    # Schedules and free slots are public, like /api/v1/slots.
    "fhir_schedule": {role: (200, 200, 404) for role in ROLES},
    "fhir_schedules": {role: (200, 200, 200) for role in ROLES},
    "fhir_slots": {role: (200, 200, 404) for role in ROLES},
    "fhir_slot": {role: (200, 200, 404) for role in ROLES},
    "access_log": {"patient": (200, 404, 404)},  # own: a linked child's log
    "audit_search": {"administrator": (200, 200, 200)},
    # A clinic administrator disables her clinic's accounts only (B's registrar: 404).
    "disable_staff": {"administrator": (200, 404, 404), "clinic_admin": (200, 404, 404)},
    "break_glass": {"doctor": (201, 201, 404)},  # a stranger is what it is for
    "me": {role: (200, 200, 200) for role in ROLES if role != "anonymous"},
    # The medical record: a doctor reads a patient attached to her clinic (P), not a
    # stranger (Q: 403 break_glass_required); a patient their own and a linked child's.
    "read_card": {"patient": (200, 404, 404), "doctor": (200, 403, 404)},
    "read_encounter": {"patient": (200, 404, 404), "doctor": (200, 403, 404)},
    "open_visit": {"doctor": (201, 404, 404)},  # another clinic's appointment: 404
    "sign_visit": {"doctor": (409, 404, 404)},  # own: signed already
    "record_allergy": {"doctor": (201, 403, 404)},
    # Prescriptions: the record's rule for reading; the doctor writes in her own visits
    # (another clinic's visit: 404) and cancels what she wrote; the pharmacist works by
    # what the holder shows (a forged code: 422 code_mismatch) and reads nothing else.
    "patient_prescriptions": {"patient": (200, 404, 404), "doctor": (200, 403, 404)},
    "read_prescription": {"patient": (200, 404, 404), "doctor": (200, 403, 404)},
    "prescription_qr": {"patient": (200, 404, 404)},
    "prescribe": {"doctor": (201, 404, 404)},
    "cancel_prescription": {"doctor": (200, 404, 404)},
    "pharmacy_scan": {"pharmacist": (200, 422, 404)},
    "dispense": {"pharmacist": (201, 422, 404)},
    # Certificates: the holder's list by the record's rule; a police officer checks one
    # (the API, her page /verify) and reaches nothing else: not the record, not the
    # certificates' own routes, not the prescriptions. A page sends a browser with no
    # session to its sign-in (303), and refuses another role with a page, not JSON.
    "patient_certificates": {"patient": (200, 404, 404), "doctor": (200, 403, 404)},
    "read_certificate": {"patient": (404, 404, 404), "doctor": (404, 404, 404)},
    "verify": {"police_officer": (200, 200, 200)},
    "verify_page": {"police_officer": (200, 200, 200), "anonymous": (303, 303, 303)},
    # A registrar registers a newcomer at her clinic and changes any patient's names,
    # phone or attachment to her clinic (each audited; A28 / A31 to subscribers).
    "register_patient": {"registrar": (201, 409, 422)},
    "change_patient": {"registrar": (200, 200, 404)},
    # Schools: a guardian's consents for a linked child (anyone else's child: 404); a
    # child's illness episodes by the record's rule, opened by a doctor in her own visit
    # (an adult: 422 not_a_child; another clinic's visit: 404); the school nurse reaches
    # her school's PE restrictions (the API and her page) and nothing else.
    "school_consents": {"patient": (200, 404, 404)},
    "give_school_consent": {"patient": (201, 404, 404)},
    "withdraw_school_consent": {"patient": (200, 404, 404)},
    "illness_episodes": {"patient": (200, 404, 404), "doctor": (200, 403, 404)},
    "open_illness": {"doctor": (422, 404, 404)},
    "close_illness": {"doctor": (404, 403, 404)},
    "school_pe_restrictions": {"school_nurse": (200, 200, 200)},
    "school_page": {"school_nurse": (200, 200, 200), "anonymous": (303, 303, 303)},
    # The ambulance: a crew reads any patient's emergency summary (by id or by policy),
    # audited with the call; nobody else does, and the crew reaches nothing else of the
    # record (its 403s above). The registrar's page of her clinic's open active visits.
    "emergency_summary": {"ambulance_crew": (200, 200, 404)},
    "emergency_summary_by_policy": {"ambulance_crew": (200, 200, 404)},
    "active_visits_page": {"registrar": (200, 200, 200), "anonymous": (303, 303, 303)},
    # The integrations' partners: the administrator's page and its JSON twin (no
    # personal data); a partner's newest messages name patients (audited), and no other
    # role reaches them. A partner has no owner: own and foreign are the same one.
    "admin_partners": {"administrator": (200, 200, 200)},
    "admin_page": {"administrator": (200, 200, 200), "anonymous": (303, 303, 303)},
    "admin_partner_messages": {"administrator": (200, 200, 404), "anonymous": (303, 303, 303)},
    # The dashboard (/admin): the city's (another clinic: its figures) for the
    # administrator; her clinic's for a clinic's head (another clinic: 403, a page).
    "admin_home": {
        "administrator": (200, 200, 404),
        "clinic_admin": (200, 403, 403),
        "anonymous": (303, 303, 303),
    },
    # a retry is a page's form: without its CSRF value even the administrator is refused
    "admin_retry": {"administrator": (403, 403, 403), "anonymous": (303, 303, 303)},
    # -- issue #22, the clinic: staff accounts and the walk-in queue ------------------
    # Staff accounts: the city's administrator every one; a clinic administrator her
    # clinic's (own: of A; foreign: of B, 403 on a list or a new account naming B, 404
    # on an account of B, as if there were none).
    "list_staff": {"administrator": (200, 200, 200), "clinic_admin": (200, 403, 403)},
    "create_staff": {"administrator": (201, 201, 422), "clinic_admin": (201, 403, 403)},
    "get_staff": {"administrator": (200, 200, 404), "clinic_admin": (200, 404, 404)},
    "enable_staff": {"administrator": (200, 404, 404), "clinic_admin": (200, 404, 404)},
    "temporary_password": {"administrator": (200, 404, 404), "clinic_admin": (200, 404, 404)},
    "change_staff_role": {"administrator": (200, 404, 404), "clinic_admin": (200, 404, 404)},
    "admin_staff_page": {
        "administrator": (200, 200, 200),
        "clinic_admin": (200, 200, 200),  # ?clinic= of another is ignored: hers is shown
        "anonymous": (303, 303, 303),
    },
    # its forms need their CSRF value: refused even to the managers without it
    "admin_staff_disable": {
        "administrator": (403, 403, 403),
        "clinic_admin": (403, 403, 403),
        "anonymous": (303, 303, 303),
    },
    # The walk-in queue of a clinic (own: A; foreign: B's, 403; missing: an entry or a
    # clinic that is not there): her clinic's registrar adds and marks one gone, its duty
    # doctor (dA, an ophthalmologist: a self-referral specialty) calls and sees, its
    # administrator reads.
    "list_walk_ins": {
        "registrar": (200, 403, 403),
        "doctor": (200, 403, 403),
        "clinic_admin": (200, 403, 403),
    },
    "add_walk_in": {"registrar": (201, 403, 404)},
    "call_walk_in": {"doctor": (200, 403, 403)},
    "walk_in_seen": {"doctor": (200, 403, 404)},
    "walk_in_left": {"registrar": (200, 403, 404), "doctor": (200, 403, 404)},
    "registrar_walk_ins_page": {"registrar": (200, 200, 200), "anonymous": (303, 303, 303)},
    "doctor_walk_ins_page": {"doctor": (200, 200, 200), "anonymous": (303, 303, 303)},
    # the pages' forms, without their CSRF value: refused even to their own role
    **{
        form: {
            "administrator": (403, 403, 403),
            "clinic_admin": (403, 403, 403),
            "anonymous": (303, 303, 303),
        }
        for form in (
            "admin_staff_create",
            "admin_staff_enable",
            "admin_staff_reset",
            "admin_staff_role",
        )
    },  # fmt: skip
    **{
        form: {"registrar": (403, 403, 403), "anonymous": (303, 303, 303)}
        for form in ("registrar_add_walk_in", "registrar_walk_in_left")
    },
    **{
        form: {"doctor": (403, 403, 403), "anonymous": (303, 303, 303)}
        for form in (
            "doctor_call_walk_in",
            "doctor_walk_in_visit",
            "doctor_walk_in_seen",
            "doctor_walk_in_left",
        )
    },  # fmt: skip
    # a walk-in's visit page (a visit with no appointment): her own (called by dA);
    # foreign: Q's visit by dB (403, also after dA's break-glass: not hers)
    "doctor_encounter_page": {"doctor": (200, 403, 404), "anonymous": (303, 303, 303)},
    # Patients moved when a clinic takes a doctor's time away (relocate). Foreign: a
    # patient moved by clinic B; a registrar of A answers for moves by or to A only.
    "list_relocations": {"patient": (200, 404, 404), "registrar": (200, 200, 404)},
    "confirm_relocation": {"patient": (200, 404, 404), "registrar": (200, 404, 404)},
    "decline_relocation": {"patient": (200, 404, 404), "registrar": (200, 404, 404)},
    # A clinic's list: her own clinic for its administrator and registrar (another: 403,
    # a missing one is another too); the city's administrator any clinic there is.
    "clinic_relocations": {
        "clinic_admin": (200, 403, 403),
        "registrar": (200, 403, 403),
        "administrator": (200, 200, 404),
    },
    "admin_relocations_page": {
        "clinic_admin": (200, 403, 403),
        "administrator": (200, 200, 404),
        "anonymous": (303, 303, 303),
    },
    # -- the clinic's schedules (issue 22, "clinic"): the city's administrator works on
    # every clinic (missing: no such clinic or doctor), a clinic's on her own only (another
    # clinic: 403 forbidden); holidays are the city's, read by both. No personal data.
    "schedule_doctors": {"administrator": (200, 200, 404), "clinic_admin": (200, 403, 403)},
    "schedule_doctor": {"administrator": (200, 200, 404), "clinic_admin": (200, 403, 404)},
    "schedule_add_template": {
        "administrator": (201, 201, 404),
        "clinic_admin": (201, 403, 404),
    },
    "schedule_change_template": {
        "administrator": (200, 200, 404),
        "clinic_admin": (200, 403, 404),
    },
    "schedule_remove_template": {
        "administrator": (200, 200, 404),
        "clinic_admin": (200, 403, 404),
    },
    "schedule_add_exception": {
        "administrator": (201, 201, 404),
        "clinic_admin": (201, 403, 404),
    },
    "schedule_remove_exception": {
        "administrator": (200, 200, 404),
        "clinic_admin": (200, 403, 404),
    },
    "schedule_holidays": {"administrator": (200, 200, 200), "clinic_admin": (200, 200, 200)},
    "schedule_add_holiday": {"administrator": (201, 201, 201)},
    "schedule_remove_holiday": {"administrator": (200, 200, 404)},
    "admin_schedules": {
        "administrator": (200, 200, 404),
        "clinic_admin": (200, 403, 403),
        "anonymous": (303, 303, 303),
    },
    "admin_schedule_doctor": {
        "administrator": (200, 200, 404),
        "clinic_admin": (200, 403, 404),
        "anonymous": (303, 303, 303),
    },
    "admin_schedule_holidays": {
        "administrator": (200, 200, 200),
        "clinic_admin": (200, 200, 200),
        "anonymous": (303, 303, 303),
    },
    # the pages' forms: without their CSRF value even their own are refused
    "admin_schedule_day_off": {
        "administrator": (403, 403, 403),
        "clinic_admin": (403, 403, 403),
        "anonymous": (303, 303, 303),
    },
    "admin_schedule_add_holiday": {
        "administrator": (403, 403, 403),
        "anonymous": (303, 303, 303),
    },
    # -- notifications (helper "notify") ---------------------------------------------------
    # A patient's preference: she and her guardian (a linked child) read and set it, a
    # registrar any patient's (at the desk); the answer has the phone masked, no names.
    "notification_preference": {"patient": (200, 404, 404), "registrar": (200, 200, 404)},
    "set_notification_preference": {"patient": (200, 404, 404), "registrar": (200, 200, 404)},
}


# -- issue #22, the clinic: staff accounts and the walk-in queue ----------------------

STAFF_AND_WALK_IN_ROUTES = frozenset({
    "list_staff", "create_staff", "get_staff", "enable_staff", "temporary_password",
    "change_staff_role", "admin_staff_page", "admin_staff_disable", "list_walk_ins",
    "add_walk_in", "call_walk_in", "walk_in_seen", "walk_in_left",
    "registrar_walk_ins_page", "doctor_walk_ins_page", "admin_staff_create",
    "admin_staff_enable", "admin_staff_reset", "admin_staff_role", "registrar_add_walk_in",
    "registrar_walk_in_left", "doctor_call_walk_in", "doctor_walk_in_visit",
    "doctor_walk_in_seen", "doctor_walk_in_left", "doctor_encounter_page",
})  # fmt: skip
#: The pages' forms (posted without their CSRF value) and where they post.
PAGE_FORMS = {
    "admin_staff_create": "/admin/staff",
    "admin_staff_enable": "/admin/staff/{staff}/enable",
    "admin_staff_reset": "/admin/staff/{staff}/reset",
    "admin_staff_role": "/admin/staff/{staff}/role",
    "registrar_add_walk_in": "/registrar/walk-ins",
    "registrar_walk_in_left": "/registrar/walk-ins/{entry}/left",
    "doctor_call_walk_in": "/doctor/walk-ins/call",
    "doctor_walk_in_visit": "/doctor/walk-ins/{entry}/visit",
    "doctor_walk_in_seen": "/doctor/walk-ins/{entry}/seen",
    "doctor_walk_in_left": "/doctor/walk-ins/{entry}/left",
}
_fresh_names = itertools.count()
_walk_in_patients = itertools.count()


async def _staff_id(w: World, username: str) -> int:
    return (await fetch(w.city, "SELECT id FROM staff_accounts WHERE username = $1", username))[0][
        "id"
    ]


async def _fresh_staff(client, w: World, clinic: int | None = None) -> int:
    """A new registrar's account of clinic A (or ``clinic``), made by the administrator."""
    made = await client.post(
        "/api/v1/staff",
        json={
            "username": f"matrix.desk.{next(_fresh_names)}",
            "role": "registrar",
            "clinic_id": clinic or w.clinic_a,
        },
        headers=bearer.administrator(),
    )
    assert made.status_code == 201, made.text
    return int(made.json()["account"]["id"])


async def _walk_in(client, w: World, *, call: bool = False) -> int:
    """A patient added to A's walk-in queue (and called by dA: the entry called)."""
    patient = (
        await fetch(
            w.city, "SELECT id FROM patients ORDER BY id DESC OFFSET $1 LIMIT 1",
            next(_walk_in_patients),
        )
    )[0]["id"]  # fmt: skip
    path = f"/api/v1/clinics/{w.clinic_a}/walk-ins"
    added = await client.post(
        path,
        json={"patient_id": patient, "complaint": "без записи"},
        headers=bearer.registrar(w.clinic_a),
    )
    assert added.status_code == 201, added.text
    if not call:
        return int(added.json()["id"])
    called = await client.post(f"{path}/call", headers=bearer.doctor(w.doctor_a, w.clinic_a))
    assert called.status_code == 200, called.text
    return int(called.json()["id"])


async def _staff_and_walk_in_call(
    route: str, role: str, variant: str, client, w: World, h: dict
) -> Call:
    clinic = {"own": w.clinic_a, "foreign": w.clinic_b, "missing": MISSING}[variant]
    manager = role in ("administrator", "clinic_admin")
    if route == "list_staff":
        return Call("GET", f"/api/v1/staff?clinic_id={clinic}", headers=h)
    if route == "create_staff":
        body = {"username": f"matrix.new.{next(_fresh_names)}", "role": "registrar",
                "clinic_id": clinic}  # fmt: skip
        return Call("POST", "/api/v1/staff", body, h)
    if route in ("get_staff", "enable_staff", "temporary_password", "change_staff_role"):
        # own: a fresh account of A; foreign: B's registrar (which the administrator
        # reads, and changes nothing of: MISSING), to a clinic administrator a 404
        target = MISSING
        if variant == "own" and manager:
            target = await _fresh_staff(client, w)
        elif variant == "foreign" and (route == "get_staff" or role == "clinic_admin"):
            target = await _staff_id(w, f"registrar.{w.clinic_b}")
        if route == "get_staff":
            return Call("GET", f"/api/v1/staff/{target}", headers=h)
        if route == "change_staff_role":
            return Call("POST", f"/api/v1/staff/{target}/role", {"role": "clinic_admin"}, h)
        path = "enable" if route == "enable_staff" else "temporary-password"
        return Call("POST", f"/api/v1/staff/{target}/{path}", None, h)
    if route == "admin_staff_page":
        return Call("GET", f"/admin/staff?clinic={clinic}", headers=h)
    if route == "admin_staff_disable":
        target = w.police_staff_id if variant != "missing" else MISSING
        return Call("POST", f"/admin/staff/{target}/disable", None, h)
    path = f"/api/v1/clinics/{clinic}/walk-ins"
    if route == "list_walk_ins":
        return Call("GET", path, headers=h)
    if route == "add_walk_in":
        patient = MISSING if variant == "missing" else w.adult()["id"]
        if variant == "missing":
            path = f"/api/v1/clinics/{w.clinic_a}/walk-ins"  # an unknown patient: 404
        return Call("POST", path, {"patient_id": patient, "complaint": "кашель"}, h)
    if route == "call_walk_in":
        if variant == "own" and role == "doctor":
            await _walk_in(client, w)
        return Call("POST", f"{path}/call", None, h)
    if route in ("walk_in_seen", "walk_in_left"):
        entry = MISSING
        if variant == "own" and role in ("doctor", "registrar"):
            entry = await _walk_in(client, w, call=role == "doctor")
        if variant == "missing":
            path = f"/api/v1/clinics/{w.clinic_a}/walk-ins"
        state = "seen" if route == "walk_in_seen" else "left"
        return Call("POST", f"{path}/{entry}/{state}", None, h)
    if route in PAGE_FORMS:
        target = MISSING if variant == "missing" else w.police_staff_id
        path = PAGE_FORMS[route].format(staff=target, entry=MISSING)
        return Call("POST", path, None, h)
    if route == "doctor_encounter_page":
        encounter = {"foreign": w.encounter_q, "missing": MISSING}.get(variant, 0)
        if variant == "own" and role == "doctor":
            entry = await _walk_in(client, w, call=True)
            patient = (await fetch(w.city, "SELECT patient_id FROM walk_ins WHERE id = $1", entry))[
                0
            ]["patient_id"]
            opened = await client.post(
                "/api/v1/encounters",
                json={"patient_id": patient},
                headers=bearer.doctor(w.doctor_a, w.clinic_a),
            )
            assert opened.status_code == 201, opened.text
            encounter = opened.json()["id"]
        return Call("GET", f"/doctor/encounters/{encounter or MISSING}", headers=h)
    if route == "registrar_walk_ins_page":
        return Call("GET", "/registrar/walk-ins", headers=h)
    if route == "doctor_walk_ins_page":
        return Call("GET", "/doctor/walk-ins", headers=h)
    raise AssertionError(route)


# -- the dashboard (helper "dash"): its JSON twins, aggregates only. The administrator
# reads any clinic's (an unknown one: 404); a clinic's head her own, another's 403 (an
# unknown one too: she is bound to hers). The refusals are the city's: no clinic to ask.
# /metrics is for operators: a bearer IMIAS_METRICS_TOKEN or loopback, never a role's
# token (the test client is neither): 403 for everyone.
INSIGHTS_ROUTES = {
    "insights": "",
    "insights_earliest": "/earliest",
    "insights_earliest_specialties": "/earliest/specialties",
    "insights_served": "/served",
    "insights_load": "/load",
    "insights_load_days": "/load/days",
    "insights_channels": "/channels",
    "insights_waits": "/waits",
    "insights_refusals": "/refusals",
    "insights_map": "/map",
}
EXPECTED |= {
    route: (
        {"administrator": (200, 200, 200), "clinic_admin": (200, 200, 200)}
        if route == "insights_refusals"
        else {"administrator": (200, 200, 404), "clinic_admin": (200, 403, 403)}
    )
    for route in INSIGHTS_ROUTES
}
EXPECTED["metrics"] = {role: (403, 403, 403) for role in ROLES}


def cases():
    for route, allowed in EXPECTED.items():
        for role in ROLES:
            if role in allowed:
                for variant, status in zip(VARIANTS, allowed[role], strict=True):
                    if route == "me" and variant != "own":
                        continue
                    yield pytest.param(route, role, variant, status, id=f"{route}-{role}-{variant}")
            else:
                # Refused by the route's policy, whatever it names: try the foreign one.
                status = 401 if role == "anonymous" else 403
                yield pytest.param(route, role, "foreign", status, id=f"{route}-{role}-denied")


@pytest.mark.parametrize(("route", "role", "variant", "status"), list(cases()))
async def test_each_role_against_each_route(client, world, route, role, variant, status):
    call = await build(route, role, variant, client, world)
    if call.method == "GET":
        response = await client.get(call.path, headers=call.headers, follow_redirects=False)
    else:
        response = await client.request(
            call.method, call.path, json=call.body, headers=call.headers, follow_redirects=False
        )
    assert response.status_code == status, response.text
    text = response.text.replace(" ", "")
    for marker in world.markers:
        assert marker.replace(" ", "") not in text, "the foreign patient's data leaked"
    if route not in ("audit_search", "break_glass"):
        assert f'"patient_id":{world.q["id"]},' not in text or status >= 400
        assert f'"id":{world.appointment_q},"clinic_id":' not in text  # Q's appointment
    for expected in call.expect_in_body:
        assert expected in text
    fhir = call.path.startswith("/fhir/")
    api = call.path.startswith("/api/") or call.path == "/metrics"  # /metrics: operators'
    if status >= 400 and not api and not fhir:  # a page's: a page
        assert response.headers["content-type"].startswith("text/html")
    elif status >= 400:
        if fhir:  # FHIR's errors are OperationOutcomes carrying the problem's code
            assert response.headers["content-type"].startswith("application/fhir+json")
            code = response.json()["issue"][0]["details"]["coding"][0]["code"]
        else:
            assert response.headers["content-type"].startswith("application/problem+json")
            code = response.json()["code"]
        if status == 401:
            assert code == "unauthenticated"
        if status == 403 and role not in ("patient", "registrar", "doctor"):
            assert code == "forbidden"


# -- restricted entries ----------------------------------------------------------------


@dataclass
class Restricted:
    patient: int
    encounter: int
    readers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
async def restricted(client, city, world) -> Restricted:
    """Patient R attached to a clinic X that has a psychiatrist; a therapist of X writes
    a visit with an anxiety disorder (F41.1, restricted) beside a cold (J06.9)."""
    psychiatrist = (
        await fetch(
            city,
            "SELECT d.clinic_id, d.id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
            " WHERE s.code = 'psychiatrist' ORDER BY d.clinic_id, d.id LIMIT 1",
        )
    )[0]
    x = psychiatrist["clinic_id"]
    author, colleague = await fetch(
        city,
        "SELECT d.id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
        " WHERE d.clinic_id = $1 AND s.code <> ALL($2::text[]) ORDER BY d.id LIMIT 2",
        x,
        sorted(codes.RESTRICTED_READERS["mental"]),
    )
    stranger = (
        await fetch(city, "SELECT clinic_id, id FROM doctors WHERE clinic_id <> $1 LIMIT 1", x)
    )[0]
    r = world.adult()["id"]
    await fetch(city, "UPDATE patients SET attached_clinic_id = $2 WHERE id = $1", r, x)
    writer = bearer.doctor(author["id"], x)
    visit = await client.post(
        "/api/v1/encounters", json={"patient_id": r, "kind": "home"}, headers=writer
    )
    assert visit.status_code == 201, visit.text
    signed = await client.post(
        f"/api/v1/encounters/{visit.json()['id']}/sign",
        json={
            "protocol": {"conclusion": "Генерализованное тревожное расстройство"},
            "diagnoses": [{"code": "F41.1", "rank": "primary"}, {"code": "J06.9"}],
        },
        headers=writer,
    )
    assert signed.status_code == 200, signed.text
    return Restricted(
        r,
        visit.json()["id"],
        {
            "patient": bearer.patient(r),
            "author": writer,
            "same_group": bearer.doctor(psychiatrist["id"], x),
            "colleague": bearer.doctor(colleague["id"], x),
            "stranger": bearer.doctor(stranger["id"], stranger["clinic_id"]),
        },
    )


# reader -> (status, sees the restricted diagnosis)
RESTRICTED_READERS = {
    "patient": (200, True),
    "author": (200, True),
    "same_group": (200, True),  # a psychiatrist of the patient's clinic
    "colleague": (200, False),  # another specialty: that it exists, not what it is
    "stranger": (403, False),  # not the patient's clinic: break_glass_required
}


@pytest.mark.parametrize("reader", list(RESTRICTED_READERS))
@pytest.mark.parametrize("where", ["encounter", "card"])
async def test_restricted_entries_by_reader(client, restricted, reader, where):
    status, sees = RESTRICTED_READERS[reader]
    headers = restricted.readers[reader]
    path = (
        f"/api/v1/encounters/{restricted.encounter}"
        if where == "encounter"
        else f"/api/v1/patients/{restricted.patient}/record"
    )
    response = await client.get(path, headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["code"] == "break_glass_required"
        return
    text = response.text
    assert ("F41.1" in text) is sees
    if where == "encounter":
        assert ("тревожное" in text) is sees  # the protocol goes with the diagnosis
        body = response.json()
        assert body["hidden"] is (not sees)
        assert [d["hidden"] for d in body["diagnoses"]] == [not sees, False]
    else:
        assert response.json()["restricted_hidden"] == (0 if sees else 1)


async def test_restricted_entries_open_to_break_glass_and_flagged(client, city, restricted):
    stranger = restricted.readers["stranger"]
    glass = await client.post(
        "/api/v1/break-glass",
        json={"patient_id": restricted.patient, "reason": "unconscious at the reception"},
        headers=stranger,
    )
    assert glass.status_code == 201, glass.text
    response = await client.get(f"/api/v1/encounters/{restricted.encounter}", headers=stranger)
    assert response.status_code == 200 and "F41.1" in response.text
    flagged = await fetch(
        city,
        "SELECT break_glass, reason FROM audit_log WHERE patient_id = $1 AND resource = "
        "'encounter' AND action = 'read' ORDER BY id DESC LIMIT 1",
        restricted.patient,
    )
    assert flagged[0]["break_glass"] and flagged[0]["reason"] == "unconscious at the reception"
