"""The notification service over real sockets: a sign-in code written as a notice, routed,
sent by the delivery worker to the SMS gateway simulator and used to sign in (then
redacted); a reminder made in quiet hours deferred to their end while a later code to
the same patient goes at once; an e-mail preference sending a cancellation by the clinic
to the SMTP sink; the gateway's and the mail server's failures backed off and delivered
after, a bad number and a refused mailbox dead at once; the preference API's bad input;
a notice of an unknown kind kept as a routing failure."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import bearer
import msgspec
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import app_client, book_specialty, fetch, guardian_and_child, key
from simprocess import imias_cli
from test_outbox import eventually

from imias.platform.notices import NOTICE_TOPIC, Notice, encode
from imias.platform.settings import load_settings
from integrations import repository as partners_repo
from integrations.model import Message, Partner
from integrations.notifications import NoticeRouter
from integrations.routing import Event, Router, enqueue
from integrations.signing import partner_secret
from integrations.simulators.sms import SmsGatewaySimulator
from integrations.simulators.smtp import SmtpSink

SMS_PARTNER = "notify-sms"
SMTP_PARTNER = "notify-smtp"
MOSCOW = ZoneInfo("Europe/Moscow")
FAST = {"backoff_ms": 50, "backoff_cap_ms": 400, "timeout_ms": 2000, "max_attempts": 50}


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_notify_{worker_id()}"
    url = await build_city_database(
        pg_admin_url, name, clinics=6, doctors=60, patients=400, history_days=0
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def gateway():
    sim = SmsGatewaySimulator(secret=partner_secret(bearer.TEST_SECRET, SMS_PARTNER))
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture(scope="module")
async def sink():
    s = SmtpSink()
    await s.start()
    yield s
    await s.stop()


async def save(url: str, partner: Partner) -> None:
    conn = await asyncpg.connect(url)
    try:
        await partners_repo.save_partner(conn, partner)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def client(city, redis_url, gateway, sink):
    await save(city, Partner(id=SMS_PARTNER, kind="sms_gateway", name="SMS", transport="sms",
                             url=gateway.url, topics=["notice.sms"], **FAST))  # fmt: skip
    await save(city, Partner(id=SMTP_PARTNER, kind="smtp_relay", name="SMTP", transport="smtp",
                             url=sink.url + "?from=clinic%40example.org",
                             topics=["notice.email"], **FAST))  # fmt: skip
    async with app_client(city, redis_url) as c:  # no SMS sender given: codes are notices
        c.city = city
        yield c


@pytest.fixture
def fresh(gateway, sink):
    gateway.control.set(mode="ok", delay_ms=0, fail_next=0, status=503)
    sink.control.set(mode="ok", delay_ms=0, fail_next=0, status=503)
    yield


_offset = iter(range(0, 400, 3))


async def adult(url: str) -> dict[str, Any]:
    """An adult with a phone, attached, whom no other test here uses."""
    rows = await fetch(
        url,
        "SELECT id, policy_number, birth_date, phone, attached_clinic_id FROM patients"
        " WHERE birth_date < now() - interval '25 years' AND phone IS NOT NULL"
        " AND attached_clinic_id IS NOT NULL ORDER BY id OFFSET $1 LIMIT 1",
        next(_offset),
    )
    return dict(rows[0])


def texts_to(gateway: SmsGatewaySimulator, phone: str) -> list[str]:
    return [m.body for m in gateway.store.snapshot() if m.extra.get("to") == phone]


async def delivery(url: str, delivery_id: int) -> asyncpg.Record:
    return (await fetch(url, "SELECT * FROM deliveries WHERE id = $1", delivery_id))[0]


async def test_a_sign_in_code_goes_to_the_sms_gateway_and_signs_in(client, gateway, fresh):
    person = await adult(client.city)
    body = {"policy_number": person["policy_number"], "birth_date": str(person["birth_date"])}
    sent = await client.post("/api/v1/auth/patient/code", json=body)
    assert sent.status_code == 200, sent.text
    assert "demo_code" not in sent.json()
    (text,) = await eventually(lambda: texts_to(gateway, person["phone"]), 10, "the code's SMS")
    assert "код для входа" in text
    code = re.search(r"\b(\d{6})\b", text)
    assert code is not None, text
    token = await client.post(
        "/api/v1/auth/patient/token",
        json={"challenge": sent.json()["challenge"], "code": code.group(1)},
    )
    assert token.status_code == 200, token.text
    rows = await fetch(
        client.city,
        "SELECT status, body FROM deliveries WHERE partner_id = $1 AND kind = 'sign_in_code'"
        " ORDER BY id DESC LIMIT 1",
        SMS_PARTNER,
    )
    assert rows[0]["status"] == "delivered"
    assert code.group(1).encode() not in bytes(rows[0]["body"]), "the code is redacted"
    assert json.loads(bytes(rows[0]["body"])) == {"redacted": True}


def router_at(local: datetime) -> Router:
    """A router whose notice handler's clock reads ``local`` (Moscow time)."""
    router = Router()
    router.route(NOTICE_TOPIC, NoticeRouter(load_settings({}), lambda: local.astimezone(UTC)))
    return router


async def route(conn: Any, router: Router, notice: Notice, clinic_id: int = 0) -> list[Message]:
    event = Event(int(uuid.uuid4().int % 10**9), clinic_id, NOTICE_TOPIC, encode(notice))
    (handler,) = router.handlers[NOTICE_TOPIC]
    return list(await handler(conn, event))


async def test_a_reminder_at_night_waits_for_the_morning_and_a_code_does_not_wait_behind_it(
    client, gateway, fresh
):
    person = await adult(client.city)
    doctor = (
        await fetch(client.city, "SELECT clinic_id, id FROM doctors ORDER BY id LIMIT 1")
    )[0]  # fmt: skip
    tomorrow = datetime.now(MOSCOW).date() + timedelta(days=1)
    night = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 23, 0, tzinfo=MOSCOW)
    starts = night + timedelta(hours=11)
    reminder = Notice(kind="reminder", patient_id=person["id"], params={
        "appointment_id": 1, "clinic_id": doctor["clinic_id"], "doctor_id": doctor["id"],
        "starts_at": starts.astimezone(UTC).isoformat(),
    })  # fmt: skip
    code = Notice(kind="sign_in_code", patient_id=person["id"], phone=person["phone"],
                  params={"code": "424242", "purpose": "sign_in"}, urgent=True)  # fmt: skip
    router = router_at(night)
    conn = await asyncpg.connect(client.city)
    try:
        async with conn.transaction():
            (deferred,) = await route(conn, router, reminder, doctor["clinic_id"])
            await enqueue(conn, [deferred], source=f"test:{uuid.uuid4()}")
        async with conn.transaction():
            (now,) = await route(conn, router, code)
            await enqueue(conn, [now], source=f"test:{uuid.uuid4()}")
        rows = await conn.fetch(
            "SELECT id, kind, next_attempt_at, ordered FROM deliveries"
            " WHERE partner_id = $1 AND patient_id = $2 ORDER BY id",
            SMS_PARTNER,
            person["id"],
        )
    finally:
        await conn.close()
    morning = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 8, 0, tzinfo=MOSCOW)
    assert [r["kind"] for r in rows] == ["reminder", "sign_in_code"]
    assert rows[0]["next_attempt_at"] == morning + timedelta(days=1), "the end of quiet hours"
    assert not rows[0]["ordered"] and not rows[1]["ordered"]
    (text,) = await eventually(lambda: texts_to(gateway, person["phone"]), 10, "the code")
    assert "424242" in text, "the code went at once, past the deferred reminder"
    assert (await delivery(client.city, rows[0]["id"]))["status"] == "pending"
    assert deferred.body and "Напоминаем" in json.loads(deferred.body)["text"]


async def test_an_email_preference_sends_a_cancellation_by_the_clinic_to_the_smtp_sink(
    client, gateway, sink, fresh
):
    person = await adult(client.city)
    me = bearer.patient(person["id"])
    put = await client.put(
        f"/api/v1/patients/{person['id']}/notifications",
        json={"channel": "email", "email": f"p{person['id']}@example.org", "language": "en",
              "quiet_hours": {"start": "00:00", "end": "00:00"}},  # none: any hour
        headers=me,
    )  # fmt: skip
    assert put.status_code == 200, put.text
    assert put.json()["channel"] == "email" and put.json()["language"] == "en"
    mine = await book_specialty(client, person, "therapist")
    own = await client.post(f"/api/v1/appointments/{mine['id']}/cancel", headers=me)
    assert own.status_code == 200, own.text  # her own cancellation: nobody tells her
    booked = await book_specialty(client, person, "therapist")
    desk = bearer.registrar(booked["clinic_id"])
    cancelled = await client.post(
        f"/api/v1/appointments/{booked['id']}/cancel",
        json={"patient_id": person["id"]},
        headers=desk | key(),
    )
    assert cancelled.status_code == 200, cancelled.text

    def mails() -> list[Any]:
        return [m for m in sink.store.snapshot() if m.extra["to"] == f"p{person['id']}@example.org"]

    (mail,) = await eventually(mails, 10, "the mail")
    assert mail.kind == "cancelled_by_clinic"
    assert mail.extra["subject"] == "Appointment cancelled by the clinic"
    assert "The clinic cancelled your appointment" in mail.body and "/book" in mail.body
    assert "clinic@example.org" in mail.extra["from"]
    assert not texts_to(gateway, person["phone"]), "e-mail instead of SMS"
    notices = await fetch(client.city, "SELECT payload FROM event_outbox WHERE topic = 'notice'")
    kinds = [json.loads(bytes(r["payload"])) for r in notices]
    assert [n["params"]["appointment_id"] for n in kinds
            if n["kind"] == "cancelled_by_clinic" and n["patient_id"] == person["id"]] == [
        booked["id"]
    ]  # fmt: skip


async def queue_sms(url: str, partner_id: str, to: str, kind: str = "reminder") -> int:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            message = Message(
                audience="test", kind=kind, content_type="application/json",
                body=msgspec.json.encode({"to": to, "text": f"проверка {kind}"}),
                partner_id=partner_id, ordered=False,
            )  # fmt: skip
            await enqueue(conn, [message], source=f"test:{uuid.uuid4()}")
        found: int = await conn.fetchval(
            "SELECT max(id) FROM deliveries WHERE partner_id = $1", partner_id
        )
        return found
    finally:
        await conn.close()


async def own_partner(client, gateway, **options: Any) -> str:
    """A partner of its own (no audience) on the gateway; the app's workers send for it."""
    partner_id = f"sms-{uuid.uuid4().hex[:8]}"
    gateway.secret = None  # any api_id
    await save(client.city, Partner(id=partner_id, kind="sms_gateway", name="SMS",
                                    transport="sms", url=gateway.url, topics=[],
                                    **(FAST | options)))  # fmt: skip
    return partner_id


@pytest.fixture
async def any_api_id(gateway):
    secret = gateway.secret
    yield
    gateway.secret = secret


async def test_gateway_failures_back_off_and_the_text_goes_after_recovery(
    client, gateway, fresh, any_api_id
):
    partner_id = await own_partner(client, gateway, timeout_ms=300)
    phone = "+79160000123"
    gateway.control.set(mode="fail", status=503)
    first = await queue_sms(client.city, partner_id, phone)

    async def tried(n: int, error: str):
        row = await delivery(client.city, first)
        return row["attempts"] >= n and error in (row["last_error"] or "") and row

    await eventually(lambda: tried(2, "HTTP 503"), 10, "503s")
    gateway.control.set(mode="fail", status=201)  # out of balance: the partner's trouble
    await eventually(lambda: tried(3, "gateway 201"), 10, "no balance")
    gateway.control.set(mode="ok", delay_ms=1000)  # slower than the partner's time-out
    await eventually(lambda: tried(4, "timed out"), 10, "a time-out")
    partner = (await fetch(client.city, "SELECT * FROM partners WHERE id = $1", partner_id))[0]
    assert (
        partner["failing_since"] is not None
        and (await delivery(client.city, first))["status"] == "pending"
    )
    gateway.control.set(delay_ms=0)

    async def delivered():
        return (await delivery(client.city, first))["status"] == "delivered"

    await eventually(delivered, 10, "the delivery after recovery")
    assert "проверка reminder" in texts_to(gateway, phone)


async def test_a_bad_number_is_dead_at_once_and_a_dead_code_redacted(
    client, gateway, fresh, any_api_id
):
    partner_id = await own_partner(client, gateway)
    bad = await queue_sms(client.city, partner_id, "+79990000000", kind="sign_in_code")

    async def dead():
        row = await delivery(client.city, bad)
        return row["status"] == "dead" and row

    row = await eventually(dead, 10, "the dead letter")
    assert row["attempts"] == 1 and "gateway 202" in row["last_error"]
    assert json.loads(bytes(row["body"])) == {"redacted": True}


async def test_the_mail_server_failing_is_retried_and_a_refused_mailbox_is_dead(
    client, sink, fresh
):
    partner_id = f"smtp-{uuid.uuid4().hex[:8]}"
    await save(client.city, Partner(id=partner_id, kind="smtp_relay", name="SMTP",
                                    transport="smtp", url=sink.url, topics=[], **FAST))  # fmt: skip
    sink.control.set(fail_next=2, status=503)  # 451, twice
    conn = await asyncpg.connect(client.city)
    try:
        ids = []
        for to in ("someone@example.org", "nobody@invalid.example"):
            async with conn.transaction():
                await enqueue(conn, [Message(
                    audience="test", kind="reminder", content_type="application/json",
                    body=msgspec.json.encode({"to": to, "subject": "s", "text": "текст"}),
                    partner_id=partner_id, ordered=False,
                )], source=f"test:{uuid.uuid4()}")  # fmt: skip
            ids.append(await conn.fetchval("SELECT max(id) FROM deliveries"))
    finally:
        await conn.close()

    async def settled():
        rows = [await delivery(client.city, i) for i in ids]
        return all(r["status"] != "pending" for r in rows) and rows

    good, refused = await eventually(settled, 10, "both settled")
    assert good["status"] == "delivered" and good["attempts"] >= 2
    assert refused["status"] == "dead" and "550" in refused["last_error"]
    assert [m.body for m in sink.store.snapshot() if m.extra["to"] == "someone@example.org"] == [
        "текст"
    ]


async def test_a_notice_of_an_unknown_kind_is_kept_as_a_routing_failure(client):
    router = router_at(datetime.now(MOSCOW))
    payload = encode(Notice(kind="horoscope", patient_id=1))
    conn = await asyncpg.connect(client.city)
    try:
        async with conn.transaction():
            await router(conn, [{"id": 987654321, "clinic_id": 0, "topic": NOTICE_TOPIC,
                                 "payload": payload}])  # fmt: skip
        failed = await conn.fetch("SELECT error FROM routing_failures WHERE outbox_id = 987654321")
    finally:
        await conn.close()
    assert router.failed == 1 and "horoscope" in failed[0]["error"]


async def test_the_preference_api_refuses_bad_input_and_changes_nothing(client):
    person = await adult(client.city)
    url = f"/api/v1/patients/{person['id']}/notifications"
    me = bearer.patient(person["id"])
    first = await client.get(url, headers=me)
    assert first.status_code == 200, first.text
    assert first.json()["channel"] == "sms" and first.json()["quiet_hours"] is None
    assert first.json()["default_quiet_hours"] == {"start": "22:00", "end": "08:00"}
    for body, status, code in (
        ({"channel": "email", "email": "not-an-address"}, 422, "invalid_email"),
        ({"channel": "email"}, 422, "email_required"),
        ({"quiet_hours": {"start": "25:00", "end": "08:00"}}, 422, "invalid_quiet_hours"),
        ({"quiet_hours": {"start": "22:00"}}, 400, None),
        ({"channel": "pigeon"}, 400, None),
        ({"chanel": "sms"}, 400, None),
    ):
        answer = await client.put(url, json=body, headers=me)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        if code is not None:
            assert answer.json()["code"] == code, answer.text
    assert (await client.get(url, headers=me)).json() == first.json(), "nothing changed"
    other = await adult(client.city)
    foreign = await client.get(f"/api/v1/patients/{other['id']}/notifications", headers=me)
    assert foreign.status_code == 404
    desk = await client.put(url, json={"channel": "none"},
                            headers=bearer.registrar(person["attached_clinic_id"]))  # fmt: skip
    assert desk.status_code == 200 and desk.json()["channel"] == "none"
    guardian, child = await guardian_and_child(client.city)
    mine = await client.put(
        f"/api/v1/patients/{child['id']}/notifications",
        json={"language": "en", "quiet_hours": {"start": "21:00", "end": "09:30"}},
        headers=bearer.patient(guardian["id"]),
    )
    assert mine.status_code == 200, mine.text
    assert mine.json()["quiet_hours"] == {"start": "21:00", "end": "09:30"}
    log = await client.get("/api/v1/me/access-log", headers=me)
    seen = {(e["actor_role"], e["action"], e["resource"]) for e in log.json()}
    assert ("registrar", "update", "notification_preference") in seen, "her access log shows it"


async def test_an_operator_adds_an_sms_gateway_and_a_mail_server(database_url, redis_url, tmp_path):
    """``imias partners add`` takes the new kinds: the transport follows the kind or the
    url, the credential is named (an environment variable), never stored."""
    tag = uuid.uuid4().hex[:6]

    def cli(*args: str) -> Any:
        return imias_cli(*args, database_url=database_url, redis_url=redis_url,
                         secret=bearer.TEST_SECRET, data_dir=tmp_path)  # fmt: skip

    sms = cli("partners", "add", f"smsru-{tag}", "--kind", "sms_gateway", "--url",
              "https://sms.example/sms/send?from=CLINIC",
              "--secret-env", "SMSRU_API_ID")  # fmt: skip
    assert sms.returncode == 0, sms.stderr
    mail = cli("partners", "add", f"mail-{tag}", "--kind", "smtp_relay", "--url",
               "smtps://mailer%40clinic.example@smtp.example:465",
               "--secret-env", "SMTP_PASSWORD")  # fmt: skip
    assert mail.returncode == 0, mail.stderr
    refused = cli("partners", "add", f"bad-{tag}", "--kind", "sms_gateway", "--url",
                  "https://sms.example/", "--secret-env", "IMIAS_SECRET_KEY")  # fmt: skip
    assert refused.returncode != 0 and "--secret-env" in refused.stderr
    rows = await fetch(
        database_url,
        "SELECT id, transport, topics, secret_env FROM partners WHERE id LIKE '%' || $1"
        " ORDER BY id",
        tag,
    )
    assert [tuple(r) for r in rows] == [
        (f"mail-{tag}", "smtp", ["notice.email"], "SMTP_PASSWORD"),
        (f"smsru-{tag}", "sms", ["notice.sms"], "SMSRU_API_ID"),
    ]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM partners WHERE id LIKE '%' || $1", tag)
    finally:
        await conn.close()
