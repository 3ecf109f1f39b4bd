"""E-prescriptions in a real browser (headless Chromium, Playwright, a real `imias
serve`, as tests/e2e/test_browser.py): the doctor records a penicillin allergy in the
visit and the amoxicillin she then picks through the type-ahead is shown as
contraindicated at once (an alert); she signs amlodipine instead; the patient finds its
QR code on the portal, which a QR reader decodes (zxing-cpp) into the prescription's
code; the pharmacist types that code at the counter, dispenses 20, then the last 10,
and the next try is refused in Russian. axe-core finds no serious or critical
violation on any page reached."""

from __future__ import annotations

import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from signin import adults, fetch
from test_browser import CHROMIUM, SCREENSHOTS, Pages, _needs
from test_record_browser import appointment_now

from imias.citygen.seed import DEMO_PASSWORD
from prescriptions import REFUSALS

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_rx_browser_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=12, doctors=200, patients=1500)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("rx-browser") / "serve.log"
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


async def pick_drug(page, typed: str, name: str) -> None:
    await page.fill("#rx-drug", "")
    await page.click("#rx-drug")
    await page.keyboard.type(typed, delay=60)
    option = page.locator("#rx-drug-list [role=option]", has_text=name)
    await option.first.wait_for()
    await option.first.click()
    assert await page.input_value("#rx-drug") == name


async def test_prescribed_shown_as_qr_decoded_and_dispensed_in_two_parts(server, city, browser):
    import zxingcpp
    from PIL import Image

    (patient,) = await adults(city, 1, offset=40)
    appointment, doctor = await appointment_now(city, patient["id"])

    desk = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await desk.new_page()
    pages = Pages(page, "rx-doctor")
    await page.goto(server + "/doctor")
    await page.fill("#username", f"doctor.{doctor}")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(server + "/doctor/day")
    await page.goto(server + f"/doctor/visits/{appointment}")
    await page.wait_for_selector("#rx-form")

    # a penicillin allergy, recorded in the visit
    await page.select_option("#substance", "J01C")
    await page.select_option("#criticality", "high")
    await page.click("button >> text=Записать аллергию")
    await page.wait_for_selector("text=Аллергия записана.")

    # amoxicillin: the allergy is said at once, as an alert
    await pick_drug(page, "амокс", "амоксициллин")
    await page.fill("#rx-per-day", "3")
    await page.fill("#rx-days", "7")
    alert = page.locator("#rx-findings [role=alert]")
    await alert.wait_for()
    assert "Аллергия пациента" in await alert.text_content()
    assert await page.is_visible("#rx-override")  # signing would need the override's reason
    await pages.check("allergy-alert")

    # amlodipine, 30 tablets: nothing against it; signed
    await pick_drug(page, "амлод", "амлодипин")
    await page.select_option("#rx-product", "C08CA01-TAB-5")
    await page.fill("#rx-per-day", "1")
    await page.fill("#rx-days", "30")
    await page.fill("#rx-quantity", "30")
    await page.wait_for_selector("#rx-computed >> text=Будет выписано за период: 30")
    assert await alert.count() == 0
    assert await page.is_hidden("#rx-override")
    await pages.check("amlodipine-checked")
    await page.click("#rx-sign")
    await page.wait_for_selector("text=Рецепт подписан.")
    listed = await page.text_content("ul.rx-list")
    assert "амлодипин" in listed and "амоксициллин" not in listed
    await pages.check("prescribed")
    (row,) = await fetch(city, "SELECT id FROM prescriptions WHERE patient_id = $1", patient["id"])
    number = row["id"]
    await desk.close()

    # the patient, on a phone: the QR code of the prescription
    phone = await browser.new_context(viewport={"width": 375, "height": 740}, locale="ru-RU")
    page = await phone.new_page()
    pages = Pages(page, "rx-portal")
    await page.goto(server + "/")
    await page.fill("#policy_number", patient["policy_number"])
    await page.fill("#birth_date", patient["birth_date"].isoformat())
    await page.click("button[type=submit] >> text=Получить код по SMS")
    code = (await page.text_content("#demo-code") or "").strip()
    await page.fill("#code", code)
    await page.click("text=Войти")
    await page.wait_for_url(server + "/appointments")
    await page.click("header nav a >> text=Рецепты")
    await page.wait_for_url(server + "/prescriptions")
    qr = page.locator(f"#qr-{number} svg")
    await qr.wait_for()
    assert str(number) in await page.text_content(f"#rx-{number}")
    await pages.check("prescriptions")
    shot = SCREENSHOTS / "rx-portal" / "qr.png"
    await qr.screenshot(path=str(shot))
    decoded = [b.text for b in zxingcpp.read_barcodes(Image.open(shot))]
    assert len(decoded) == 1 and decoded[0].startswith(f"RX1.MOW.{number}."), decoded
    # the service worker keeps the page: the QR code can be shown with no connection
    await page.reload()
    await page.wait_for_function(
        """async (number) => {
          const r = await caches.match(location.origin + "/prescriptions");
          return r ? (await r.text()).includes("qr-" + number) : false;
        }""",
        arg=number,
    )
    await phone.set_offline(True)
    await page.goto(server + "/prescriptions")
    assert await page.is_visible(f"#qr-{number} svg")
    assert await page.is_visible("#offline-note")
    await pages.check("prescriptions-offline")
    await phone.set_offline(False)
    await phone.close()

    # the pharmacist types the decoded code; dispenses 20, then the last 10
    counter = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await counter.new_page()
    pages = Pages(page, "rx-pharmacy")
    await page.goto(server + "/pharmacy")
    await pages.check("sign-in")
    await page.fill("#username", "pharmacist.1")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(server + "/pharmacy/counter")
    # no BarcodeDetector in this Chromium build on Linux: the camera button stays hidden
    has_detector = await page.evaluate("'BarcodeDetector' in window")
    assert await page.is_visible("#camera") == has_detector
    await pages.check("counter")

    async def scan() -> None:
        await page.fill("#code", decoded[0])
        await page.click("#scan-code button[type=submit]")
        await page.wait_for_selector(f"#view-{number}")

    await scan()
    assert (await page.text_content(f"#left-{number}")).strip() == "30"
    assert "Подпись врача подтверждена" in await page.text_content(f"#signature-{number}")
    await pages.check("scanned")
    await page.fill(f"#quantity-{number}", "20")
    await page.click(f"#view-{number} button >> text=Отпустить")
    await page.wait_for_selector("text=Отпущено: 20.")
    assert (await page.text_content(f"#left-{number}")).strip() == "10"
    await page.fill(f"#quantity-{number}", "10")
    await page.click(f"#view-{number} button >> text=Отпустить")
    await page.wait_for_selector("text=Отпущено: 10.")
    assert (await page.text_content(f"#left-{number}")).strip() == "0"
    await pages.check("dispensed")

    # a third try: refused, in Russian, and nothing can be dispensed
    await scan()
    refusal = page.locator(f"#refusal-{number}")
    assert (await refusal.text_content()).strip() == REFUSALS["nothing_left"][1]
    assert await refusal.get_attribute("role") == "alert"
    assert await page.locator(f"#quantity-{number}").count() == 0
    await pages.check("refused")
    (total,) = await fetch(
        city, "SELECT sum(quantity) AS n FROM dispensings WHERE prescription_id = $1", number
    )
    assert total["n"] == 30
    await counter.close()
