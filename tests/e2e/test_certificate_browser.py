"""Medical certificates in a real browser (headless Chromium, Playwright, a real `imias
serve`, as tests/e2e/test_browser.py): the ophthalmologist and the psychiatrist conclude
in their visits (the psychiatrist is offered no restriction), the therapist is refused
while a conclusion is missing and then issues the driver's certificate; the patient,
on a 375-pixel phone, finds its QR code on the portal, which a QR reader decodes into
the signed text, with no sideways scroll, and still sees it with no connection.
axe-core finds no serious or critical violation on any page reached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from signin import adults, fetch
from test_browser import CHROMIUM, SCREENSHOTS, Pages, _needs

from imias.citygen.seed import DEMO_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_certificate_browser_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=12, doctors=200, patients=1500)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("certificate-browser") / "serve.log"
    # The city's clinic keys are sealed with the tests' secret (citydb seeds with it).
    with serve(city, redis_url, log, workers=1, demo="1", secret_key=TEST_SECRET) as url:
        yield url


@pytest.fixture(scope="module")
async def browser():
    _needs()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        await b.close()


async def appointment_now(city: str, patient: dict, specialty: str) -> tuple[int, int]:
    """An appointment under way with a doctor of ``specialty`` (the patient's own clinic's
    for primary care), written straight to the database (the server's clock cannot be
    moved): (appointment, doctor)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    starts = now - timedelta(minutes=now.minute % 5)
    (row,) = await fetch(
        city,
        """
        INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id, starts_at,
                                  ends_at, status, channel)
        SELECT d.clinic_id, d.id, $1, d.specialty_id, $2::timestamptz,
               $2::timestamptz + interval '30 minutes', 'booked', 'kiosk'
          FROM doctors d JOIN specialties s ON s.id = d.specialty_id
         WHERE s.code = ANY($3::text[]) AND ($4::bigint IS NULL OR d.clinic_id = $4)
         ORDER BY d.id LIMIT 1
        RETURNING id, doctor_id
        """,
        patient["id"],
        starts,
        ["therapist", "general_practitioner"] if specialty == "therapist" else [specialty],
        patient["attached_clinic_id"] if specialty == "therapist" else None,
    )
    return row["id"], row["doctor_id"]


async def open_visit(page, server: str, city: str, patient: dict, specialty: str) -> int:
    """The doctor of a new appointment of ``specialty`` signed in, her visit open."""
    appointment, doctor = await appointment_now(city, patient, specialty)
    await page.context.clear_cookies()
    await page.goto(server + "/doctor")
    await page.fill("#username", f"doctor.{doctor}")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(server + "/doctor/day")
    await page.goto(server + f"/doctor/visits/{appointment}")
    await page.wait_for_selector("#visit-form")
    return appointment


async def test_concluded_issued_and_shown_as_a_qr_on_a_phone(server, city, browser):
    import zxingcpp
    from PIL import Image

    (patient,) = await adults(city, 1, offset=50)
    patient = dict(patient)
    desk = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = await desk.new_page()
    pages = Pages(page, "certificates-doctor")

    # the ophthalmologist: glasses or lenses
    await open_visit(page, server, city, patient, "ophthalmologist")
    offered = await page.eval_on_selector_all(
        "#conclusion-form input[type=checkbox]", "es => es.map(e => e.name)"
    )
    assert offered == [
        "restriction-01.01",
        "restriction-01.02",
        "restriction-01.06",
        "restriction-05.01",
    ]
    await page.check("#verdict-restricted")
    await page.check("#restriction-01\\.06")
    await pages.check("ophthalmologist-conclusion")
    await page.click("#conclude")
    await page.wait_for_selector("text=Заключение записано.")
    assert "годен с ограничениями" in await page.text_content("#concluded")

    # the psychiatrist: fit or unfit only, the diagnosis never on the certificate
    await open_visit(page, server, city, patient, "psychiatrist")
    assert await page.locator("#conclusion-form input[type=checkbox]").count() == 0
    assert await page.locator("#verdict-restricted").count() == 0
    assert await page.is_visible("#yes-no-note")
    await page.check("#verdict-fit")
    await pages.check("psychiatrist-conclusion")
    await page.click("#conclude")
    await page.wait_for_selector("text=Заключение записано.")

    # the therapist: her own conclusion; refused while the narcologist's is missing
    await open_visit(page, server, city, patient, "therapist")
    await page.check("#verdict-fit")
    await page.click("#conclude")
    await page.wait_for_selector("text=Заключение записано.")
    assert await page.is_checked("#category-B")
    await page.click("#driver-issue")
    error = page.locator("#driver-error")
    await error.wait_for()
    assert (await error.text_content()).strip() == (
        "Справку выдать нельзя: нет заключений: психиатр-нарколог."
    )
    await pages.check("chair-refused")
    if await fetch(city, "SELECT 1 FROM specialties WHERE code = 'narcologist'"):
        other = await browser.new_context(viewport={"width": 1280, "height": 900})
        narcology = await other.new_page()
        await open_visit(narcology, server, city, patient, "narcologist")
        await narcology.check("#verdict-fit")
        await narcology.click("#conclude")
        await narcology.wait_for_selector("text=Заключение записано.")
        await other.close()
    else:  # no narcologist in a seeded city yet (being added): the row her visit writes
        await fetch(
            city,
            "INSERT INTO exam_conclusions (patient_id, encounter_id, clinic_id, doctor_id,"
            "                              author_id, examiner, verdict, recorded_at)"
            " SELECT patient_id, id, clinic_id, doctor_id, 1, 'narcologist', 'fit', now()"
            "   FROM encounters WHERE patient_id = $1 ORDER BY id LIMIT 1",
            patient["id"],
        )
    await page.click("#driver-check")
    await page.wait_for_selector("#driver-checklist")
    assert await page.locator("#driver-checklist li.missing").count() == 0
    await page.click("#driver-issue")
    await page.wait_for_selector("text=Справка выдана.")
    (row,) = await fetch(
        city, "SELECT number, qr FROM certificates WHERE patient_id = $1", patient["id"]
    )
    listed = await page.text_content(f"#cert-{row['number']}")
    assert "01.06" in listed and "действительна" in listed
    await pages.check("chair-issued")
    await desk.close()

    # the patient, on a phone
    phone = await browser.new_context(viewport={"width": 375, "height": 740}, locale="ru-RU")
    page = await phone.new_page()
    pages = Pages(page, "certificates-portal")
    await page.goto(server + "/")
    await page.fill("#policy_number", patient["policy_number"])
    await page.fill("#birth_date", patient["birth_date"].isoformat())
    await page.click("button[type=submit] >> text=Получить код по SMS")
    code = (await page.text_content("#demo-code") or "").strip()
    await page.fill("#code", code)
    await page.click("text=Войти")
    await page.wait_for_url(server + "/appointments")
    await page.click("header nav a >> text=Справки")
    await page.wait_for_url(server + "/certificates")
    qr = page.locator(f"#qr-{row['number']} svg")
    await qr.wait_for()
    box = await qr.bounding_box()
    assert box and box["width"] >= 280, box  # big enough to scan from the screen
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the certificates scroll sideways by {wide}px at 375px"
    await pages.check("certificates-phone")
    shot = SCREENSHOTS / "certificates-portal" / "qr.png"
    await qr.screenshot(path=str(shot))
    decoded = [b.text for b in zxingcpp.read_barcodes(Image.open(shot))]
    assert decoded == [row["qr"]]

    # the checklist of the professional categories, with where to book
    await page.check("#category-C")
    await page.click("button >> text=Показать")
    await page.wait_for_selector("#check-neurologist")
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the checklist scrolls sideways by {wide}px at 375px"
    await pages.check("checklist-phone")

    # kept by the service worker: the QR code shows with no connection
    await page.goto(server + "/certificates")
    await page.wait_for_function(
        """async (number) => {
          const r = await caches.match(location.origin + "/certificates");
          return r ? (await r.text()).includes("qr-" + number) : false;
        }""",
        arg=row["number"],
    )
    await phone.set_offline(True)
    await page.goto(server + "/certificates")
    assert await page.is_visible(f"#qr-{row['number']} svg")
    assert await page.is_visible("#offline-note")
    await pages.check("certificates-offline")
    await phone.set_offline(False)
    await phone.close()
