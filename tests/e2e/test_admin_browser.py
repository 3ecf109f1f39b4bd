"""The administrator's integrations page in a real browser (headless Debian Chromium,
Playwright, a real `imias serve`, as tests/e2e/test_browser.py): the demo city's
administrator signs in, sees a partner that is down (its simulator is not running)
with its pending and dead messages and its error, opens its newest messages, and sends
the dead ones again with the form's button; in Russian and in English. axe-core finds
no serious or critical violation on any of these pages."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from test_browser import CHROMIUM, Pages, _needs

from imias.citygen.seed import DEMO_PASSWORD
from integrations import repository as repo
from integrations.model import Partner

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_admin_browser_{worker_id()}"
    url = await build_city_database(
        pg_admin_url, name, clinics=4, doctors=40, patients=200, with_certificates=False
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def partner(city) -> str:
    """A school's journal at a port where nothing listens: two messages refused for
    good (dead), one waiting (its worker keeps failing on the closed port)."""
    partner_id = f"school-{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(city)
    try:
        await repo.save_partner(
            conn,
            Partner(
                id=partner_id, kind="school_journal", name="Школа № 57", transport="http",
                url="http://127.0.0.1:9/messages", topics=["school.absence"],
                backoff_ms=1000, backoff_cap_ms=60_000,
            ),
        )  # fmt: skip
        for n, (status, error) in enumerate(
            [("dead", "HTTP 422: unknown class"), ("dead", "HTTP 422: unknown class"),
             ("pending", None)]
        ):  # fmt: skip
            await conn.execute(
                "INSERT INTO deliveries (partner_id, patient_id, message_id, source, kind,"
                " content_type, body, status, attempts, last_error)"
                " VALUES ($1, $2, $3, $4, 'school.absence', 'application/json', '{}', $5, 1, $6)",
                partner_id, 10 + n, str(uuid.uuid4()), f"e2e:{n}", status, error,
            )  # fmt: skip
    finally:
        await conn.close()
    return partner_id


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory, partner):
    log = tmp_path_factory.mktemp("admin-browser") / "serve.log"
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


async def test_the_administrator_sees_a_failing_partner_and_retries(server, browser, partner):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await context.new_page()
    pages = Pages(page, "admin-integrations")
    await page.goto(server + "/admin/integrations")
    await page.wait_for_url(server + "/admin/sign-in")
    await pages.check("sign-in")
    await page.fill("#username", "admin")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(server + "/admin")  # the dashboard, whose nav leads on
    await page.click("nav >> text=Внешние системы")
    await page.wait_for_url(server + "/admin/integrations")
    row = page.locator(f"#partner-{partner}")
    # its worker tries the closed port: the partner is seen failing, with the error
    for _ in range(100):
        await page.reload()
        if await row.get_attribute("data-failing") == "yes":
            break
        await page.wait_for_timeout(200)
    assert await row.get_attribute("data-failing") == "yes"
    assert await row.get_attribute("data-dead") == "2"
    assert "Школа № 57" in await row.inner_text()
    await pages.check("overview")

    await row.locator("a").click()
    await page.wait_for_url(server + f"/admin/integrations/{partner}")
    assert await page.locator("tr[data-status=dead]").count() == 2
    await pages.check("messages")

    await page.click("button >> text=Отправить недоставленные снова")
    await page.wait_for_url(f"{server}/admin/integrations?retried={partner}&n=2")
    assert "снова в очереди сообщений: 2" in await page.locator("[role=status]").inner_text()
    assert await page.locator(f"#partner-{partner}").get_attribute("data-dead") == "0"
    await pages.check("retried")

    await page.click("nav.lang a >> text=English")
    await page.wait_for_selector("h1 >> text=Outside systems: message delivery")
    await pages.check("overview-en")
    await context.close()
