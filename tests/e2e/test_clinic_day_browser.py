"""Issue #22's day at a clinic, end to end in a real browser (headless Debian Chromium,
Playwright) against a real `imias serve` run WITHOUT IMIAS_DEMO, whose notices go out
through the delivery worker to the SMS gateway simulator that IMIAS ships, over a real
socket, as on a phone:

- the clinic's head (the demo city's ``head.<clinic id>``) signs in, marks a doctor
  sick for his next working day with the short form and is told how many patients lost
  their appointment;
- each of them gets an SMS offering another time, held for them;
- one signs in on the portal with the code the gateway got, sees the offer and confirms;
- the dashboard shows it: the moved patients, confirmed and waiting.

axe-core finds no serious or critical violation on any page."""

from __future__ import annotations

import asyncio
import re
import time as clock
import uuid
from datetime import date, timedelta

import asyncpg
import bearer
import httpx
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from signin import adults, fetch
from test_browser import CHROMIUM, Pages, _needs

from imias.booking.engine import Engine
from imias.citygen.seed import DEMO_PASSWORD
from integrations import repository as partners_repo
from integrations.model import Partner
from integrations.simulators.sms import SmsGatewaySimulator

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_clinic_day_{worker_id()}"
    url = await build_city_database(
        pg_admin_url, name, clinics=4, doctors=60, patients=400, with_certificates=False
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def gateway(city):
    sim = SmsGatewaySimulator()
    await sim.start()
    conn = await asyncpg.connect(city)
    try:
        await partners_repo.save_partner(
            conn,
            Partner(id="clinic-day-sms", kind="sms_gateway", name="SMS", transport="sms",
                    url=sim.url, topics=["notice.sms"], backoff_ms=100, backoff_cap_ms=500),
        )  # fmt: skip
    finally:
        await conn.close()
    yield sim
    await sim.stop()


@pytest.fixture(scope="module")
def server(city, redis_url, gateway, tmp_path_factory):
    log = tmp_path_factory.mktemp("clinic-day") / "serve.log"
    with serve(city, redis_url, log, workers=2, secret_key=bearer.TEST_SECRET) as url:
        yield url  # no IMIAS_DEMO: codes and offers go by SMS only


@pytest.fixture(scope="module")
async def browser():
    _needs()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        await b.close()


async def eventually(predicate, timeout: float, what: str):  # noqa: ASYNC109
    deadline = clock.monotonic() + timeout
    while not (value := predicate()):
        if clock.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    return value


async def _booked_day(server: str, city: str) -> dict:
    """A therapist's next working day from tomorrow, with two patients booked with him
    at the registrar's desk (a colleague of his still has time that day)."""
    async with httpx.AsyncClient(base_url=server, timeout=10) as api:
        day = Engine().today() + timedelta(days=1)
        for _ in range(7):
            slots = (
                await api.get(
                    "/api/v1/slots",
                    params={"specialty": "therapist", "from": day.isoformat(),
                            "to": day.isoformat(), "limit": 50},
                )
            ).json()  # fmt: skip
            by_doctor: dict[int, list] = {}
            for s in slots:
                by_doctor.setdefault(s["doctor_id"], []).append(s)
            busy = [d for d, found in by_doctor.items() if len(found) >= 2]
            colleagues = {
                d: {s["clinic_id"] for s in found} for d, found in by_doctor.items()
            }  # fmt: skip
            chosen = next(
                (d for d in busy
                 if any(c != d and colleagues[c] == colleagues[d] for c in colleagues)),
                None,
            )  # fmt: skip
            if chosen is not None:
                break
            day += timedelta(days=1)
        else:
            raise AssertionError("no therapist with a colleague works this week")
        doctor_slots = sorted(by_doctor[chosen], key=lambda s: s["starts_at"])[-2:]
        clinic = doctor_slots[0]["clinic_id"]
        patients = [p for p in await adults(city, 400) if p["attached_clinic_id"] == clinic][:2]
        assert len(patients) == 2, "two adults attached to the clinic (a therapist's rule)"
        for patient, slot in zip(patients, doctor_slots, strict=True):
            booked = await api.post(
                "/api/v1/appointments",
                json={"patient_id": patient["id"], "doctor_id": chosen,
                      "starts_at": slot["starts_at"]},
                headers={"Idempotency-Key": uuid.uuid4().hex} | bearer.registrar(clinic),
            )  # fmt: skip
            assert booked.status_code == 201, booked.text
    return {"day": day, "doctor": chosen, "clinic": clinic, "patients": patients}


async def _sign_in_admin(page, server: str, username: str) -> None:
    await page.goto(server + "/admin/sign-in")
    await page.fill("#username", username)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(re.compile(r".*/admin(/.*)?$"))


async def test_a_sick_doctors_patients_are_offered_another_time_and_one_confirms(
    server, city, gateway, browser
):
    world = await _booked_day(server, city)
    day: date = world["day"]
    doctor, clinic = world["doctor"], world["clinic"]
    phones = {p["phone"]: p for p in world["patients"]}

    # The clinic's head marks the doctor sick for the day.
    admin = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await admin.new_page()
    pages = Pages(page, "clinic-day-admin")
    await _sign_in_admin(page, server, f"head.{clinic}")
    await pages.check("dashboard-before")
    await page.goto(server + "/admin/schedules")
    await page.select_option("#doctor_id", str(doctor))
    await page.fill("#day", day.isoformat())
    await page.select_option("#kind", "sick")
    await page.check("input[name=hours][value=day]")
    await page.click("button >> text=Сохранить")
    await page.wait_for_selector("[role=status]")
    assert "Записи отменены у пациентов: 2." in await page.locator("[role=status]").inner_text()
    await pages.check("sick-day")

    # Each patient gets an SMS offering another time (the gateway got it, as a phone).
    def offers() -> dict[str, str]:
        got = {m.extra["to"]: m.body for m in gateway.store.snapshot()}
        return got if set(phones) <= set(got) else {}

    texts = await eventually(offers, 30, "the offers' SMS at the gateway")
    for phone in phones:
        assert "/appointments" in texts[phone], texts[phone]  # where to confirm
    moved = await fetch(
        city,
        "SELECT id, patient_id, state, offer_appointment_id FROM relocations"
        " WHERE clinic_id = $1 ORDER BY id",
        clinic,
    )
    assert {r["patient_id"] for r in moved} == {p["id"] for p in world["patients"]}
    assert all(r["state"] == "offered" and r["offer_appointment_id"] for r in moved)

    # One of them confirms on her phone, signed in with the code the gateway got.
    patient = world["patients"][0]
    relocation = next(r["id"] for r in moved if r["patient_id"] == patient["id"])
    phone = await browser.new_context(viewport={"width": 375, "height": 812}, locale="ru-RU")
    portal = await phone.new_page()
    portal_pages = Pages(portal, "clinic-day-portal")
    before = len(gateway.store.snapshot())
    await portal.goto(server + "/")
    await portal.fill("#policy_number", patient["policy_number"])
    await portal.fill("#birth_date", patient["birth_date"].isoformat())
    await portal.click("button[type=submit] >> text=Получить код по SMS")
    assert await portal.query_selector("#demo-code") is None, "no demo shortcut"

    def code() -> str | None:
        for m in gateway.store.snapshot()[before:]:
            found = re.search(r"\b(\d{6})\b", m.body)
            if m.extra["to"] == patient["phone"] and found:
                return found.group(1)
        return None

    await portal.fill("#code", await eventually(code, 30, "the sign-in code's SMS"))
    await portal.click("text=Войти")
    await portal.wait_for_url(server + "/appointments")
    card = portal.locator(f"#move-{relocation}")
    assert "Мы держим для вас другое время до" in await card.inner_text()
    await portal_pages.check("offer")
    await card.locator("button >> text=Подтвердить").click()
    await portal.wait_for_url(re.compile(r".*/appointments\?booked=\d+$"))
    await portal_pages.check("confirmed")
    await phone.close()
    (state,) = await fetch(city, "SELECT state FROM relocations WHERE id = $1", relocation)
    assert state["state"] == "confirmed"

    # The dashboard shows it: of the two moved, one confirmed, one still offered.
    await page.goto(server + "/admin")
    moves = page.locator("#moves")
    assert await moves.get_attribute("data-confirmed") == "1"
    assert await moves.get_attribute("data-offered") == "1"
    await pages.check("dashboard-after")
    await admin.close()
