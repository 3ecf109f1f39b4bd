"""The medical record's pages in a real browser (headless Chromium, Playwright, a real
`imias serve`, as tests/e2e/test_browser.py): the doctor walks from her day list to a
signed protocol, the draft surviving a reload and a dropped connection, a diagnosis
picked through the ICD-10 type-ahead; the patient then reads it on the portal at a
phone's width. axe-core finds no serious or critical violation on any page reached."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from signin import adults, fetch
from test_browser import CHROMIUM, Pages, _needs

from imias.citygen.seed import DEMO_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_record_browser_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=12, doctors=200, patients=1500)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("record-browser") / "serve.log"
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


async def appointment_now(city: str, patient_id: int) -> tuple[int, int]:
    """An appointment under way today with a doctor who has none (written straight to the
    database: the server's clock cannot be moved): (appointment, doctor)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    starts = now - timedelta(minutes=now.minute % 5)
    (row,) = await fetch(
        city,
        """
        INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id, starts_at,
                                  ends_at, status, channel)
        SELECT d.clinic_id, d.id, $1, d.specialty_id, $2::timestamptz,
               $2::timestamptz + interval '30 minutes', 'booked', 'kiosk'
          FROM doctors d
         WHERE NOT EXISTS (SELECT 1 FROM appointments a WHERE a.doctor_id = d.id)
         ORDER BY d.id DESC LIMIT 1
        RETURNING id, doctor_id
        """,
        patient_id,
        starts,
    )
    return row["id"], row["doctor_id"]


async def earlier_pressures(city: str, patient: dict, values: list[int]) -> None:
    """Earlier systolic pressures (a month apart), so the card has a trend to draw."""
    now = datetime.now(UTC)
    for n, value in enumerate(values):
        await fetch(
            city,
            """
            INSERT INTO observations (patient_id, clinic_id, code, category, value, unit, low,
                                      high, interpretation, effective_at, author_id,
                                      recorded_at, updated_at)
            VALUES ($1, $2, '8480-6', 'vital-signs', $3::numeric, 'mm[Hg]', 90, 139,
                    CASE WHEN $3::numeric > 139 THEN 'H' ELSE 'N' END, $4, 1, $4, $4)
            """,
            patient["id"],
            patient["attached_clinic_id"],
            value,
            now - timedelta(days=30 * (len(values) - n)),
        )


async def test_a_visit_signed_by_the_doctor_and_read_by_the_patient(server, city, browser):
    (patient,) = await adults(city, 1, offset=30)
    appointment, doctor = await appointment_now(city, patient["id"])
    await earlier_pressures(city, patient, [146, 139])

    desk = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await desk.new_page()
    pages = Pages(page, "record-doctor")
    await page.goto(server + "/doctor")
    await page.fill("#username", f"doctor.{doctor}")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(server + "/doctor/day")
    await pages.check("day")
    await page.click(f'a[href="/doctor/visits/{appointment}"]')
    await page.wait_for_selector("#visit-form")
    await pages.check("visit-open")

    # typed, saved as a draft, kept across a reload
    await page.fill("#section-complaints", "Кашель и насморк три дня")
    await page.fill("#vital-8480-6", "128")
    await page.fill("#vital-8310-5", "37.4")
    await page.wait_for_selector("#draft-status >> text=/Черновик сохранён \\d\\d:\\d\\d/")
    await page.reload()
    assert await page.input_value("#section-complaints") == "Кашель и насморк три дня"
    assert await page.input_value("#vital-8310-5") == "37.4"
    assert re.search(r"Черновик сохранён \d\d:\d\d", await page.text_content("#draft-status"))

    # the connection drops: the browser keeps the text, and the reload restores it
    await page.route("**/draft", lambda route: route.abort())
    await page.fill("#section-history", "Контакт с больным ОРВИ")
    await page.wait_for_selector("#draft-status >> text=Нет связи с сервером")
    await page.unroute("**/draft")
    await page.reload()
    assert await page.input_value("#section-history") == "Контакт с больным ОРВИ"
    await page.wait_for_selector("#draft-status >> text=/Черновик сохранён \\d\\d:\\d\\d/")

    # a diagnosis picked through the type-ahead
    await page.fill("#section-conclusion", "Острый назофарингит")
    await page.click("#dx-0-code")
    await page.keyboard.type("J00", delay=60)
    option = page.locator("#dx-0-list [role=option]", has_text="J00")
    await option.first.wait_for()
    await pages.check("type-ahead")
    await option.first.click()
    assert await page.input_value("#dx-0-code") == "J00"
    assert (await page.text_content("#dx-0-title")).strip()
    await page.select_option("#dx-0-rank", "primary")
    await page.wait_for_selector("#draft-status >> text=/Черновик сохранён \\d\\d:\\d\\d/")
    await pages.check("visit-filled")

    await page.click("#sign")
    await page.wait_for_selector("#signed-protocol")
    signed = await page.text_content("#signed-protocol")
    assert "Кашель и насморк три дня" in signed and "J00" in signed
    assert "Контакт с больным ОРВИ" in signed
    await pages.check("visit-signed")
    (row,) = await fetch(
        city, "SELECT status FROM encounters WHERE appointment_id = $1", appointment
    )
    assert row["status"] == "finished"
    await desk.close()

    # the patient, on a phone
    phone = await browser.new_context(viewport={"width": 375, "height": 740}, locale="ru-RU")
    page = await phone.new_page()
    pages = Pages(page, "record-portal")
    await page.goto(server + "/")
    await page.fill("#policy_number", patient["policy_number"])
    await page.fill("#birth_date", patient["birth_date"].isoformat())
    await page.click("button[type=submit] >> text=Получить код по SMS")
    code = (await page.text_content("#demo-code") or "").strip()
    await page.fill("#code", code)
    await page.click("text=Войти")
    await page.wait_for_url(server + "/appointments")
    await page.click("header nav a >> text=Медицинская карта")
    await page.wait_for_url(server + "/record")
    await page.click("details.visit summary")
    assert await page.is_visible("text=Кашель и насморк три дня")
    assert "J00" in await page.text_content("section[aria-labelledby=diagnoses]")
    chart = page.locator("#trend-8480-6 svg[role=img]")
    assert "146 → 139 → 128" in await chart.get_attribute("aria-label")
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the card scrolls sideways by {wide}px at 375px"
    await pages.check("record-phone")
    await phone.close()
