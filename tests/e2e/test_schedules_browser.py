"""A clinic's schedules in a real browser (headless Debian Chromium, Playwright, a real
`imias serve` with two workers, as tests/e2e/test_admin_browser.py): a clinic
administrator signs in, marks a doctor sick for a day with the short form, is told that
the doctor's patient lost her appointment, and the doctor's slots of that day disappear
from the public search (whichever worker answers: each learns the change from the
stream). The doctor's week and the holidays' page too; axe-core finds no serious or
critical violation on any page, at desktop width."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import asyncpg
import bearer
import httpx
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from signin import adults
from test_browser import CHROMIUM, Pages, _needs

from imias.booking.engine import Engine
from imias.citygen.seed import DEMO_PASSWORD
from imias.identity.accounts import Accounts
from imias.identity.passwords import Passwords

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_schedules_browser_{worker_id()}"
    url = await build_city_database(
        pg_admin_url, name, clinics=4, doctors=40, patients=200, with_certificates=False
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("schedules-browser") / "serve.log"
    with serve(city, redis_url, log, workers=2, secret_key=bearer.TEST_SECRET) as url:
        yield url


@pytest.fixture(scope="module")
async def browser():
    _needs()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        await b.close()


def next_weekday() -> date:
    day = Engine().today() + timedelta(days=1)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return day


async def test_a_clinic_administrator_marks_a_doctor_sick_and_the_slots_go(server, city, browser):
    day = next_weekday()
    async with httpx.AsyncClient(base_url=server, timeout=10) as api:
        slots = (
            await api.get(
                "/api/v1/slots",
                params={"specialty": "ophthalmologist", "from": day.isoformat(),
                        "to": day.isoformat(), "limit": 1},
            )
        ).json()  # fmt: skip
        assert slots, f"nobody works on {day}"
        slot = slots[0]
        doctor, clinic = slot["doctor_id"], slot["clinic_id"]
        (patient,) = await adults(city, 1, offset=3)
        booked = await api.post(
            "/api/v1/appointments",
            json={"patient_id": patient["id"], "doctor_id": doctor,
                  "starts_at": slot["starts_at"]},
            headers={"Idempotency-Key": uuid.uuid4().hex} | bearer.registrar(clinic),
        )  # fmt: skip
        assert booked.status_code == 201, booked.text
    username = f"head.{uuid.uuid4().hex[:6]}"
    pool = await asyncpg.create_pool(city, min_size=1, max_size=1)
    try:
        accounts = Accounts(pool, None, Passwords())  # type: ignore[arg-type]
        await accounts.create_staff(
            username, DEMO_PASSWORD, "clinic_admin", clinic_id=clinic, full_name="Заведующая"
        )
    finally:
        await pool.close()

    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await context.new_page()
    pages = Pages(page, "admin-schedules")
    await page.goto(server + "/admin/schedules")
    await page.wait_for_url(server + "/admin/sign-in")
    await page.fill("#username", username)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_load_state()
    await page.goto(server + "/admin/schedules")
    assert await page.locator(f"#doctor-{doctor}").count() == 1
    await pages.check("clinic")

    await page.select_option("#doctor_id", str(doctor))
    await page.fill("#day", day.isoformat())
    await page.select_option("#kind", "sick")
    await page.check("input[name=hours][value=day]")
    await page.click("button >> text=Сохранить")
    await page.wait_for_selector("[role=status]")
    status = await page.locator("[role=status]").inner_text()
    assert "Записи отменены у пациентов: 1." in status
    moved = page.locator("a[href='/admin/relocations']", has_text="Пациенты, которым нужно")
    assert await moved.count() == 1  # besides the menu's link
    await pages.check("sick-day-saved")

    await page.click(f"#doctor-{doctor} a")
    await page.wait_for_url(f"{server}/admin/schedules/{clinic}/doctors/{doctor}")
    assert day.isoformat() in await page.locator("li[id^=exception-]").first.inner_text()
    await pages.check("doctor-week")
    await page.goto(server + "/admin/schedules/holidays")
    await pages.check("holidays")
    await page.click("nav.lang a >> text=English")
    await page.wait_for_selector("h1 >> text=The city's public holidays")
    await pages.check("holidays-en")
    await context.close()

    # The public search: whichever worker answers, the doctor's day is gone.
    async with httpx.AsyncClient(base_url=server, timeout=10) as api:
        for _ in range(100):
            answers = [
                (
                    await api.get(
                        "/api/v1/slots",
                        params={"doctor": doctor, "from": day.isoformat(), "to": day.isoformat()},
                    )
                ).json()
                for _ in range(4)
            ]
            if all(a == [] for a in answers):
                break
            await asyncio.sleep(0.1)
        assert all(a == [] for a in answers), answers
