"""The patient's notification preference in a real browser, against a real `imias serve`
run WITHOUT IMIAS_DEMO: the sign-in code comes as an SMS through the delivery worker to
the SMS gateway simulator (as on a phone), the patient reads it there and signs in, opens
"Уведомления", is refused an address that is not one (a page, not JSON), chooses
e-mail and her quiet hours; axe-core finds no serious or critical violation on each
state; the choice is stored."""

from __future__ import annotations

import asyncio
import re
import time as clock
from datetime import time

import asyncpg
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from signin import adults, fetch
from test_browser import CHROMIUM, Pages, _needs

from integrations import repository as partners_repo
from integrations.model import Partner
from integrations.simulators.sms import SmsGatewaySimulator

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_notify_browser_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=4, doctors=40, patients=300)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def gateway(city):
    sim = SmsGatewaySimulator()  # any api_id
    await sim.start()
    conn = await asyncpg.connect(city)
    try:
        await partners_repo.save_partner(
            conn,
            Partner(id="browser-sms", kind="sms_gateway", name="SMS", transport="sms",
                    url=sim.url, topics=["notice.sms"], backoff_ms=100, backoff_cap_ms=500),
        )  # fmt: skip
    finally:
        await conn.close()
    yield sim
    await sim.stop()


@pytest.fixture(scope="module")
async def browser():
    _needs()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        await b.close()


@pytest.fixture
async def page(browser):
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    page = await context.new_page()
    yield page
    await context.close()


async def eventually(predicate, timeout: float, what: str):  # noqa: ASYNC109
    deadline = clock.monotonic() + timeout
    while not (value := predicate()):
        if clock.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value


@pytest.fixture(scope="module")
def server(city, redis_url, gateway, tmp_path_factory):
    log = tmp_path_factory.mktemp("notify-browser") / "serve.log"
    with serve(city, redis_url, log, workers=1) as url:  # no IMIAS_DEMO
        yield url


async def test_a_patient_signs_in_by_the_sms_and_chooses_e_mail(server, city, gateway, page):
    (patient,) = await adults(city, 1, offset=5)
    pages = Pages(page, "notifications")
    await page.goto(server + "/")
    await page.fill("#policy_number", patient["policy_number"])
    await page.fill("#birth_date", patient["birth_date"].isoformat())
    await page.click("button[type=submit] >> text=Получить код по SMS")
    assert await page.query_selector("#demo-code") is None, "no demo shortcut"

    def sms() -> list[str]:
        return [m.body for m in gateway.store.snapshot() if m.extra["to"] == patient["phone"]]

    (text,) = await eventually(sms, 20, "the code's SMS at the gateway")
    code = re.search(r"\b(\d{6})\b", text)
    assert code is not None, text
    await page.fill("#code", code.group(1))
    await page.click("text=Войти")
    await page.wait_for_url(server + "/appointments")

    await page.click("nav >> text=Уведомления")
    await page.wait_for_selector("h1 >> text=Уведомления")
    assert await page.is_checked("#channel-sms")
    assert await page.input_value("#quiet-start") == "22:00"
    await pages.check("preference")

    await page.check("#channel-email")
    # past the browser's own check of the field, as a script-less client could send it
    await page.evaluate("document.getElementById('email').type = 'text'")
    await page.fill("#email", "not-an-address")
    await page.click("button >> text=Сохранить")
    await page.wait_for_selector("[role=alert]")
    assert "Это не адрес электронной почты." in await page.text_content("[role=alert]")
    await pages.check("refused")

    await page.fill("#email", "patient@example.org")
    await page.fill("#quiet-start", "21:30")
    await page.fill("#quiet-end", "09:00")
    await page.select_option("#language", "en")
    await page.click("button >> text=Сохранить")
    await page.wait_for_selector("text=Сохранено.")
    await pages.check("saved")
    (row,) = await fetch(
        city, "SELECT * FROM notification_preferences WHERE patient_id = $1", patient["id"]
    )
    assert (row["channel"], row["email"], row["language"]) == (
        "email", "patient@example.org", "en",
    )  # fmt: skip
    assert (row["quiet_from"], row["quiet_to"]) == (time(21, 30), time(9, 0))
