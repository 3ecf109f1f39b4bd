"""The dashboard in a real browser (headless Debian Chromium, Playwright, a real `imias
serve`, as tests/e2e/test_admin_browser.py): a city with a week of history, its
aggregates rebuilt by `imias insights rebuild`; the city's administrator signs in and
sees the city's figures, filters them by district, opens a clinic and reads the page in
English; a clinic's head sees her clinic (and the city's totals), never another clinic's
row. axe-core finds no serious or critical violation on any of these pages."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from test_browser import CHROMIUM, Pages, _needs

from imias.citygen.seed import DEMO_PASSWORD
from imias.identity.accounts import Accounts
from imias.identity.passwords import Passwords

pytestmark = [pytest.mark.slow, pytest.mark.browser]

IMIAS = Path(sys.executable).with_name("imias")


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_dashboard_browser_{worker_id()}"
    url = await build_city_database(
        pg_admin_url,
        name,
        clinics=6,
        doctors=60,
        patients=600,
        history_days=7,
        with_certificates=False,
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def rebuilt(city, tmp_path_factory) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    env |= {
        "IMIAS_DATABASE_URL": city,
        "IMIAS_DATA_DIR": str(tmp_path_factory.mktemp("rebuild")),
        "IMIAS_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [str(IMIAS), "insights", "rebuild", "--days", "8"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "insights rebuilt" in done.stderr
    return city


@pytest.fixture(scope="module")
async def head(city) -> tuple[str, int, str, str]:
    """A clinic administrator's account: (username, her clinic, its name, another's)."""
    conn = await asyncpg.connect(city)
    try:
        rows = await conn.fetch("SELECT id, name FROM clinics ORDER BY id LIMIT 2")
    finally:
        await conn.close()
    username = f"head.{uuid.uuid4().hex[:6]}"
    pool = await asyncpg.create_pool(city, min_size=1, max_size=1)
    try:
        accounts = Accounts(pool, None, Passwords())  # type: ignore[arg-type]
        await accounts.create_staff(
            username, DEMO_PASSWORD, "clinic_admin", clinic_id=rows[0]["id"]
        )
    finally:
        await pool.close()
    return username, rows[0]["id"], rows[0]["name"], rows[1]["name"]


@pytest.fixture(scope="module")
def server(rebuilt, redis_url, tmp_path_factory, head):
    log = tmp_path_factory.mktemp("dashboard-browser") / "serve.log"
    with serve(rebuilt, redis_url, log, workers=1) as url:
        yield url


@pytest.fixture(scope="module")
async def browser():
    _needs()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        await b.close()


async def sign_in(page, server: str, username: str) -> None:
    await page.goto(server + "/admin")
    await page.wait_for_url(server + "/admin/sign-in")
    await page.fill("#username", username)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(server + "/admin")


async def rows(page, table: str) -> list[str]:
    return await page.eval_on_selector_all(
        f"#{table} tbody tr th[scope=row]", "cells => cells.map(c => c.textContent.trim())"
    )


async def test_the_city_administrator_reads_the_city(server, browser):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await context.new_page()
    pages = Pages(page, "admin-dashboard")
    await sign_in(page, server, "admin")
    assert await page.locator("h1").inner_text() == "Панель показателей"
    # a week of history: bookings made, time booked against the schedules, no-shows
    assert await page.locator("#table-served tbody tr").count() >= 7
    specialties = await rows(page, "table-load")
    assert len(specialties) >= 3
    assert "%" in await page.locator("#tile-load strong").inner_text()
    # the earliest slot is sampled by the job once the engine is loaded
    for _ in range(60):
        if await page.locator("#table-map tbody tr").count():
            break
        await page.wait_for_timeout(500)
        await page.reload()
    assert await page.locator("#table-map tbody tr").count() == 6
    await page.click("text=Внешние системы: доставка сообщений")
    await page.wait_for_url(server + "/admin/integrations")
    await page.go_back()
    for name in ("table-served", "table-load", "table-map"):
        await page.locator(f"#{name}").evaluate("t => t.closest('details').open = true")
    await pages.check("city")

    district = (
        await page.eval_on_selector_all("#f-district option", "os => os.map(o => o.value)")
    )[1]
    await page.select_option("#f-district", district)
    await page.click("button >> text=Показать")
    await page.wait_for_url("**/admin?*district=*")
    on_map = await page.eval_on_selector_all(
        "#table-map tbody tr td:nth-child(2)", "cells => cells.map(c => c.textContent.trim())"
    )
    assert on_map and set(on_map) == {district}
    await pages.check("district")

    await page.locator("#table-map").evaluate("t => t.closest('details').open = true")
    await page.locator("#table-map tbody tr th a").first.click()
    await page.wait_for_url("**/admin?clinic=*")
    assert await page.locator("h1").inner_text() != "Панель показателей"
    await pages.check("clinic")

    await page.click("nav.lang a >> text=English")
    await page.wait_for_selector("h1 >> text=Dashboard")
    await pages.check("clinic-en")
    await context.close()


async def test_a_clinic_head_sees_her_clinic_only(server, browser, head):
    username, clinic_id, name, other = head
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await context.new_page()
    pages = Pages(page, "admin-dashboard-head")
    await sign_in(page, server, username)
    assert name in await page.locator("h1").inner_text()
    text = await page.content()
    assert other not in text
    assert await page.locator("#table-map").count() == 0
    assert await page.locator("#f-district").count() == 0
    assert "по городу" in await page.locator("#tile-load").inner_text()
    assert await page.locator("nav >> text=Внешние системы").count() == 0
    for row in await page.eval_on_selector_all(
        "#table-waits tr[data-clinic]", "rs => rs.map(r => r.dataset.clinic)"
    ):
        assert row == str(clinic_id)
    await pages.check("clinic")
    # another clinic's figures are refused, as a page
    answer = await page.goto(server + "/admin?clinic=999999")
    assert answer is not None and answer.status in (403, 404)
    assert other not in await page.content()
    await pages.check("refused")
    await context.close()
