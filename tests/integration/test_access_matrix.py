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

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import adults, app_client, fetch, guardian_and_child, key

MISSING = 999_999_999
ROLES = (
    "patient",
    "registrar",
    "doctor",
    "pharmacist",
    "police_officer",
    "ambulance_crew",
    "school_nurse",
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
    markers: tuple[str, ...]
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
        markers=(full_name, q["policy_number"], q["phone"]),
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
        return Call("POST", f"/api/v1/staff/{target}/disable", None, h)
    if route == "break_glass":
        target = {"own": me, "foreign": w.q["id"], "missing": MISSING}[variant]
        body = {"patient_id": target, "reason": "covering a colleague's list today"}
        return Call("POST", "/api/v1/break-glass", body, h)
    if route == "me":
        return Call("GET", "/api/v1/me", headers=h)
    raise AssertionError(route)


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
    "access_log": {"patient": (200, 404, 404)},  # own: a linked child's log
    "audit_search": {"administrator": (200, 200, 200)},
    "disable_staff": {"administrator": (200, 404, 404)},
    "break_glass": {"doctor": (201, 201, 404)},  # a stranger is what it is for
    "me": {role: (200, 200, 200) for role in ROLES if role != "anonymous"},
}


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
        response = await client.get(call.path, headers=call.headers)
    else:
        response = await client.post(call.path, json=call.body, headers=call.headers)
    assert response.status_code == status, response.text
    text = response.text.replace(" ", "")
    for marker in world.markers:
        assert marker.replace(" ", "") not in text, "the foreign patient's data leaked"
    if route not in ("audit_search", "break_glass"):
        assert f'"patient_id":{world.q["id"]},' not in text or status >= 400
        assert f'"id":{world.appointment_q},"clinic_id":' not in text  # Q's appointment
    for expected in call.expect_in_body:
        assert expected in text
    if status >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        if status == 401:
            assert response.json()["code"] == "unauthenticated"
        if status == 403 and role not in ("patient", "registrar", "doctor"):
            assert response.json()["code"] == "forbidden"
