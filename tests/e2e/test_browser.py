"""The portal and the kiosk in a real browser: headless Debian Chromium driven by
Playwright against a real `imias serve` (IMIAS_DEMO=1 shows the sign-in codes). A
patient walks from sign-in to a confirmed appointment and cancels it; a patient checks
in at the kiosk, which forgets them when idle; axe-core, injected into each page, finds
no serious or critical accessibility violation; each page's screenshot is written to
reports/screenshots/ (see the README)."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from signin import adults, fetch

from imias.citygen.seed import DEMO_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "reports" / "screenshots"
IDLE_SECONDS = 5

# axe-core's findings of these impacts fail a page.
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + ": " + v.help + " " + JSON.stringify(v.nodes.map(n => n.target)));
}"""


def _needs() -> None:
    missing = [str(p) for p in (CHROMIUM, AXE) if not p.exists()]
    assert not missing, f"missing {missing}: `make test` installs them (make browser-deps)"


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_browser_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=12, doctors=200, patients=1500)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("browser") / "serve.log"
    idle = str(IDLE_SECONDS)
    with serve(city, redis_url, log, workers=1, demo="1", kiosk_idle_seconds=idle) as url:
        yield url


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


class Pages:
    """Checks each page a walk reaches: axe-core, and a screenshot under a stable name."""

    def __init__(self, page, walk: str) -> None:
        self.page, self.walk, self.n = page, walk, 0
        folder = SCREENSHOTS / walk
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    async def check(self, name: str) -> None:
        self.n += 1
        await self.page.screenshot(
            path=str(SCREENSHOTS / self.walk / f"{self.n:02d}-{name}.png"), full_page=True
        )
        await self.page.add_script_tag(path=str(AXE))
        violations = await self.page.evaluate(AXE_RUN)
        assert violations == [], f"{self.walk}/{name}: {violations}"


async def test_a_patient_books_on_the_portal_and_cancels(server, city, page):
    (patient,) = await adults(city, 1, offset=20)
    pages = Pages(page, "portal")
    await page.goto(server + "/")
    await pages.check("sign-in")
    await page.fill("#policy_number", patient["policy_number"])
    await page.fill("#birth_date", patient["birth_date"].isoformat())
    await page.click("button[type=submit] >> text=Получить код по SMS")
    code = await page.text_content("#demo-code")
    assert code and re.fullmatch(r"\d{6}", code.strip())
    await pages.check("code")
    await page.fill("#code", code.strip())
    await page.click("text=Войти")
    await page.wait_for_url(server + "/appointments")
    assert "Предстоящих записей нет." in await page.content()
    await pages.check("appointments-empty")
    # the service worker is installed and controls the portal from here on
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")

    await page.click("text=Записаться к врачу")
    await page.select_option("#specialty", "ophthalmologist")
    districts = await page.eval_on_selector_all("#district option", "os => os.map(o => o.value)")
    await page.select_option("#district", districts[1])
    await page.click("button >> text=Найти")
    await page.wait_for_selector("text=Ближайшие поликлиники")
    await pages.check("nearest-clinics")
    await page.click("a.button >> text=Выбрать врача")
    await page.click("#doctors a")
    await page.wait_for_selector("ul.slots")
    await pages.check("free-times")
    await page.click("ul.slots button")
    timer = await page.text_content("#countdown")
    assert timer and re.fullmatch(r"[0-5]:\d\d", timer.strip())
    await pages.check("hold")
    await page.click("#confirm")
    await page.wait_for_selector("text=Готово: вы записаны.")
    await pages.check("appointments-booked")
    (row,) = await fetch(
        city, "SELECT id, status, channel FROM appointments WHERE patient_id = $1", patient["id"]
    )
    assert (row["status"], row["channel"]) == ("booked", "web")
    # the worker kept the page for offline reading
    kept = await page.evaluate(
        """async () => {
          const r = await caches.match(location.origin + "/appointments");
          return r ? await r.text() : null;
        }"""
    )
    assert kept and f'id="appointment-{row["id"]}"' in kept
    # and shows it with no connection
    await page.context.set_offline(True)
    await page.goto(server + "/appointments")
    assert await page.is_visible(f"#appointment-{row['id']}")
    assert await page.is_visible("#offline-note")
    assert not await page.is_visible(f"#appointment-{row['id']} button")  # reading only
    await pages.check("appointments-offline")
    await page.context.set_offline(False)

    for path, name in [
        ("/waitlist", "waitlist"),
        ("/referrals", "referrals"),
        ("/family", "family"),
        ("/access-log", "access-log"),
        ("/certificates", "certificates"),
    ]:
        await page.goto(server + path)
        await pages.check(name)

    await page.goto(server + "/appointments")
    await page.click(f"#appointment-{row['id']} button >> text=Отменить")
    await page.wait_for_selector("text=Предстоящих записей нет.")
    (row,) = await fetch(city, "SELECT status FROM appointments WHERE id = $1", row["id"])
    assert row["status"] == "cancelled"
    await page.click("header button >> text=Выйти")
    await page.wait_for_url(server + "/")


async def _appointment_soon(city: str, patient_id: int) -> int:
    """An appointment under way (it began in the last five minutes and lasts half an
    hour: inside the check-in window, and today wherever the day ends), written straight
    to the database: the server's clock cannot be moved."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    starts = now - timedelta(minutes=now.minute % 5)
    (row,) = await fetch(
        city,
        """
        INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id, starts_at,
                                  ends_at, status, channel)
        SELECT d.clinic_id, d.id, $1, d.specialty_id, $2::timestamptz,
               $2::timestamptz + interval '30 minutes',
               'booked', 'kiosk'
          FROM doctors d
         WHERE NOT EXISTS (SELECT 1 FROM appointments a WHERE a.doctor_id = d.id)
         ORDER BY d.id DESC LIMIT 1
        RETURNING id
        """,
        patient_id,
        starts,
    )
    return row["id"]


async def _type(page, field: str, digits: str) -> None:
    await page.click(f"#{field}")
    for d in digits:
        await page.click(f'.keypad[data-for="{field}"] button[data-key="{d}"]')


async def test_a_kiosk_check_in_and_its_idle_reset(server, city, page):
    (patient,) = await adults(city, 1, offset=21)
    appointment = await _appointment_soon(city, patient["id"])
    pages = Pages(page, "kiosk")
    await page.goto(server + "/kiosk")
    await pages.check("start")
    await _type(page, "policy_number", patient["policy_number"])
    await _type(page, "birth_date", patient["birth_date"].strftime("%d%m%Y"))
    await page.click("button >> text=Получить код")
    code = (await page.text_content("#demo-code") or "").strip()
    await pages.check("code")
    await _type(page, "code", code)
    await page.click("button >> text=Войти")
    await page.wait_for_url(server + "/kiosk/home")
    await pages.check("home")
    await page.click("button >> text=Я пришёл(-ла)")
    await page.wait_for_url(server + f"/kiosk/ticket/{appointment}")
    await pages.check("ticket")
    (row,) = await fetch(city, "SELECT status FROM appointments WHERE id = $1", appointment)
    assert row["status"] == "arrived"
    # no touch for IDLE_SECONDS: back to the start screen, the patient forgotten
    await page.wait_for_url(server + "/kiosk", timeout=(IDLE_SECONDS + 20) * 1000)
    assert await page.is_visible("#policy_number")
    await page.goto(server + "/kiosk/home")
    assert page.url == server + "/kiosk"


async def test_a_registrar_books_for_a_caller(server, city, page):
    """The desk: sign in, find the caller by policy number, book the earliest time at
    the clinic for a caller on the phone, see it in the patient's list."""
    (patient,) = await adults(city, 1, offset=22)
    clinic = patient["attached_clinic_id"]
    pages = Pages(page, "registrar")
    await page.goto(server + "/registrar")
    await pages.check("sign-in")
    await page.fill("#username", f"registrar.{clinic}")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(server + "/registrar/find")
    await page.fill("#policy", patient["policy_number"])
    await page.click("button[type=submit] >> text=Найти")
    await pages.check("found")
    await page.click(f'a[href="/registrar/patients/{patient["id"]}"]')
    await page.select_option("#specialty", "therapist")
    await page.select_option("#channel", "phone")
    await page.click("button >> text=Показать ближайшее время")
    await page.wait_for_selector("form.card button")
    await pages.check("free-times")
    await page.click("form.card button")
    await page.wait_for_selector("a >> text=Перенести")
    await pages.check("booked")
    (row,) = await fetch(
        city,
        "SELECT status, channel, clinic_id FROM appointments WHERE patient_id = $1",
        patient["id"],
    )
    assert (row["status"], row["channel"], row["clinic_id"]) == ("booked", "phone", clinic)
    await page.goto(server + "/registrar/day")
    await pages.check("clinic-day")


async def test_the_language_switch_turns_the_pages_english_and_back(server, page):
    pages = Pages(page, "language")
    await page.goto(server + "/")
    assert await page.get_attribute("html", "lang") == "ru"
    assert await page.is_visible("text=Получить код по SMS")
    await page.click("nav.lang a >> text=English")
    await page.wait_for_selector("text=Get a code by SMS")
    assert await page.get_attribute("html", "lang") == "en"
    await pages.check("portal-en")
    await page.goto(server + "/kiosk")  # the choice is remembered (a cookie)
    assert await page.get_attribute("html", "lang") == "en"
    await pages.check("kiosk-en")
    await page.goto(server + "/registrar")
    await page.wait_for_selector("button >> text=Sign in")
    await pages.check("registrar-en")
    await page.click("nav.lang a >> text=Русский")
    await page.wait_for_selector("button >> text=Войти")
    assert await page.get_attribute("html", "lang") == "ru"


async def test_the_officers_page_signed_out_and_in(server, page):
    """/verify at a phone's width: its sign-in, and its checking page signed in as the
    demo city's police officer, in Russian and in English."""
    pages = Pages(page, "verify-page")
    await page.goto(server + "/verify")
    await page.wait_for_url(server + "/verify/sign-in")
    await pages.check("sign-in")
    await page.fill("#username", "police.1")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(server + "/verify")
    await page.wait_for_selector("#lists-status[data-ready=yes]")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await pages.check("signed-in")
    await page.click("nav.lang a >> text=English")
    await page.wait_for_selector("button >> text=Check the QR code")
    await pages.check("signed-in-en")


async def test_a_guardian_consents_for_a_school_and_withdraws(server, city, page):
    """The portal's schools page (integrations.schools): a guardian finds a school,
    consents that it gets the child's illness days, sees the consent, withdraws it."""
    from signin import guardian_and_child

    guardian, child = await guardian_and_child(city, offset=3)
    pages = Pages(page, "schools")
    await page.goto(server + "/")
    await page.fill("#policy_number", guardian["policy_number"])
    await page.fill("#birth_date", guardian["birth_date"].isoformat())
    await page.click("button[type=submit] >> text=Получить код по SMS")
    code = (await page.text_content("#demo-code") or "").strip()
    await page.fill("#code", code)
    await page.click("text=Войти")
    await page.wait_for_url(server + "/appointments")
    await page.goto(server + "/family")
    await page.click(f"a[href='/schools?patient_id={child['id']}']")
    await page.wait_for_selector("text=Согласий нет: школам ничего не передаётся.")
    await pages.check("schools-none")
    (school,) = await fetch(city, "SELECT id, name FROM schools WHERE kind = 'school' LIMIT 1")
    await page.fill("#q", school["name"])
    await page.click("form[role=search] button")
    await page.check(f"#absences-{school['id']}")
    await pages.check("schools-found")
    await page.click(f"form.card:has(input[name=school_id][value='{school['id']}']) button")
    await page.wait_for_selector("text=Согласие дано.")
    await pages.check("schools-given")
    (row,) = await fetch(
        city,
        "SELECT school_id, absences, certificates, withdrawn_at FROM school_consents"
        " WHERE patient_id = $1",
        child["id"],
    )
    assert (row["school_id"], row["absences"], row["certificates"]) == (school["id"], True, False)
    assert row["withdrawn_at"] is None
    await page.click("text=Отозвать согласие")
    await page.wait_for_selector("text=Согласие отозвано")
    await pages.check("schools-withdrawn")
    (row,) = await fetch(
        city, "SELECT withdrawn_at FROM school_consents WHERE patient_id = $1", child["id"]
    )
    assert row["withdrawn_at"] is not None
