"""The officer's page /verify as a browser without JavaScript uses it: she signs in,
names the place, and checks a certificate by its QR code's text or by its number with
the holder's birth date; the answer is a word (and a colour), and for a genuine
certificate only what a traffic stop needs. A doctor's password opens nothing there,
too many checks say how long to wait, and the page carries the anchor its script pins."""

from __future__ import annotations

import base64
import json
import re
import zlib

import base45
import pytest
from citydb import build_city_database, drop_database, worker_id
from drivers import examined, issued, officer_account
from signin import adults, app_client
from staffpages import hidden

from ehr.certificates import CheckLimiter, cose, rules
from ehr.certificates.limits import Limit
from imias.citygen.seed import DEMO_PASSWORD

PLACE = "Тверская ул., 13, пост ДПС"
OFFICER = "officer.pages"


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_verify_pages_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=12, doctors=200, patients=1500)
    await officer_account(url, OFFICER)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def client(city, redis_url, redis_client):
    await redis_client.flushdb()  # the checks' counters
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


@pytest.fixture(scope="module")
async def certificate(city, redis_url):
    """A driver, examined and certified (B, restriction 01.06)."""
    person = dict((await adults(city, 1, offset=300))[0])
    async with app_client(city, redis_url) as c:
        chair = await examined(c, city, person)
        return person, await issued(c, chair, person)


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert match, f"no #{element_id}"
    return re.sub(r"\s+", " ", match.group(1)).strip()


def facts_of(page: str) -> dict[str, str]:
    return dict(re.findall(r'<dd data-fact="([a-z_]+)">([^<]*)</dd>', page))


async def sign_in(client, username: str):
    """Sign in on /verify/sign-in (the form posts to itself): the answer and the CSRF value."""
    start = await client.get("/verify/sign-in")
    assert start.status_code == 200
    csrf = hidden(start.text, "csrf")
    form = {"csrf": csrf, "username": username, "password": DEMO_PASSWORD}
    return await client.post("/verify/sign-in", data=form, follow_redirects=False), csrf


async def signed_in(client) -> str:
    answer, csrf = await sign_in(client, OFFICER)
    assert answer.status_code == 303 and answer.headers["location"] == "/verify"
    assert "Path=/verify;" in answer.headers["set-cookie"]
    return csrf


async def test_the_page_needs_an_officer_and_a_doctor_is_refused(client, city):
    away = await client.get("/verify", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/verify/sign-in"
    answer, _ = await sign_in(client, "doctor.1")
    assert answer.status_code == 403
    assert "Эта страница для сотрудников полиции." in answer.text
    assert (await client.get("/verify", follow_redirects=False)).status_code == 303
    csrf = await signed_in(client)
    opened = await client.get("/verify")
    assert opened.status_code == 200
    assert 'action="/verify/check"' in opened.text and 'src="/verify/verify.js"' in opened.text
    out = await client.post("/verify/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/verify/sign-in"
    assert (await client.get("/verify", follow_redirects=False)).status_code == 303


async def test_a_qr_and_a_number_are_checked_and_show_only_what_a_stop_needs(client, certificate):
    person, cert = certificate
    csrf = await signed_in(client)
    answer = await client.post(
        "/verify/check", data={"csrf": csrf, "place": PLACE, "qr": cert["qr"], "way": "qr"}
    )
    assert answer.status_code == 200, answer.text
    assert text_of(answer.text, "verdict-word") == "ДЕЙСТВИТЕЛЬНА"
    assert 'class="result tone-ok"' in answer.text
    facts = facts_of(answer.text)
    assert facts["holder"].startswith(person["family_name"])
    assert facts["birth_date"] == person["birth_date"].strftime("%d.%m.%Y")
    assert facts["categories"] == "B"
    assert facts["restrictions"] == "01.06 — " + rules.RESTRICTIONS["01.06"][0]
    assert facts["number"] == cert["number"]
    assert set(facts) == {
        "holder", "birth_date", "categories", "restrictions", "valid_until", "clinic", "number",
    }  # fmt: skip
    assert f'value="{PLACE}"' in answer.text  # the place is kept, the QR's text is not
    assert cert["qr"] not in answer.text

    by_number = await client.post(
        "/verify/check",
        data={
            "csrf": csrf,
            "place": PLACE,
            "number": cert["number"].lower(),
            "birth_date": person["birth_date"].strftime("%d.%m.%Y"),
            "way": "number",
        },
    )
    assert text_of(by_number.text, "verdict-word") == "ДЕЙСТВИТЕЛЬНА"
    assert facts_of(by_number.text) == facts

    # Enter in the number's field presses the first button (the QR's): the number is
    # what was typed, so the number is checked.
    wrong = await client.post(
        "/verify/check",
        data={
            "csrf": csrf,
            "place": PLACE,
            "qr": "",
            "number": cert["number"],
            "birth_date": "2001-01-01",
            "way": "qr",
        },
    )
    assert text_of(wrong.text, "verdict-word") == "НЕ НАЙДЕНА"
    assert 'class="result tone-bad"' in wrong.text and not facts_of(wrong.text)

    changed = cert["qr"][:40] + ("A" if cert["qr"][40] != "A" else "B") + cert["qr"][41:]
    forged = await client.post(
        "/verify/check", data={"csrf": csrf, "place": PLACE, "qr": changed, "way": "qr"}
    )
    assert text_of(forged.text, "verdict-word") == "НЕ ПОДЛИННАЯ"
    assert not facts_of(forged.text)


async def test_what_is_missing_is_said(client):
    csrf = await signed_in(client)
    for form, sentence in [
        ({"place": "", "qr": "MC1:X"}, "Укажите место проверки."),
        ({"place": PLACE}, "Введите текст QR-кода или номер заключения"),
        ({"place": PLACE, "number": "2026-1-ABCDEFGH", "way": "number"}, "Введите номер"),
        ({"place": PLACE, "qr": "MC1:" + "A" * 5000}, "слишком длинный"),
    ]:
        answer = await client.post("/verify/check", data={"csrf": csrf, **form})
        assert answer.status_code == 422, answer.text
        assert sentence in text_of(answer.text, "form-error")
    csrf_less = await client.post("/verify/check", data={"place": PLACE, "qr": "MC1:X"})
    assert csrf_less.status_code == 403


async def test_too_many_checks_say_how_long_to_wait(client):
    client.app_state.certificates.limiter = CheckLimiter(None, officer=Limit(2, 600))
    csrf = await signed_in(client)
    form = {"csrf": csrf, "place": PLACE, "qr": "MC1:NOT-A-CERTIFICATE"}
    for _ in range(2):
        assert (await client.post("/verify/check", data=form)).status_code == 200
    refused = await client.post("/verify/check", data=form)
    assert refused.status_code == 429
    said = text_of(refused.text, "form-error")
    assert re.fullmatch(r"Слишком много проверок подряд\. Следующая — через \d+ мин\.", said)
    english = await client.post("/verify/check?lang=en", data=form)
    assert "Too many checks in a row." in text_of(english.text, "form-error")


async def test_the_page_pins_the_anchor_and_serves_its_scripts(client):
    await signed_in(client)
    opened = await client.get("/verify")
    config = json.loads(
        re.search(r'<script type="application/json" id="verify-config">(.*?)</script>',
                  opened.text, re.S).group(1)
    )  # fmt: skip
    anchor = await client.get("/.well-known/imias/anchor")
    assert base64.b64decode(config["anchor"]) == anchor.content
    assert config["zone"] == client.app_state.settings.time_zone
    assert config["verdicts"]["revoked"]["word"] == "АННУЛИРОВАНА"
    assert config["restrictions"]["01.06"] == rules.RESTRICTIONS["01.06"][0]
    worker = await client.get("/verify/sw.js")
    assert worker.status_code == 200
    assert worker.headers["service-worker-allowed"] == "/verify"
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "imias-verify-v1" in worker.text
    script = await client.get("/verify/verify.js")
    assert "window.imiasVerify" in script.text
    decoder = await client.get("/verify/jsqr.js")
    assert decoder.text.startswith("/*! jsQR 1.4.0") and "Apache" in decoder.text.splitlines()[0]
    english = await client.get("/verify?lang=en")
    assert "Check a medical certificate" in english.text
    assert '"REVOKED"' in english.text


async def test_a_revoked_certificate_recompressed_is_still_revoked(client, city):
    """The same signed certificate, compressed otherwise, is the same certificate."""
    person = dict((await adults(city, 1, offset=302))[0])
    chair = await examined(client, city, person)
    cert = await issued(client, chair, person)
    revoked = await client.post(
        f"/api/v1/certificates/{cert['number']}/revoke",
        json={"reason": "выдано по ошибке"},
        headers=chair,
    )
    assert revoked.status_code == 200, revoked.text
    raw = base45.b45decode(cert["qr"][len(cose.PREFIX) :])
    recompressed = cose.PREFIX + base45.b45encode(zlib.compress(zlib.decompress(raw), 1)).decode()
    longer = cose.PREFIX + base45.b45encode(raw + b"\x00").decode()
    csrf = await signed_in(client)
    for text, verdict in [
        (cert["qr"], "АННУЛИРОВАНА"),
        (recompressed, "АННУЛИРОВАНА"),  # the same signed certificate
        (longer, "НЕ ПОДЛИННАЯ"),  # a byte after the zlib stream
    ]:
        answer = await client.post(
            "/verify/check", data={"csrf": csrf, "place": PLACE, "qr": text, "way": "qr"}
        )
        assert text_of(answer.text, "verdict-word") == verdict
