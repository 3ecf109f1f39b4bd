"""The driver's certificate at a traffic stop, in a real browser (headless Chromium,
Playwright, a real `imias serve`, as tests/e2e/test_browser.py): a driver is examined
by the four specialists and the chair issues the certificate (over the JSON API); its
QR code, drawn and read back by a QR reader (zxing-cpp), is what the officer's page
/verify is given; it says ДЕЙСТВИТЕЛЬНА with the holder and the categories and nothing
of the record; revoked, АННУЛИРОВАНА; with the network cut, the page's own script checks
the QR against the lists it kept and says so. axe-core finds no serious or critical
violation, and nothing scrolls sideways at a phone's 375 px.

The offline checker itself (static/verify.js) runs in Chromium against vectors made
here with ehr.certificates: each gives the verdict `check_offline` gives."""

from __future__ import annotations

import asyncio
import base64
import random
import time
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import base45
import bearer
import httpx
import msgspec
import pytest
from citydb import build_city_database, drop_database, worker_id
from cryptography.hazmat.primitives.asymmetric import ec
from drivers import examined, issued, officer_account
from serving import serve
from signin import adults, fetch
from test_browser import CHROMIUM, SCREENSHOTS, Pages, _needs

from ehr.certificates import Revocations, TrustList, check_offline, cose, rules
from ehr.certificates.trust import TrustedKey
from imias.citygen.seed import DEMO_PASSWORD
from imias.platform.qr import svg

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCRIPT = Path(__file__).resolve().parents[2] / "imias" / "channels" / "static" / "verify.js"
PLACE = "МКАД, 41 км, пост ДПС"
OFFICER = "officer.e2e"
PHONE = {"width": 375, "height": 740}
BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
DIAGNOSIS = ("I11.9", "Гипертоническая болезнь с преимущественным поражением сердца")


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_verify_browser_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=12, doctors=200, patients=1500)
    await officer_account(url, OFFICER)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("verify-browser") / "serve.log"
    with serve(city, redis_url, log, workers=1, secret_key=bearer.TEST_SECRET) as url:
        yield url


@pytest.fixture(scope="module")
async def browser():
    _needs()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        await b.close()


def changed(text: str, at: int) -> str:
    """``text`` with the character at ``at`` (of its base45) changed to another one."""
    old = text[at]
    new = BASE45[(BASE45.index(old) + 7) % len(BASE45)] if old in BASE45 else "A"
    return text[:at] + new + text[at + 1 :]


async def revocations_of(api: httpx.AsyncClient) -> Revocations:
    anchor = cose.public_of((await api.get("/.well-known/imias/anchor")).content)
    raw = (await api.get("/.well-known/imias/revocations")).content
    return Revocations.of_body(cose.open_document(raw, anchor, Revocations.shape))


async def no_sideways_scroll(page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways"
    )


async def check(page, text: str, verdict: str) -> None:
    """Give the page a QR's text (as a handheld scanner types it) and wait for its answer."""
    await page.fill("#qr", text)
    await page.click("button[value=qr]")
    await page.wait_for_selector(f"#result[data-verdict={verdict}]")


async def test_the_officer_checks_a_certificate_online_revoked_and_offline(server, city, browser):
    import zxingcpp
    from PIL import Image

    person = dict((await adults(city, 1, offset=60))[0])
    async with httpx.AsyncClient(base_url=server, timeout=30) as api:
        chair = await examined(api, city, person)
        # a visit with a diagnosis: the record has one, the officer must never see it
        visit = await api.post(
            "/api/v1/encounters", json={"patient_id": person["id"], "kind": "home"}, headers=chair
        )
        signed = await api.post(
            f"/api/v1/encounters/{visit.json()['id']}/sign",
            json={"protocol": {"conclusion": DIAGNOSIS[1]}, "diagnoses": [{"code": DIAGNOSIS[0]}]},
            headers=chair,
        )
        assert signed.status_code == 200, signed.text
        first = await issued(api, chair, person)
        assert first["restrictions"] == ["01.06"]
        mine = await api.get(
            f"/api/v1/patients/{person['id']}/certificates", headers=bearer.patient(person["id"])
        )
        assert mine.status_code == 200, mine.text
        (held,) = mine.json()
        assert held["number"] == first["number"] and held["qr"].startswith("MC1:")
    doctors = await fetch(
        city,
        "SELECT DISTINCT d.family_name FROM doctors d JOIN encounters e ON e.doctor_id = d.id"
        " WHERE e.patient_id = $1",
        person["id"],
    )
    examiners = [d["family_name"] for d in doctors]
    assert examiners

    # The holder's phone shows the QR code; a reader decodes the picture.
    phone = await browser.new_context(viewport=PHONE, locale="ru-RU")
    page = await phone.new_page()
    await page.set_content(
        '<!doctype html><html lang="ru"><title>QR</title><body style="margin:0">'
        f'<div id="qr" style="display:inline-block">{svg(held["qr"], title="QR")}</div>'
    )
    shot = SCREENSHOTS / "verify-qr.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    await page.locator("#qr svg").screenshot(path=str(shot))
    decoded = [b.text for b in zxingcpp.read_barcodes(Image.open(shot))]
    assert decoded == [held["qr"]]
    await phone.close()

    # The officer signs in on her phone.
    context = await browser.new_context(viewport=PHONE, locale="ru-RU")
    page = await context.new_page()
    pages = Pages(page, "verify")
    await page.goto(server + "/verify")
    await page.wait_for_url(server + "/verify/sign-in")
    await pages.check("sign-in")
    await page.fill("#username", OFFICER)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button[type=submit] >> text=Войти")
    await page.wait_for_url(server + "/verify")
    await page.wait_for_selector("#lists-status[data-ready=yes]")
    await no_sideways_scroll(page)
    await pages.check("start")
    await page.fill("#place", PLACE)

    # Online: the decoded text, as a handheld scanner types it.
    await check(page, decoded[0], "valid")
    result = page.locator("#result")
    assert (await page.text_content("#verdict-word")).strip() == "ДЕЙСТВИТЕЛЬНА"
    assert "tone-ok" in (await result.get_attribute("class"))
    facts = {
        await dd.get_attribute("data-fact"): (await dd.text_content()).strip()
        for dd in await page.locator("#result dd").all()
    }
    assert facts["holder"].startswith(person["family_name"])
    assert facts["categories"] == "B"
    assert facts["restrictions"] == "01.06 — " + rules.RESTRICTIONS["01.06"][0]
    assert facts["birth_date"] == person["birth_date"].strftime("%d.%m.%Y")
    assert facts["number"] == first["number"]
    text = await page.text_content("body")
    assert DIAGNOSIS[0] not in text and "Гипертоническ" not in text
    assert not any(name in text for name in examiners), "a doctor's name on the officer's page"
    assert "Проверено на сервере" in await page.text_content("#checked-how")
    await no_sideways_scroll(page)
    await pages.check("valid")
    (audit,) = await fetch(
        city,
        "SELECT reason, actor_role FROM audit_log WHERE action = 'verify' AND patient_id = $1",
        person["id"],
    )
    assert audit["actor_role"] == "police_officer" and PLACE in audit["reason"]

    # Revoked by the chair: the next check says so.
    async with httpx.AsyncClient(base_url=server, timeout=30) as api:
        revoked = await api.post(
            f"/api/v1/certificates/{first['number']}/revoke",
            json={"reason": "выдано по ошибке"},
            headers=chair,
        )
        assert revoked.status_code == 200, revoked.text
        second = await issued(api, chair, person)  # a fresh one, valid
        # the signed revocation list is signed again at most every ten seconds
        deadline = time.monotonic() + 30
        while rules.revocation_hash(first["number"]) not in (await revocations_of(api)).hashes:
            assert time.monotonic() < deadline, "the revocation list never named it"
            await asyncio.sleep(0.5)
    # This time from a photo of the QR code (no BarcodeDetector in this Chromium: jsQR).
    await page.set_input_files("#photo", str(shot))
    await page.wait_for_selector("#result[data-verdict=revoked]")
    assert (await page.text_content("#verdict-word")).strip() == "АННУЛИРОВАНА"
    assert "tone-bad" in (await result.get_attribute("class"))
    await no_sideways_scroll(page)
    await pages.check("revoked")

    # The page, its script and the lists are kept: open it again (the lists now name the
    # revoked one) and wait for the service worker to hold the page.
    await page.goto(server + "/verify")
    await page.wait_for_selector("#lists-status[data-ready=yes]")
    await page.wait_for_function(
        """async () => navigator.serviceWorker.controller !== null
              && !!(await caches.match("/verify")) && !!(await caches.match("/verify/verify.js"))
              && window.imiasVerify.page.lists.revocations.hashes.size > 0"""
    )

    # The network is gone: the page comes from the service worker, the check from its script.
    await context.set_offline(True)
    await page.goto(server + "/verify")
    await page.wait_for_selector("#lists-status[data-ready=yes]")
    assert await page.input_value("#place") == PLACE  # remembered on the phone
    await check(page, second["qr"], "valid")
    assert await result.get_attribute("data-checked") == "offline"
    assert (await page.text_content("#verdict-word")).strip() == "ДЕЙСТВИТЕЛЬНА"
    how = (await page.text_content("#checked-how")).strip()
    assert how.startswith("Проверено без связи; список аннулированных — на "), how
    facts = {
        await dd.get_attribute("data-fact"): (await dd.text_content()).strip()
        for dd in await page.locator("#result dd").all()
    }
    assert facts["holder"].startswith(person["family_name"]) and facts["categories"] == "B"
    assert facts["number"] == second["number"]
    await no_sideways_scroll(page)
    await pages.check("offline-valid")

    await check(page, decoded[0], "revoked")  # by the revocation list kept
    assert (await page.text_content("#verdict-word")).strip() == "АННУЛИРОВАНА"
    assert "без связи" in await page.text_content("#checked-how")
    await pages.check("offline-revoked")

    await check(page, changed(second["qr"], len(second["qr"]) // 2), "not_genuine")
    assert (await page.text_content("#verdict-word")).strip() == "НЕ ПОДЛИННАЯ"
    assert await page.locator("#result dd").count() == 0
    await no_sideways_scroll(page)
    await pages.check("offline-not-genuine")

    # By number the server is needed: the page says so.
    await page.fill("#qr", "")
    await page.fill("#number", second["number"])
    await page.fill("#birth_date", person["birth_date"].isoformat())
    await page.click("button[value=number]")
    await page.wait_for_selector("#form-error:not([hidden])")
    assert "по номеру проверяет только сервер" in await page.text_content("#form-error")
    assert await page.locator("#result").count() == 0
    await context.set_offline(False)
    await context.close()


# -- the offline checker against vectors made with ehr.certificates ----------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _qr(private, content: dict[str, Any], issued_at: int) -> str:
    kid = cose.key_id(private.public_key())
    return cose.encode_qr(
        private, kid, iss="MOW", iat=issued_at, exp=issued_at + 86400 * 400, content=content
    )


def _content(number: str, valid_from: date, until: date, **more: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "n": number,
        "k": "driver",
        "nm": "Иванова Мария Петровна",
        "dob": "1985-04-17",
        "cat": ["B", "C"],
        "res": ["01.06", "78"],
        "df": valid_from.isoformat(),
        "du": until.isoformat(),
        "org": "ГП № 12",
    } | more


def _trusted(private, clinic: int, since: int, withdrawn: int | None = None) -> TrustedKey:
    public = private.public_key()
    return TrustedKey(cose.key_id(public), clinic, f"ГП № {clinic}", public, since, withdrawn)


def _raw(qr: str) -> bytes:
    """A QR's zlib stream."""
    return bytes(base45.b45decode(qr[len(cose.PREFIX) :]))


def _b45(compressed: bytes) -> str:
    return cose.PREFIX + base45.b45encode(compressed).decode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


RUN_VECTORS = """async ({anchor, trust, revocations, vectors, today}) => {
  const v = window.imiasVerify;
  const pin = await v.publicKey(v.fromBase64(anchor));
  const t = await v.openTrustList(v.fromBase64(trust), pin);
  const r = revocations === null ? null : await v.openRevocations(v.fromBase64(revocations), pin);
  const out = {};
  for (const [name, text] of Object.entries(vectors)) {
    out[name] = await v.checkOffline(text, t, r, today);
  }
  return out;
}"""

REFUSED_LIST = """async ({anchor, raw, kind}) => {
  const v = window.imiasVerify;
  const pin = await v.publicKey(v.fromBase64(anchor));
  try {
    if (kind === "trust") await v.openTrustList(v.fromBase64(raw), pin);
    else await v.openRevocations(v.fromBase64(raw), pin);
    return "accepted";
  } catch (e) { return "refused: " + e.message; }
}"""


@pytest.fixture
async def checker(browser):
    """A blank page of a secure origin (WebCrypto needs one) with the page's script."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.route(
        "https://imias.test/**",
        lambda route: route.fulfill(
            body='<!doctype html><html lang="ru"><title>verify.js</title></html>',
            content_type="text/html",
        ),
    )
    await page.goto("https://imias.test/")
    await page.add_script_tag(path=str(SCRIPT))
    yield page
    await context.close()


async def test_the_offline_checker_gives_the_verdicts_check_offline_gives(checker):
    now = int(datetime.now(UTC).timestamp())
    today = date(2026, 3, 10)
    anchor, clinic, withdrawn, stranger = _key(), _key(), _key(), _key()
    trust = TrustList(
        "MOW",
        now,
        {
            k.kid: k
            for k in (_trusted(clinic, 12, now - 9000), _trusted(withdrawn, 7, now - 9000, now))
        },
    )
    revocations = Revocations.of_numbers(now - 60, ["2026-12-RVKD0001", "2026-12-OTHER001"])
    anchor_kid = cose.key_id(anchor.public_key())
    trust_doc = cose.signed_document(anchor, anchor_kid, trust.body())
    revocations_doc = cose.signed_document(anchor, anchor_kid, revocations.body("MOW"))
    year = timedelta(days=365)
    valid = _qr(clinic, _content("2026-12-VALID001", today - year, today + year), now)
    vectors = {
        "valid": valid,
        "last_day": _qr(clinic, _content("2026-12-LAST0001", today - year, today), now),
        "expired": _qr(
            clinic, _content("2026-12-EXPD0001", today - 2 * year, today - timedelta(1)), now
        ),  # noqa: E501
        "not_yet_valid": _qr(
            clinic, _content("2026-12-SOON0001", today + timedelta(1), today + year), now
        ),  # noqa: E501
        "revoked": _qr(clinic, _content("2026-12-RVKD0001", today - year, today + year), now),
        "withdrawn_key": _qr(
            withdrawn, _content("2026-7-WDRN0001", today - year, today + year), now
        ),  # noqa: E501
        "unknown_key": _qr(stranger, _content("2026-12-STRG0001", today - year, today + year), now),  # noqa: E501
        "pool": _qr(
            clinic,
            _content("2026-12-POOL0001", today, today + year, k="pool", cat=[], res=[], grp="main"),
            now,
        ),
        "not_a_certificate_kind": _qr(
            clinic, _content("2026-12-KIND0001", today, today, k="x"), now
        ),  # noqa: E501
        "lowercase": valid.lower(),
        "no_prefix": valid[4:],
        "truncated": valid[:-1],
        "longer": _b45(_raw(valid) + b"\x00"),  # a byte after the zlib stream
        "recompressed": _b45(zlib.compress(zlib.decompress(_raw(valid)), 1)),
        "empty": "MC1:",
        "garbage": "hello",
        "padded": "  " + valid + "\n",
    }
    rng = random.Random(20260310)
    for n in range(40):
        vectors[f"altered_{n}"] = changed(valid, rng.randrange(4, len(valid)))
    vectors["altered_signature_end"] = changed(valid, len(valid) - 3)

    for revocation_list in (revocations, None):
        answers = await checker.evaluate(
            RUN_VECTORS,
            {
                "anchor": _b64(cose.spki(anchor.public_key())),
                "trust": _b64(trust_doc),
                "revocations": None if revocation_list is None else _b64(revocations_doc),
                "vectors": vectors,
                "today": today.isoformat(),
            },
        )
        for name, text in vectors.items():
            expected = check_offline(text, trust, revocation_list, today)
            got = answers[name]
            assert got["verdict"] == expected.verdict, (name, got, expected)
            assert got["checked"] == "offline"
            if revocation_list is None:
                assert got["revocations_as_of"] is None
            else:
                assert got["revocations_as_of"] == revocation_list.issued_at
            if expected.certificate is None:
                assert got["certificate"] is None, name
            else:
                assert got["certificate"] == msgspec.to_builtins(expected.certificate), name
    verdicts = {name: answers[name]["verdict"] for name in vectors}  # with no revocation list
    assert verdicts["valid"] == "valid" and verdicts["revoked"] == "valid"
    with_list = await checker.evaluate(
        RUN_VECTORS,
        {
            "anchor": _b64(cose.spki(anchor.public_key())),
            "trust": _b64(trust_doc),
            "revocations": _b64(revocations_doc),
            "vectors": {k: vectors[k] for k in ("revoked", "expired", "withdrawn_key", "longer")},
            "today": today.isoformat(),
        },
    )
    assert {k: v["verdict"] for k, v in with_list.items()} == {
        "revoked": "revoked",
        "expired": "expired",
        "withdrawn_key": "key_withdrawn",
        "longer": "not_genuine",  # bytes after the zlib stream
    }
    assert all(verdicts[f"altered_{n}"] == "not_genuine" for n in range(40))
    assert verdicts["unknown_key"] == "unknown_key"


async def test_the_offline_checker_trusts_only_lists_the_anchor_signed(checker):
    now = int(datetime.now(UTC).timestamp())
    anchor, impostor, clinic = _key(), _key(), _key()
    trust = TrustList("MOW", now, {cose.key_id(clinic.public_key()): _trusted(clinic, 1, now)})
    body = trust.body()
    pin = _b64(cose.spki(anchor.public_key()))
    kid = cose.key_id(anchor.public_key())
    signed = cose.signed_document(anchor, kid, body)
    forged = cose.signed_document(impostor, kid, body)  # the anchor's id, another key
    other = cose.signed_document(impostor, cose.key_id(impostor.public_key()), body)
    mismatched = cose.signed_document(
        anchor, kid, body | {"keys": [body["keys"][0] | {"kid": b"\x00" * 8}]}
    )
    revocations = cose.signed_document(impostor, kid, Revocations(now, frozenset()).body("MOW"))
    for raw, kind, verdict in [
        (signed, "trust", "accepted"),
        (forged, "trust", "refused"),
        (other, "trust", "refused"),
        (mismatched, "trust", "refused"),
        (revocations, "revocations", "refused"),
        (signed, "revocations", "refused"),  # a trust list is not a revocation list
    ]:
        said = await checker.evaluate(REFUSED_LIST, {"anchor": pin, "raw": _b64(raw), "kind": kind})
        assert said.startswith(verdict), (kind, said)


async def test_the_city_day_is_the_time_zone_s(checker):
    days = await checker.evaluate(
        """() => [
          window.imiasVerify.cityToday("Europe/Moscow", new Date("2026-03-09T21:30:00Z")),
          window.imiasVerify.cityToday("Europe/Moscow", new Date("2026-03-09T20:30:00Z")),
          window.imiasVerify.cityToday("Asia/Vladivostok", new Date("2026-03-09T14:30:00Z")),
        ]"""
    )
    assert days == ["2026-03-10", "2026-03-09", "2026-03-10"]


def _y4m(picture: Path, target: Path, width: int = 640, height: int = 480) -> None:
    """A camera's video (Y4M, 4:2:0) of ``picture`` held in front of it, for Chromium's
    fake capture device."""
    from PIL import Image

    frame = Image.new("RGB", (width, height), "white")
    qr = Image.open(picture).convert("RGB")
    side = min(width, height) - 80
    qr = qr.resize((side, side), Image.NEAREST)
    frame.paste(qr, ((width - side) // 2, (height - side) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with target.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(5):
            out.write(b"FRAME\n" + planes)


async def test_the_camera_reads_a_qr_code_and_the_page_checks_it(server, tmp_path):
    """ "Сканировать": the camera's frames decoded (BarcodeDetector, else jsQR), the text
    checked at once; a QR signed by a key the city does not know is said to be so."""
    _needs()
    from playwright.async_api import async_playwright

    stranger = _key()
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()  # the city's day, not the server's
    text = _qr(stranger, _content("2026-1-CAMERA01", today, today + timedelta(days=30)), 0)
    picture = tmp_path / "qr.png"
    import segno

    segno.make(text, error="m", micro=False).save(str(picture), scale=4, border=4)
    video = tmp_path / "camera.y4m"
    _y4m(picture, video)
    async with async_playwright() as p:
        camera = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        context = await camera.new_context(viewport=PHONE, locale="ru-RU")
        await context.grant_permissions(["camera"], origin=server)
        page = await context.new_page()
        await page.goto(server + "/verify/sign-in")
        await page.fill("#username", OFFICER)
        await page.fill("#password", DEMO_PASSWORD)
        await page.click("button[type=submit] >> text=Войти")
        await page.wait_for_url(server + "/verify")
        await page.fill("#place", PLACE)
        await page.click("#scan")
        await page.wait_for_selector("#result[data-verdict=unknown_key]", timeout=20_000)
        assert (await page.text_content("#verdict-word")).strip() == "НЕИЗВЕСТНЫЙ КЛЮЧ"
        assert await page.is_hidden("#camera-view")  # the camera is off again
        await context.close()
        await camera.close()
