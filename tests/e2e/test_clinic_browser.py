"""Running a clinic in a real browser (headless Debian Chromium, Playwright, a real
`imias serve`, as tests/e2e/test_browser.py): the city's administrator makes a
registrar's account on /admin/staff and reads its temporary password once; the new
registrar signs in at /registrar with it, is made to set her own, and works; the
administrator disables her and her open page stops working. A registrar puts a patient
without an appointment in today's walk-in queue; the duty doctor calls him and opens
his visit. axe-core finds no serious or critical violation on any of these pages."""

from __future__ import annotations

import re

import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from signin import adults, fetch
from test_browser import CHROMIUM, Pages, _needs

from imias.citygen.seed import DEMO_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.browser]

OWN_PASSWORD = "desk-own-password-77"


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_clinic_browser_{worker_id()}"
    url = await build_city_database(
        pg_admin_url, name, clinics=4, doctors=60, patients=300, with_certificates=False
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("clinic-browser") / "serve.log"
    with serve(city, redis_url, log, workers=1) as url:
        yield url


@pytest.fixture(scope="module")
async def browser():
    _needs()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        await b.close()


async def new_page(browser):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    return context, await context.new_page()


async def staff_sign_in(page, server: str, path: str, username: str, password: str) -> None:
    await page.goto(server + path)
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit] >> text=Войти")


async def test_an_account_is_made_used_and_disabled_on_the_pages(server, browser, city):
    clinic = (await fetch(city, "SELECT id FROM clinics ORDER BY id LIMIT 1"))[0]["id"]
    admin_context, admin = await new_page(browser)
    pages = Pages(admin, "admin-staff")
    await staff_sign_in(admin, server, "/admin/integrations", "admin", DEMO_PASSWORD)
    await admin.wait_for_url(server + "/admin")  # the dashboard, the admin's home
    await admin.click("nav a >> text=Сотрудники")
    await admin.wait_for_url(server + "/admin/staff")
    await pages.check("list")
    await admin.fill("#n-username", "desk.browser")
    await admin.fill("#n-name", "Соколова Ирина Павловна")
    await admin.select_option("#n-role", "registrar")
    await admin.fill("#n-clinic", str(clinic))
    await admin.click("button >> text=Создать и показать временный пароль")
    temporary = (await admin.text_content("#temporary-password") or "").strip()
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", temporary)
    row = admin.locator("tr[data-username='desk.browser']")
    assert "ждёт смены временного пароля" in await row.inner_text()
    await pages.check("created")

    desk_context, desk = await new_page(browser)
    desk_pages = Pages(desk, "registrar-first-sign-in")
    await staff_sign_in(desk, server, "/registrar", "desk.browser", temporary)
    await desk.wait_for_selector("#new_password")
    assert "Этот пароль временный" in await desk.locator("[role=status]").inner_text()
    await desk_pages.check("set-own-password")
    await desk.fill("#password", temporary)
    await desk.fill("#new_password", OWN_PASSWORD)
    await desk.fill("#new_password_again", OWN_PASSWORD)
    await desk.click("button >> text=Задать пароль и войти")
    await desk.wait_for_url(server + "/registrar/find")
    await desk_pages.check("working")

    await admin.reload()
    await admin.locator("tr[data-username='desk.browser'] button >> text=Отключить").click()
    await admin.wait_for_selector("[role=status] >> text=Учётная запись отключена")
    assert await row.get_attribute("data-disabled") == "yes"
    await pages.check("disabled")

    await desk.goto(server + "/registrar/day")
    await desk.wait_for_url(server + "/registrar")  # her session ended: the sign-in page
    await staff_sign_in(desk, server, "/registrar", "desk.browser", OWN_PASSWORD)
    assert "Эта учётная запись отключена" in await desk.locator("[role=alert]").inner_text()
    await desk_pages.check("refused")
    await admin.click("nav.lang a >> text=English")
    await admin.wait_for_selector("h1 >> text=Staff accounts")
    await pages.check("list-en")
    await desk_context.close()
    await admin_context.close()


async def test_a_walk_in_is_queued_by_the_desk_and_called_by_the_duty_doctor(server, browser, city):
    duty = (
        await fetch(
            city,
            "SELECT d.clinic_id, d.id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
            " WHERE s.self_referral ORDER BY d.clinic_id, d.id LIMIT 1",
        )
    )[0]
    clinic = duty["clinic_id"]
    patient = next(p for p in await adults(city, 10, offset=5) if p["attached_clinic_id"] != clinic)
    desk_context, desk = await new_page(browser)
    pages = Pages(desk, "registrar-walk-ins")
    await staff_sign_in(desk, server, "/registrar", f"registrar.{clinic}", DEMO_PASSWORD)
    await desk.wait_for_url(server + "/registrar/find")
    await desk.fill("#policy", patient["policy_number"])
    await desk.click("button >> text=Найти")
    await desk.click(f"a[href='/registrar/patients/{patient['id']}']")
    await desk.fill("#complaint", "Температура 38,5, кашель")
    await desk.check("#urgent")
    await pages.check("patient")
    await desk.click("button >> text=Поставить в очередь")
    await desk.wait_for_url(re.compile(r".*/registrar/walk-ins\?done=added"))
    assert await desk.text_content("#waiting-count") == "1"
    assert "Температура 38,5" in await desk.locator("tbody").inner_text()
    await pages.check("queue")

    doctor_context, doctor = await new_page(browser)
    doctor_pages = Pages(doctor, "doctor-walk-ins")
    await staff_sign_in(doctor, server, "/doctor", f"doctor.{duty['id']}", DEMO_PASSWORD)
    await doctor.wait_for_url(server + "/doctor/day")
    await doctor.click("nav a >> text=Очередь без записи")
    await doctor.wait_for_url(server + "/doctor/walk-ins")
    await doctor_pages.check("queue")
    await doctor.click("button >> text=Вызвать следующего")
    await doctor.wait_for_selector("[role=status] >> text=Пациент вызван")
    assert patient["family_name"] in await doctor.locator("[role=status]").inner_text()
    await doctor_pages.check("called")
    await doctor.click("button >> text=Открыть приём")
    await doctor.wait_for_url(re.compile(r".*/doctor/encounters/\d+"))
    assert patient["family_name"] in await doctor.content()
    await doctor_pages.check("visit")

    await desk.reload()
    assert await desk.text_content("#waiting-count") == "0"
    assert "вызван" in await desk.locator("tbody").inner_text()
    await doctor_context.close()
    await desk_context.close()
