"""A moved appointment in a real browser (headless Chromium, Playwright, a real `imias
serve`, as tests/e2e/test_browser.py): a doctor falls sick for a day, her patient signs
in on a phone-sized portal (375 px), sees the slot held for her with another doctor and
confirms it; the clinic's administrator sees the move on /admin/relocations, in Russian
and in English. axe-core finds no serious or critical violation on any of these pages."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from test_browser import CHROMIUM, Pages, _needs

from imias.booking import BookingService, Engine, search
from imias.citygen.seed import DEMO_PASSWORD
from imias.platform.db import create_pool
from scheduler_core import events as ev

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_relocation_browser_{worker_id()}"
    url = await build_city_database(
        pg_admin_url, name, clinics=6, doctors=90, patients=400, with_certificates=False
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("relocation-browser") / "serve.log"
    with serve(city, redis_url, log, workers=1, demo="1") as url:
        yield url


@pytest.fixture(scope="module")
async def browser():
    _needs()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        await b.close()


@pytest.fixture(scope="module")
async def moved(city, server):
    """A patient booked with a doctor who has a colleague of her specialty free that day;
    the doctor falls sick for the day (the exception written, her appointments displaced
    and her time closed, in one transaction, as the schedule's editing does)."""
    pool = await create_pool(city, 2)
    try:
        engine = Engine()
        await engine.load(pool)
        service = BookingService(pool, engine, apply_locally=True)
        day = engine.first_day + timedelta(days=2)
        while day.isoweekday() > 5:
            day += timedelta(days=1)

        def free(doctor: int) -> list:
            return search.doctor_slots(engine, doctor, 3, first=day, last=day, channel=1)

        sick = None
        for doctors in engine.directory.doctors_of_clinic.values():
            for d in doctors:
                spec = engine.directory.specialties[d.specialty_id]
                if spec.attached_only or not spec.self_referral or spec.sex or spec.max_age < 90:
                    continue
                if free(d.id) and any(
                    free(c.id) for c in doctors if c.id != d.id and c.specialty_id == spec.id
                ):
                    sick = d
                    break
            if sick:
                break
        assert sick is not None, "no doctor with a colleague free the same day"
        patient = await pool.fetchrow(
            "SELECT id, policy_number, birth_date FROM patients "
            "WHERE birth_date < now() - interval '25 years' AND birth_date > now() - "
            "interval '60 years' AND phone IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM appointments a WHERE a.patient_id = patients.id) ORDER BY id LIMIT 1"
        )
        old = await service.book(
            patient["id"], sick.id, free(sick.id)[0].starts_at, "web", "browser-move-0001"
        )
        zone = ZoneInfo(engine.directory.clinics[sick.clinic_id].time_zone)
        since = datetime.combine(day, time(0), tzinfo=zone)
        writes = service.writes()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO schedule_exceptions (clinic_id, doctor_id, day, kind) "
                "VALUES ($1, $2, $3, 'sick')",
                sick.clinic_id,
                sick.id,
                day,
            )
            rows = await conn.fetch(
                "SELECT * FROM appointments WHERE clinic_id = $1 AND doctor_id = $2 "
                "AND starts_at >= $3 AND starts_at < $4 AND status IN ('held', 'booked') "
                "FOR UPDATE",
                sick.clinic_id,
                sick.id,
                since,
                since + timedelta(days=1),
            )
            await service.relocations.displace(
                conn, rows, now=service.clock(), writes=writes, reason="sick", by=None
            )
            units = engine.geometry.units_per_day
            await writes.emit(
                conn, ev.SlotsClosed(sick.id, day.toordinal(), 0, units), sick.clinic_id
            )
        writes.applied()
        relocation = await pool.fetchval(
            "SELECT id FROM relocations WHERE appointment_id = $1", old.id
        )
        # the clinic's administrator, who signs in on /admin
        await pool.execute(
            "INSERT INTO staff_accounts (username, role, full_name, clinic_id, password_hash) "
            "SELECT 'head.browser', 'clinic_admin', 'Заведующая', $1, password_hash "
            "FROM staff_accounts WHERE username = 'admin'",
            sick.clinic_id,
        )
        return {
            "patient": patient,
            "relocation": relocation,
            "clinic": sick.clinic_id,
            "doctor": sick,
        }
    finally:
        await pool.close()


async def test_the_patient_confirms_the_held_slot_on_a_phone(server, browser, moved):
    context = await browser.new_context(viewport={"width": 375, "height": 812}, locale="ru-RU")
    page = await context.new_page()
    pages = Pages(page, "relocation-portal")
    patient = moved["patient"]
    await page.goto(server + "/")
    await page.fill("#policy_number", patient["policy_number"])
    await page.fill("#birth_date", patient["birth_date"].isoformat())
    await page.click("button[type=submit] >> text=Получить код по SMS")
    code = (await page.text_content("#demo-code") or "").strip()
    assert re.fullmatch(r"\d{6}", code)
    await page.fill("#code", code)
    await page.click("text=Войти")
    await page.wait_for_url(server + "/appointments")
    card = page.locator(f"#move-{moved['relocation']}")
    text = await card.inner_text()
    assert "Запись перенесена клиникой" in text
    assert "врач заболел" in text and moved["doctor"].family_name in text
    assert "Мы держим для вас другое время до" in text
    await pages.check("offer")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, "the offer fits a phone's width"

    await card.locator("button >> text=Подтвердить").click()
    await page.wait_for_url(re.compile(r".*/appointments\?booked=\d+$"))
    assert "Готово: вы записаны." in await page.content()
    assert await page.locator(f"#move-{moved['relocation']}").count() == 0
    await pages.check("confirmed")

    await page.click("nav.lang a >> text=English")
    await page.wait_for_selector("h1 >> text=My appointments")
    await pages.check("confirmed-en")
    await context.close()


async def test_the_clinic_administrator_sees_the_moves(server, browser, moved):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await context.new_page()
    pages = Pages(page, "relocation-admin")
    await page.goto(server + "/admin/relocations")
    await page.wait_for_url(server + "/admin/sign-in")
    await page.fill("#username", "head.browser")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(re.compile(r".*/admin(/.*)?$"))  # the dashboard
    await page.goto(server + "/admin/relocations")
    row = page.locator(f"tr[data-relocation='{moved['relocation']}']")
    assert await row.count() == 1
    assert "болезнь" in await row.inner_text()
    state = await row.get_attribute("data-state")
    assert state in ("offered", "confirmed")  # confirmed if the patient's walk ran first
    assert int(await page.locator(f"a[data-state={state}] .n").inner_text()) >= 1
    await pages.check("list")
    # another clinic's list is refused, as a page
    other = next(c for c in range(1, 7) if c != moved["clinic"])
    refused = await page.goto(server + f"/admin/relocations?clinic={other}")
    assert refused.status == 403
    await page.goto(server + "/admin/relocations")
    await page.click("nav.lang a >> text=English")
    await page.wait_for_selector("h1 >> text=Moved appointments")
    await pages.check("list-en")
    await context.close()
