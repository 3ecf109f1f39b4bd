"""A clinic's schedules edited over the API, as a clinic administrator does it: each kind
of change reaches another worker's engine through the event stream (two apps on one
database and one Redis: one edits, the other serves), and afterwards that engine holds
exactly what an engine freshly loaded from the database holds (the state digest).
Appointments in time taken away are displaced (cancelled, the patient told); an edit
that would move or cut a booking is refused whole; bad input is a 4xx problem with a
stable code and nothing written."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import adults, app_client, fetch, key

from imias.booking.engine import Engine
from imias.platform.embedded import EmbeddedRedis
from scheduler_core import CLOSED, FREE

SPECIALTY = "ophthalmologist"  # books without a referral or an attachment


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_schedules_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=6, doctors=80, patients=600)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("schedules-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def editor(city, own_redis):
    async with app_client(city, own_redis.url) as client:
        yield client


@pytest.fixture(scope="module")
async def other(city, own_redis, editor):
    """A second worker: it never edits; it learns every change from the stream."""
    async with app_client(city, own_redis.url) as client:
        yield client


def clinic_admin(clinic_id: int) -> dict[str, str]:
    return bearer.bearer("clinic_admin", 300_000 + clinic_id, org=clinic_id)


async def wait_for(check, what: str, seconds: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.05)


async def fresh_digest(city: str) -> str:
    pool = await asyncpg.create_pool(city, min_size=1, max_size=2)
    try:
        engine = Engine()
        await engine.load(pool)
        digest, _ = await engine.state_digest()
        return digest
    finally:
        await pool.close()


async def agrees_with_database(city: str, client) -> None:
    """The other worker's engine, once the stream has brought everything, equals one
    freshly loaded from the database (no reload on the way)."""
    engine: Engine = client.app_state.engine
    wanted = await fresh_digest(city)

    async def same() -> bool:
        return (await engine.state_digest())[0] == wanted

    await wait_for(same, "the other worker's engine equals a freshly loaded one")
    assert not engine.reload_needed


def states(client, doctor_id: int, day: date) -> bytes:
    engine: Engine = client.app_state.engine
    assert engine.calendar is not None
    return engine.calendar.day_states(doctor_id, day.toordinal())


def weekday_ahead(editor, n: int = 1) -> date:
    """The n-th Monday-to-Friday day after today, in the engine's window."""
    day = editor.app_state.engine.today()
    while n:
        day += timedelta(days=1)
        if day.isoweekday() <= 5:
            n -= 1
    return day


async def doctor_working(editor, day: date, skip: set[int] = frozenset()) -> dict[str, Any]:
    """A doctor of SPECIALTY with free slots on ``day`` and a template that day."""
    slots = (
        await editor.get(
            "/api/v1/slots",
            params={"specialty": SPECIALTY, "from": day.isoformat(), "to": day.isoformat(),
                    "limit": 50},
        )
    ).json()  # fmt: skip
    for slot in slots:
        if slot["doctor_id"] not in skip:
            return slot
    raise AssertionError(f"no {SPECIALTY} works on {day}")


async def book(editor, slot: dict, patient: int) -> dict:
    response = await editor.post(
        "/api/v1/appointments",
        json={
            "patient_id": patient,
            "doctor_id": slot["doctor_id"],
            "starts_at": slot["starts_at"],
        },
        headers=key() | bearer.registrar(slot["clinic_id"]),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def template_of(city: str, doctor_id: int, day: date) -> asyncpg.Record:
    rows = await fetch(
        city,
        "SELECT * FROM schedule_templates WHERE doctor_id = $1 AND weekday = $2"
        " AND valid_from <= $3 AND (valid_to IS NULL OR valid_to >= $3) ORDER BY starts",
        doctor_id,
        day.isoweekday(),
        day,
    )
    assert rows, f"doctor {doctor_id} has no template on {day}"
    return rows[0]


async def status_of(city: str, appointment_id: int) -> str:
    return (await fetch(city, "SELECT status FROM appointments WHERE id = $1", appointment_id))[0][
        "status"
    ]


# -- each kind of change reaches the other worker, which then agrees with the database -----


async def test_a_sick_day_closes_the_day_displaces_its_patients_and_reaches_the_other_worker(
    city, editor, other
):
    day = weekday_ahead(editor, 1)
    slot = await doctor_working(editor, day)
    doctor, clinic = slot["doctor_id"], slot["clinic_id"]
    patient, holder = await adults(city, 2)
    booked = await book(editor, slot, patient["id"])
    later = (
        await editor.get(
            "/api/v1/slots",
            params={"doctor": doctor, "from": day.isoformat(), "to": day.isoformat(), "limit": 5},
        )
    ).json()[-1]
    held = await editor.post(
        "/api/v1/holds",
        json={"doctor_id": doctor, "starts_at": later["starts_at"]},
        headers=bearer.patient(holder["id"]),
    )
    assert held.status_code == 201, held.text
    response = await editor.post(
        f"/api/v1/clinics/{clinic}/doctors/{doctor}/exceptions",
        json={"day": day.isoformat(), "kind": "sick"},
        headers=clinic_admin(clinic),
    )
    assert response.status_code == 201, response.text
    change = response.json()
    assert change["displaced"] == 1 and change["holds_released"] == 1
    assert change["engine_events"] >= 3
    assert await status_of(city, booked["id"]) == "cancelled"
    assert await status_of(city, held.json()["appointment_id"]) == "expired"
    # the patient is told: another time offered (move_offered) or, with none to offer,
    # the appointment cancelled (move_cancelled); imias.booking.relocation
    notices = await fetch(
        city,
        "SELECT payload FROM event_outbox WHERE topic = 'notice'"
        " AND (convert_from(payload, 'UTF8') LIKE '%move_offered%'"
        "   OR convert_from(payload, 'UTF8') LIKE '%move_cancelled%')"
        " AND convert_from(payload, 'UTF8') LIKE $1",
        f'%"appointment_id":{booked["id"]},%',
    )
    assert len(notices) == 1

    async def closed() -> bool:
        return set(states(other, doctor, day)) == {CLOSED}

    await wait_for(closed, "the sick doctor's day is closed on the other worker")
    search = await other.get(
        "/api/v1/slots", params={"doctor": doctor, "from": day.isoformat(), "to": day.isoformat()}
    )
    assert search.json() == []
    await agrees_with_database(city, other)

    # Taken back: the day works again, everywhere.
    again = await editor.delete(
        f"/api/v1/clinics/{clinic}/exceptions/{change['id']}", headers=clinic_admin(clinic)
    )
    assert again.status_code == 200, again.text

    async def reopened() -> bool:
        return FREE in states(other, doctor, day)

    await wait_for(reopened, "the day reopened on the other worker")
    await agrees_with_database(city, other)


async def test_channels_changed_under_a_booking_keep_it_and_the_workers_agree(city, editor, other):
    day = weekday_ahead(editor, 2)
    slot = await doctor_working(editor, day)
    doctor, clinic = slot["doctor_id"], slot["clinic_id"]
    (patient,) = await adults(city, 1, offset=5)
    booked = await book(editor, slot, patient["id"])
    t = await template_of(city, doctor, day)
    body = {
        "weekday": t["weekday"],
        "starts": t["starts"].strftime("%H:%M"),
        "ends": t["ends"].strftime("%H:%M"),
        "channels": ["registrar", "phone"],
        "referral": True,
    }
    response = await editor.put(
        f"/api/v1/clinics/{clinic}/templates/{t['id']}", json=body, headers=clinic_admin(clinic)
    )
    assert response.status_code == 200, response.text
    assert response.json()["displaced"] == 0
    assert await status_of(city, booked["id"]) == "booked"  # never moved, never cut
    versions = await fetch(
        city,
        "SELECT valid_from, valid_to, channels, referral FROM schedule_templates"
        " WHERE doctor_id = $1 AND weekday = $2 AND starts = $3 ORDER BY valid_from",
        doctor,
        t["weekday"],
        t["starts"],
    )
    today = editor.app_state.engine.today()
    kept = [(v["valid_to"], v["channels"]) for v in versions if v["valid_from"] < today]
    assert kept == ([(today - timedelta(days=1), t["channels"])] if t["valid_from"] < today else [])
    covering = [
        (v["channels"], v["referral"])
        for v in versions
        if v["valid_from"] <= day and (v["valid_to"] is None or v["valid_to"] >= day)
    ]
    assert covering == [(20, True)]

    async def web_gone() -> bool:
        found = await other.get(
            "/api/v1/slots",
            params={"doctor": doctor, "from": day.isoformat(), "to": day.isoformat(),
                    "channel": "web"},
        )  # fmt: skip
        return found.status_code == 200 and all(
            s["local_start"][11:16] < body["starts"] or s["local_start"][11:16] >= body["ends"]
            for s in found.json()
        )

    await wait_for(web_gone, "the template's time is no longer offered on the web")
    await agrees_with_database(city, other)


async def test_a_template_shortened_displaces_the_appointments_in_the_time_taken_away(
    city, editor, other
):
    day = weekday_ahead(editor, 3)
    slot = await doctor_working(editor, day)
    doctor, clinic = slot["doctor_id"], slot["clinic_id"]
    t = await template_of(city, doctor, day)
    late = (await other.get(
        "/api/v1/slots",
        params={"doctor": doctor, "from": day.isoformat(), "to": day.isoformat(), "limit": 50},
    )).json()[-1]  # fmt: skip
    (patient,) = await adults(city, 1, offset=10)
    booked = await book(editor, late, patient["id"])
    starts = datetime.combine(day, t["starts"])
    new_end = (starts + timedelta(hours=1)).time()
    assert new_end <= datetime.fromisoformat(late["local_start"]).time()
    body = {
        "weekday": t["weekday"],
        "starts": t["starts"].strftime("%H:%M"),
        "ends": new_end.strftime("%H:%M"),
        "channels": ["web", "app", "phone", "kiosk", "registrar"],
        "from": day.isoformat(),
    }
    response = await editor.put(
        f"/api/v1/clinics/{clinic}/templates/{t['id']}", json=body, headers=bearer.administrator()
    )
    assert response.status_code == 200, response.text
    assert response.json()["displaced"] >= 1
    assert await status_of(city, booked["id"]) == "cancelled"
    await agrees_with_database(city, other)


async def test_a_new_visit_length_under_bookings_is_refused_and_from_a_later_day_taken(
    city, editor, other
):
    day = weekday_ahead(editor, 4)
    slot = await doctor_working(editor, day)
    doctor, clinic = slot["doctor_id"], slot["clinic_id"]
    (patient,) = await adults(city, 1, offset=15)
    await book(editor, slot, patient["id"])
    t = await template_of(city, doctor, day)
    span = (datetime.combine(day, t["ends"]) - datetime.combine(day, t["starts"])).seconds // 60
    length = next(m for m in (40, 45, 50, 60, 90, 120, 30, 20, 10) if span % m == 0)
    body = {
        "weekday": t["weekday"],
        "starts": t["starts"].strftime("%H:%M"),
        "ends": t["ends"].strftime("%H:%M"),
        "slot_minutes": length,
        "channels": ["web", "app", "phone", "kiosk", "registrar"],
    }
    before = await fetch(city, "SELECT count(*) AS n FROM schedule_templates")
    refused = await editor.put(
        f"/api/v1/clinics/{clinic}/templates/{t['id']}", json=body, headers=clinic_admin(clinic)
    )
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "appointments_in_the_way"
    assert await fetch(city, "SELECT count(*) AS n FROM schedule_templates") == before
    later = editor.app_state.engine.today() + timedelta(days=20)
    taken = await editor.put(
        f"/api/v1/clinics/{clinic}/templates/{t['id']}",
        json=body | {"from": later.isoformat()},
        headers=clinic_admin(clinic),
    )
    assert taken.status_code == 200, taken.text
    assert taken.json()["engine_events"] == 0  # beyond the engine's window
    await agrees_with_database(city, other)


async def test_a_new_template_opens_time_and_a_removed_one_closes_it(city, editor, other):
    day = weekday_ahead(editor, 1)
    while day.isoweekday() != 6:  # a Saturday: few doctors work
        day += timedelta(days=1)
    rows = await fetch(
        city,
        "SELECT d.clinic_id, d.id FROM doctors d WHERE d.active AND NOT EXISTS"
        " (SELECT 1 FROM schedule_templates t WHERE t.doctor_id = d.id AND t.weekday = 6)"
        " ORDER BY d.id LIMIT 1",
    )
    clinic, doctor = rows[0]["clinic_id"], rows[0]["id"]
    added = await editor.post(
        f"/api/v1/clinics/{clinic}/doctors/{doctor}/templates",
        json={"weekday": 6, "starts": "09:00", "ends": "12:00", "slot_minutes": 20},
        headers=clinic_admin(clinic),
    )
    assert added.status_code == 201, added.text

    async def opened() -> bool:
        return states(other, doctor, day).count(FREE) == 36  # 3 hours of 5-minute units

    await wait_for(opened, "the new template's time is open on the other worker")
    await agrees_with_database(city, other)
    schedule = await editor.get(
        f"/api/v1/clinics/{clinic}/doctors/{doctor}/schedule", headers=clinic_admin(clinic)
    )
    assert any(t["slot_minutes"] == 20 and t["weekday"] == 6 for t in schedule.json()["templates"])
    removed = await editor.delete(
        f"/api/v1/clinics/{clinic}/templates/{added.json()['id']}", headers=clinic_admin(clinic)
    )
    assert removed.status_code == 200, removed.text

    async def closed() -> bool:
        return set(states(other, doctor, day)) == {CLOSED}

    await wait_for(closed, "the removed template's time is closed on the other worker")
    await agrees_with_database(city, other)


async def test_a_public_holiday_closes_every_clinic_but_an_extra_shift_works(city, editor, other):
    day = weekday_ahead(editor, 5)
    slot = await doctor_working(editor, day)
    doctor, clinic = slot["doctor_id"], slot["clinic_id"]
    (patient,) = await adults(city, 1, offset=20)
    booked = await book(editor, slot, patient["id"])
    answer = await editor.post(
        "/api/v1/holidays", json={"day": day.isoformat(), "name": "День города"},
        headers=bearer.administrator(),
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    assert answer.json()["displaced"] >= 1
    assert await status_of(city, booked["id"]) == "cancelled"

    async def nobody_works() -> bool:
        found = await other.get(
            "/api/v1/slots", params={"specialty": SPECIALTY, "from": day.isoformat(),
                                     "to": day.isoformat()},
        )  # fmt: skip
        return found.json() == []

    await wait_for(nobody_works, "no slot of the holiday is offered")
    await agrees_with_database(city, other)
    twice = await editor.post(
        "/api/v1/holidays", json={"day": day.isoformat(), "name": "Again"},
        headers=bearer.administrator(),
    )  # fmt: skip
    assert twice.status_code == 409 and twice.json()["code"] == "holiday_exists"
    extra = await editor.post(
        f"/api/v1/clinics/{clinic}/doctors/{doctor}/exceptions",
        json={"day": day.isoformat(), "kind": "extra", "starts": "10:00", "ends": "12:00"},
        headers=clinic_admin(clinic),
    )
    assert extra.status_code == 201, extra.text

    async def extra_open() -> bool:
        return FREE in states(other, doctor, day)

    await wait_for(extra_open, "the extra shift opens time on the holiday")
    await agrees_with_database(city, other)
    listed = await editor.get("/api/v1/holidays", headers=clinic_admin(clinic))
    assert {"day": day.isoformat(), "name": "День города"} in listed.json()
    gone = await editor.delete(
        f"/api/v1/holidays/{day.isoformat()}", headers=bearer.administrator()
    )
    assert gone.status_code == 200, gone.text
    await agrees_with_database(city, other)


# -- bad input: a problem with a code and a sentence, nothing written ------------------------


async def _counts(city: str) -> tuple[int, int, int]:
    row = (
        await fetch(
            city,
            "SELECT (SELECT count(*) FROM schedule_templates) AS t,"
            " (SELECT count(*) FROM schedule_exceptions) AS e,"
            " (SELECT count(*) FROM public_holidays) AS h",
        )
    )[0]
    return row["t"], row["e"], row["h"]


def _bad_cases(today: date) -> list[tuple[str, str, str, dict, int, str]]:
    """(method, path template, who, body, status, code); {c} the clinic, {d} the doctor,
    {t} a template of the doctor, {x} another clinic."""
    past = (today - timedelta(days=1)).isoformat()
    ahead = (today + timedelta(days=3)).isoformat()
    tpl = "/api/v1/clinics/{c}/doctors/{d}/templates"
    exc = "/api/v1/clinics/{c}/doctors/{d}/exceptions"
    return [
        ("POST", tpl, "own", {"weekday": 7, "starts": "09:00", "ends": "12:00",
                              "slot_minutes": 15}, 201, ""),
        ("POST", tpl, "own", {"weekday": 7, "starts": "11:00", "ends": "13:00"}, 409,
         "template_overlap"),
        ("POST", tpl, "own", {"weekday": 7, "starts": "14:00", "ends": "15:00",
                              "slot_minutes": 25}, 422, "bad_visit_length"),
        ("POST", tpl, "own", {"weekday": 7, "starts": "14:00", "ends": "15:00",
                              "slot_minutes": 7}, 422, "bad_visit_length"),
        ("POST", tpl, "own", {"weekday": 7, "starts": "06:00", "ends": "09:00"}, 422,
         "bad_hours"),
        ("POST", tpl, "own", {"weekday": 7, "starts": "15:00", "ends": "14:00"}, 422,
         "bad_hours"),
        ("POST", tpl, "own", {"weekday": 7, "starts": "14:00", "ends": "15:00",
                              "colour": "red"}, 400, "validation_error"),
        ("POST", exc, "own", {"day": past, "kind": "sick"}, 422, "in_the_past"),
        ("POST", exc, "own", {"day": ahead, "kind": "extra"}, 422, "bad_hours"),
        ("POST", exc, "own", {"day": ahead, "kind": "sick", "starts": "19:00",
                              "ends": "21:00"}, 422, "bad_hours"),
        ("POST", exc, "foreign", {"day": ahead, "kind": "sick"}, 403, "forbidden"),
        ("POST", "/api/v1/clinics/{c}/doctors/999999999/exceptions", "own",
         {"day": ahead, "kind": "sick"}, 404, "not_found"),
        ("POST", "/api/v1/clinics/{c}/doctors/{o}/exceptions", "own",
         {"day": ahead, "kind": "sick"}, 404, "not_found"),
        ("PUT", "/api/v1/clinics/{c}/templates/{t}", "own",
         {"weekday": 1, "starts": "09:00", "ends": "10:00", "from": past}, 422, "in_the_past"),
        ("POST", "/api/v1/holidays", "admin", {"day": past, "name": "Вчера"}, 422,
         "in_the_past"),
        ("POST", "/api/v1/holidays", "own", {"day": ahead, "name": "Нет"}, 403, "forbidden"),
    ]  # fmt: skip


async def test_bad_input_is_a_problem_and_changes_nothing(city, editor):
    today = editor.app_state.engine.today()
    doctors = await fetch(
        city,
        "SELECT d.clinic_id, d.id, (SELECT min(id) FROM schedule_templates t"
        " WHERE t.doctor_id = d.id) AS t FROM doctors d WHERE d.active AND EXISTS"
        " (SELECT 1 FROM schedule_templates t WHERE t.doctor_id = d.id)"
        " AND NOT EXISTS (SELECT 1 FROM schedule_templates t WHERE t.doctor_id = d.id"
        " AND t.weekday = 7) ORDER BY d.clinic_id, d.id",
    )
    mine = doctors[0]
    stranger = next(d for d in doctors if d["clinic_id"] != mine["clinic_id"])
    ids = {"c": mine["clinic_id"], "d": mine["id"], "t": mine["t"], "o": stranger["id"]}
    who = {
        "own": clinic_admin(mine["clinic_id"]),
        "foreign": clinic_admin(stranger["clinic_id"]),
        "admin": bearer.administrator(),
    }
    for method, path, caller, body, status, code in _bad_cases(today):
        before = await _counts(city)
        response = await editor.request(method, path.format(**ids), json=body, headers=who[caller])
        assert response.status_code == status, (path, body, response.text)
        if status >= 400:
            problem = response.json()
            assert response.headers["content-type"].startswith("application/problem+json")
            assert problem["code"] == code and problem["detail"], problem
            assert await _counts(city) == before, (path, body)


# -- the pages ------------------------------------------------------------------------------


async def clinic_admin_account(city: str, clinic_id: int) -> str:
    import uuid

    from imias.citygen.seed import DEMO_PASSWORD
    from imias.identity.accounts import Accounts
    from imias.identity.passwords import Passwords

    username = f"head.{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(city, min_size=1, max_size=1)
    try:
        accounts = Accounts(pool, None, Passwords())  # type: ignore[arg-type]
        await accounts.create_staff(username, DEMO_PASSWORD, "clinic_admin", clinic_id=clinic_id)
    finally:
        await pool.close()
    return username


async def test_the_clinic_administrator_marks_a_doctor_sick_on_the_page(city, editor, other):
    from staffpages import hidden, sign_in

    day = weekday_ahead(editor, 6)
    slot = await doctor_working(editor, day)
    doctor, clinic = slot["doctor_id"], slot["clinic_id"]
    (patient,) = await adults(city, 1, offset=25)
    await book(editor, slot, patient["id"])
    username = await clinic_admin_account(city, clinic)
    signed, csrf = await sign_in(editor, "/admin", username)
    assert signed.status_code in (200, 303), signed.text
    start = await editor.get("/admin/schedules")
    assert start.status_code == 200 and f'value="{doctor}"' in start.text
    past = await editor.post(
        f"/admin/schedules/{clinic}/exceptions",
        data={"csrf": csrf, "doctor_id": str(doctor), "day": "2020-01-01", "kind": "sick",
              "hours": "day"},
    )  # fmt: skip
    assert past.status_code == 422 and "Этот день уже прошёл." in past.text
    foreign = next(c for c in editor.app_state.engine.directory.clinics if c != clinic)
    refused = await editor.get(f"/admin/schedules?clinic={foreign}")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    no_csrf = await editor.post(
        f"/admin/schedules/{clinic}/exceptions",
        data={"doctor_id": str(doctor), "day": day.isoformat(), "kind": "sick", "hours": "day"},
    )
    assert no_csrf.status_code == 403
    done = await editor.post(
        f"/admin/schedules/{clinic}/exceptions",
        data={"csrf": csrf, "doctor_id": str(doctor), "day": day.isoformat(), "kind": "sick",
              "hours": "day"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303, done.text
    assert "displaced=1" in done.headers["location"]
    shown = await editor.get(done.headers["location"])
    assert "Записи отменены у пациентов: 1." in shown.text and "/admin/relocations" in shown.text

    async def closed() -> bool:
        return set(states(other, doctor, day)) == {CLOSED}

    await wait_for(closed, "the sick day reached the other worker")
    week = await editor.get(f"/admin/schedules/{clinic}/doctors/{doctor}")
    assert week.status_code == 200 and day.isoformat() in week.text
    holidays = await editor.get("/admin/schedules/holidays")
    assert holidays.status_code == 200 and "Добавить праздник" not in holidays.text
    city_admin = bearer.administrator()
    picker = await other.get("/admin/schedules", headers=city_admin)
    assert picker.status_code == 200 and f"/admin/schedules?clinic={clinic}" in picker.text
    editable = await other.get("/admin/schedules/holidays", headers=city_admin)
    assert "Добавить праздник" in editable.text
    token = hidden(editable.text, "csrf")
    far = (editor.app_state.engine.today() + timedelta(days=45)).isoformat()
    form = {"csrf": token, "day": far, "name": "День медика"}
    added = await other.post(
        "/admin/schedules/holidays", data=form, headers=city_admin, follow_redirects=False
    )
    assert added.status_code == 303, added.text
    again = await other.post("/admin/schedules/holidays", data=form, headers=city_admin)
    assert again.status_code == 409 and "Этот день уже праздничный." in again.text
    removed = await other.post(
        f"/admin/schedules/holidays/{far}/remove", data={"csrf": token}, headers=city_admin,
        follow_redirects=False,
    )  # fmt: skip
    assert removed.status_code == 303
    assert (
        await fetch(city, "SELECT day FROM public_holidays WHERE day = $1", date.fromisoformat(far))
        == []
    )


async def test_a_booking_that_raced_an_edit_is_displaced_by_the_sweep_after_it(city, editor, other):
    """A booking placed by a worker whose engine had not yet applied a sick day lands in
    the sick day (the database knows no schedule); the sweep each such edit schedules a
    few seconds later displaces it as the edit's own were."""
    from imias.booking.relocation import Relocations
    from imias.booking.schedule_admin import ScheduleAdmin
    from imias.booking.service import BookingService

    admin = editor.app_state.schedules
    admin.sweep_after = 3600  # this test runs the sweep itself
    day = weekday_ahead(editor, 8)
    slot = await doctor_working(editor, day)
    doctor, clinic = slot["doctor_id"], slot["clinic_id"]
    sick = await editor.post(
        f"/api/v1/clinics/{clinic}/doctors/{doctor}/exceptions",
        json={"day": day.isoformat(), "kind": "sick"},
        headers=clinic_admin(clinic),
    )
    assert sick.status_code == 201, sick.text
    assert admin._sweeps, "the edit took time away: a sweep is scheduled"
    (patient,) = await adults(city, 1, offset=30)
    starts = datetime.fromisoformat(slot["starts_at"])
    raced = await fetch(
        city,
        "INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id, starts_at,"
        " ends_at, status, channel) SELECT $1, $2, $3, specialty_id, $4, $5, 'booked', 'web'"
        " FROM doctors WHERE id = $2 RETURNING id",
        clinic, doctor, patient["id"], starts, starts + timedelta(minutes=15),
    )  # fmt: skip
    pool = await asyncpg.create_pool(city, min_size=1, max_size=2)
    try:
        engine = Engine()
        await engine.load(pool)
        service = BookingService(pool, engine, apply_locally=True)
        service.relocations = Relocations(service)
        sweeper = ScheduleAdmin(service)
        assert await sweeper.displace_stragglers([doctor], day) == 1
        assert await sweeper.displace_stragglers([doctor], day) == 0
    finally:
        await pool.close()
    assert await status_of(city, raced[0]["id"]) == "cancelled"
    await agrees_with_database(city, other)


async def test_a_moved_patients_offered_time_taken_away_in_turn_is_offered_anew(
    city, editor, other
):
    """Doctor A falls ill: his patient is held a time with a colleague B (at his clinic
    or, with none free there, the earliest elsewhere). Then B falls
    ill too: the hold on B's time is not simply let go (the move would wait on a hold
    that is gone); the patient is offered another time again, under the same move."""
    day = weekday_ahead(editor, 4)
    slot = await doctor_working(editor, day)
    first, clinic = slot["doctor_id"], slot["clinic_id"]
    (patient,) = await adults(city, 1, offset=40)
    booked = await book(editor, slot, patient["id"])

    async def sick(doctor: int, at: int, on: date) -> dict:
        response = await editor.post(
            f"/api/v1/clinics/{at}/doctors/{doctor}/exceptions",
            json={"day": on.isoformat(), "kind": "sick"},
            headers=clinic_admin(at),
        )
        assert response.status_code == 201, response.text
        return response.json()

    await sick(first, clinic, day)
    (move,) = await fetch(
        city,
        "SELECT r.id, r.state, r.offer_clinic_id, r.offer_appointment_id, a.doctor_id,"
        "       (a.starts_at AT TIME ZONE c.time_zone)::date AS offer_day"
        "  FROM relocations r JOIN appointments a"
        "    ON a.clinic_id = r.offer_clinic_id AND a.id = r.offer_appointment_id"
        "  JOIN clinics c ON c.id = a.clinic_id"
        " WHERE r.clinic_id = $1 AND r.appointment_id = $2",
        clinic,
        booked["id"],
    )
    assert move["state"] == "offered" and move["doctor_id"] != first
    await agrees_with_database(city, other)

    # the colleague's day off, at his clinic
    change = await sick(move["doctor_id"], move["offer_clinic_id"], move["offer_day"])
    assert change["displaced"] >= 1
    (again,) = await fetch(
        city,
        "SELECT state, offer_appointment_id FROM relocations WHERE id = $1",
        move["id"],
    )
    assert await status_of(city, move["offer_appointment_id"]) != "held"
    # offered anew (another hold), or told that nothing is left: never a hold that is gone
    if again["state"] == "offered":
        assert again["offer_appointment_id"] != move["offer_appointment_id"]
        assert await status_of(city, again["offer_appointment_id"]) == "held"
    else:
        assert again["state"] in ("no_offer", "cancelled"), again
    await agrees_with_database(city, other)
