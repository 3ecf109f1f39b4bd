"""The phone IVR through its webhook, as a telephony gateway drives it: the TwiML of
each answer parsed, sign-in by keypad and SMS code, booking the earliest slot (and the
next), hearing and cancelling appointments, bad and missing digits, and the transfer
to the call centre after three failures."""

from __future__ import annotations

import uuid

import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import CapturingSms, adults, app_client, fetch

from imias.channels.phone.api import SIGNATURE_HEADER, signature
from imias.channels.phone.flow import PHONE_SPECIALTIES
from imias.channels.phone.prompts import say
from imias.channels.phone.twiml import Verb, parse

CALL_CENTRE = "+74950000122"


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_phone_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def sms():
    return CapturingSms()


@pytest.fixture
async def client(city, redis_url, redis_client, sms):
    # Other modules' cities share the seed, so their policy numbers: forget their failed
    # sign-ins (kept in this worker's Redis) before the calls sign in.
    await redis_client.flushdb()
    async with app_client(city, redis_url, sms=sms, call_centre_number=CALL_CENTRE) as c:
        c.city = city
        yield c


class Call:
    """One call, step by step, as the gateway posts it."""

    def __init__(self, client, caller: str = "+79990000001") -> None:
        self.client = client
        self.id = "CA" + uuid.uuid4().hex
        self.caller = caller

    async def send(self, digits: str | None = None, **extra: str) -> list[Verb]:
        form = {"CallSid": self.id, "From": self.caller, **extra}
        if digits is not None:
            form["Digits"] = digits
        response = await self.client.post("/phone", data=form)
        assert response.status_code == 201, response.text
        assert response.headers["content-type"].startswith("text/xml")
        return parse(response.content)


def spoken(verbs: list[Verb]) -> str:
    return " ".join([v.text for v in verbs if v.name == "Say"] + [t for v in verbs for t in v.says])


def gather(verbs: list[Verb]) -> Verb:
    (found,) = [v for v in verbs if v.name == "Gather"]
    # silence falls through to a redirect back to the webhook
    assert verbs[-1].name == "Redirect" and verbs[-1].text == found.attrs["action"]
    return found


async def signed_in(client, sms, patient, lang: str = "1") -> Call:
    call = Call(client)
    first = await call.send()
    assert gather(first).attrs["numDigits"] == "1"
    assert say("policy", "ru" if lang == "1" else "en") in spoken(await call.send(lang))
    assert gather(await call.send(patient["policy_number"])).attrs["numDigits"] == "8"
    verbs = await call.send(patient["birth_date"].strftime("%d%m%Y"))
    assert gather(verbs).attrs["numDigits"] == "6"
    verbs = await call.send(sms.code_for(patient["phone"]))
    assert say("menu", "ru" if lang == "1" else "en") in spoken(verbs)
    return call


async def test_a_call_signs_in_books_the_earliest_then_the_next_hears_and_cancels(client, sms):
    (patient,) = await adults(client.city, 1)
    call = await signed_in(client, sms, patient)
    verbs = await call.send("1")
    menu = spoken(verbs)
    assert "Врач-офтальмолог" in menu
    digit = str(PHONE_SPECIALTIES.index("ophthalmologist") + 1)
    first = spoken(await call.send(digit))
    assert "Врач-офтальмолог:" in first and "кабинет" in first
    second = spoken(await call.send("2"))  # the next time
    assert second != first and "Врач-офтальмолог:" in second
    booked = spoken(await call.send("1"))
    assert "Вы записаны" in booked
    rows = await fetch(
        client.city,
        "SELECT id, status, channel FROM appointments WHERE patient_id = $1",
        patient["id"],
    )
    assert [(r["status"], r["channel"]) for r in rows] == [("booked", "phone")]
    listing = spoken(await call.send("2"))
    assert "Запись 1 из 1" in listing
    assert say("cancelled", "ru") in spoken(await call.send("1"))
    status = await fetch(
        client.city, "SELECT status FROM appointments WHERE id = $1", rows[0]["id"]
    )
    assert status[0]["status"] == "cancelled"
    # the patient is the actor of the phone's reads and changes, as on the web
    audit = await fetch(
        client.city,
        "SELECT action, actor_role, actor_id FROM audit_log WHERE patient_id = $1 ORDER BY id",
        patient["id"],
    )
    actions = [(a["action"], a["actor_role"], a["actor_id"]) for a in audit]
    for action in ("sign_in", "book", "read", "cancel"):
        assert (action, "patient", patient["id"]) in actions


async def test_english_prompts_on_request(client, sms):
    (patient,) = await adults(client.city, 1, offset=1)
    call = await signed_in(client, sms, patient, lang="2")
    verbs = await call.send("2")
    assert say("no_appointments", "en") in spoken(verbs)
    assert all(v.attrs.get("language") == "en-US" for v in verbs if v.name == "Say")


@pytest.mark.parametrize(
    ("digits", "heard"),
    [("123", "invalid"), ("12345678901234ab", "invalid"), (None, "missing")],
    ids=["too-short", "not-digits", "silence"],
)
async def test_bad_or_missing_policy_digits_are_asked_again(client, digits, heard):
    call = Call(client)
    await call.send()
    await call.send("1")
    verbs = await call.send(digits)
    assert say(heard, "ru") in spoken(verbs)
    assert say("policy", "ru") in spoken(verbs)
    assert gather(verbs).attrs["numDigits"] == "16"


async def test_three_failures_transfer_the_call_to_the_call_centre(client):
    call = Call(client)
    await call.send()
    await call.send("1")
    await call.send("1")
    await call.send(None)
    verbs = await call.send("99")
    assert [v.name for v in verbs] == ["Say", "Dial"]
    assert verbs[-1].text == CALL_CENTRE
    # the call's state is gone: the same call id starts again
    assert say("welcome", "ru") in spoken(await call.send("1"))


async def test_a_wrong_code_is_asked_again_and_three_transfer(client, sms):
    (patient,) = await adults(client.city, 1, offset=2)
    call = Call(client)
    await call.send()
    await call.send("1")
    await call.send(patient["policy_number"])
    await call.send(patient["birth_date"].strftime("%d%m%Y"))
    right = sms.code_for(patient["phone"])
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    verbs = await call.send(wrong)
    assert say("wrong_code", "ru") in spoken(verbs)
    assert gather(verbs).attrs["numDigits"] == "6"
    await call.send(wrong)
    verbs = await call.send(wrong)
    assert verbs[-1].name == "Dial"


async def test_an_unknown_patient_gets_the_same_answer_and_no_code(client, sms):
    call = Call(client)
    await call.send()
    await call.send("1")
    await call.send("0000000000000000")
    verbs = await call.send("01011980")
    assert say("code", "ru") in spoken(verbs)
    assert sms.sent == []


async def test_zero_in_the_menu_reaches_an_operator(client, sms):
    (patient,) = await adults(client.city, 1, offset=3)
    call = await signed_in(client, sms, patient)
    verbs = await call.send("0")
    assert verbs[-1].name == "Dial" and verbs[-1].text == CALL_CENTRE


async def test_a_step_from_another_number_is_refused(client, sms):
    (patient,) = await adults(client.city, 1, offset=4)
    call = await signed_in(client, sms, patient)
    call.caller = "+79990000999"
    verbs = await call.send("2")
    assert [v.name for v in verbs] == ["Hangup"]


async def test_without_a_call_id_the_webhook_answers_a_problem(client):
    response = await client.post("/phone", data={"From": "+7999"})
    assert response.status_code == 400
    assert response.json()["code"] == "call_id_required"


async def test_with_a_secret_only_signed_requests_are_heard(city, redis_url):
    secret = "gateway-secret-0123456789"
    async with app_client(city, redis_url, phone_webhook_secret=secret) as c:
        form = {"CallSid": "CA" + uuid.uuid4().hex, "From": "+79990000001"}
        assert (await c.post("/phone", data=form)).status_code == 403
        url = str(c.base_url).rstrip("/") + "/phone"
        headers = {SIGNATURE_HEADER: signature(secret, url, form)}
        response = await c.post("/phone", data=form, headers=headers)
        assert response.status_code == 201, response.text
        assert say("welcome", "ru") in spoken(parse(response.content))
