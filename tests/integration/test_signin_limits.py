"""Sign-in limits under attack: bursts of simultaneous requests, a registered and an
unknown policy number side by side, one address against many; with the counters in
Redis and, while Redis is down, in PostgreSQL.

Most tests call the sign-in service of a real :class:`Identity` (real PostgreSQL and
Redis) so that the requests of a burst truly run at once, each from the client address
it names; one test goes through the HTTP app.
"""

import asyncio
from datetime import date

import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from signin import CapturingSms, adults, app_client, fetch

from imias.citygen.seed import DEMO_PASSWORD
from imias.identity import Identity
from imias.identity.model import (
    PatientCodeRequest,
    PatientTokenRequest,
    StaffTokenRequest,
)
from imias.identity.passwords import Passwords
from imias.identity.ratelimit import ACCOUNT, ACCOUNT_CEILING, CODES
from imias.platform.cache import create_redis
from imias.platform.db import create_pool
from imias.platform.problems import ProblemError

DEAD_REDIS = "redis://127.0.0.1:1/0"
UNKNOWN = "0000000000000042"
BURST = 40


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_signin_limits_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=4, doctors=40, patients=300)
    yield url
    await drop_database(pg_admin_url, name)


class CountingPasswords(Passwords):
    """The real Argon2 check, counted: how many passwords were checked."""

    def __init__(self) -> None:
        super().__init__()
        self.checked = 0

    async def check(self, stored: str | None, password: str) -> bool:
        self.checked += 1
        return await super().check(stored, password)


@pytest.fixture(params=["redis", "database"])
def backend(request):
    return request.param


@pytest.fixture
async def limits(city, redis_url, redis_client, backend):
    """Counters start empty: Redis flushed (after, by ``redis_client``), the table
    emptied before and after."""
    await redis_client.flushdb()
    await fetch(city, "DELETE FROM signin_failures")
    yield DEAD_REDIS if backend == "database" else redis_url
    await fetch(city, "DELETE FROM signin_failures")


@pytest.fixture
async def identity(city, limits):
    pool = await create_pool(city)
    redis = create_redis(limits)
    ident = Identity(pool, redis, TEST_SECRET, sms=CapturingSms(), passwords=CountingPasswords())
    try:
        yield ident
    finally:
        await redis.aclose()
        await pool.close()


async def outcome(call) -> int:
    """The HTTP status the call would answer with."""
    try:
        await call
    except ProblemError as problem:
        return problem.status
    return 200


def ask_code(identity, patient, address, birth_date=None):
    data = PatientCodeRequest(
        patient["policy_number"], birth_date or patient["birth_date"], channel="web"
    )
    return identity.sign_in.send_patient_code(data, address)


async def checks_of(city, patient) -> int:
    """Codes tried against the patient's challenges (the database counts every try)."""
    rows = await fetch(
        city,
        "SELECT coalesce(sum(attempts), 0) AS n FROM otp_challenges WHERE patient_id = $1",
        patient["id"],
    )
    return rows[0]["n"]


async def test_a_burst_of_code_requests_sends_no_more_codes_than_the_limit(city, identity, backend):
    patient, other = await adults(city, 2, offset=0 if backend == "redis" else 8)
    burst = [outcome(ask_code(identity, patient, "10.0.0.1")) for _ in range(BURST)]
    statuses = await asyncio.gather(*burst)
    await asyncio.sleep(0)
    assert statuses.count(200) == ACCOUNT.free
    assert statuses.count(429) == BURST - ACCOUNT.free
    assert len(identity.sign_in.sms.sent) == ACCOUNT.free
    # Many addresses at once meet the ceiling of codes sent to one phone.
    identity.sign_in.sms.sent.clear()
    burst = [outcome(ask_code(identity, other, f"10.0.1.{i}")) for i in range(BURST)]
    statuses = await asyncio.gather(*burst)
    await asyncio.sleep(0)
    assert statuses.count(200) == CODES.free
    assert len(identity.sign_in.sms.sent) == CODES.free


async def test_a_burst_of_wrong_codes_gets_no_more_tries_than_the_limit(city, identity, backend):
    (patient,) = await adults(city, 1, offset=2 if backend == "redis" else 3)
    # Challenges asked for from several addresses: 5 tries each in the database alone.
    challenges, asked = [], 5
    for i in range(asked):
        sent = await ask_code(identity, patient, f"10.1.0.{i}")
        challenges.append(sent.challenge)
    code = identity.sign_in.sms.code_for(patient["phone"])
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    def guess(challenge, address):
        data = PatientTokenRequest(challenge, wrong)
        return outcome(identity.sign_in.patient_token(data, address))

    burst = [guess(challenges[i % asked], "10.1.9.9") for i in range(BURST)]
    statuses = await asyncio.gather(*burst)
    assert statuses.count(401) == ACCOUNT.free and statuses.count(429) == BURST - ACCOUNT.free
    assert await checks_of(city, patient) <= ACCOUNT.free
    # From many addresses at once, the account's ceiling holds (it counted the code
    # requests and the tries already).
    burst = [guess(challenges[i % asked], f"10.1.8.{i}") for i in range(BURST)]
    statuses = await asyncio.gather(*burst)
    assert statuses.count(401) == ACCOUNT_CEILING.free - asked - ACCOUNT.free
    assert await checks_of(city, patient) <= ACCOUNT_CEILING.free - asked


async def test_a_burst_of_wrong_passwords_gets_no_more_checks_than_the_limit(city, identity):
    doctors = await fetch(
        city,
        "SELECT username FROM staff_accounts WHERE role = 'doctor' ORDER BY id LIMIT 2 OFFSET 1",
    )
    passwords = identity.sign_in.passwords

    def attempt(username, address, password="not-the-password"):
        data = StaffTokenRequest(username, password)
        return outcome(identity.sign_in.staff_token(data, address))

    statuses = await asyncio.gather(
        *[attempt(doctors[0]["username"], "10.2.0.1") for _ in range(BURST)]
    )
    assert passwords.checked == ACCOUNT.free
    assert statuses.count(401) == ACCOUNT.free and statuses.count(429) == BURST - ACCOUNT.free
    # From many addresses at once: the account's ceiling.
    passwords.checked = 0
    statuses = await asyncio.gather(
        *[attempt(doctors[1]["username"], f"10.2.1.{i}") for i in range(BURST)]
    )
    assert passwords.checked == ACCOUNT_CEILING.free
    assert statuses.count(429) == BURST - ACCOUNT_CEILING.free


async def test_one_address_cannot_lock_a_patient_out_but_many_meet_the_ceiling(
    city, identity, backend
):
    patient, other = await adults(city, 2, offset=4 if backend == "redis" else 10)
    stranger = "10.3.0.66"
    wrong_birth = date(1900, 1, 1)
    statuses = [
        await outcome(ask_code(identity, patient, stranger, wrong_birth)) for _ in range(12)
    ]
    assert statuses[: ACCOUNT.free] == [200] * ACCOUNT.free
    assert statuses[ACCOUNT.free :] == [429] * (12 - ACCOUNT.free)
    # The patient, from their own address, is not locked out: a code, and signed in.
    sent = await ask_code(identity, patient, "10.3.0.7")
    code = identity.sign_in.sms.code_for(patient["phone"])
    token = await identity.sign_in.patient_token(
        PatientTokenRequest(sent.challenge, code), "10.3.0.7"
    )
    assert token.access_token.count(".") == 2
    # Many addresses, one attempt each: the account's ceiling of codes applies to all.
    for i in range(CODES.free):
        assert await outcome(ask_code(identity, other, f"10.3.1.{i}", wrong_birth)) == 200
    assert await outcome(ask_code(identity, other, "10.3.2.1")) == 429
    assert not [to for to, _, _ in identity.sign_in.sms.sent if to == other["phone"]]


async def test_a_staff_account_locked_from_one_address_signs_in_from_another(city, identity):
    (doctor,) = await fetch(
        city,
        "SELECT username FROM staff_accounts WHERE role = 'doctor' ORDER BY id OFFSET 2 LIMIT 1",
    )

    def attempt(address, password="not-the-password"):
        data = StaffTokenRequest(doctor["username"], password)
        return outcome(identity.sign_in.staff_token(data, address))

    statuses = [await attempt("10.4.0.66") for _ in range(8)]
    assert statuses == [401] * ACCOUNT.free + [429] * (8 - ACCOUNT.free)
    assert await attempt("10.4.0.66", DEMO_PASSWORD) == 429
    assert await attempt("10.4.0.7", DEMO_PASSWORD) == 200


@pytest.mark.parametrize("redis_down", [False, True], ids=["redis", "database"])
async def test_registered_and_unknown_policy_numbers_get_the_same_answers(
    city, redis_url, redis_client, redis_down
):
    await redis_client.flushdb()
    await fetch(city, "DELETE FROM signin_failures")
    (patient,) = await adults(city, 1, offset=6 if redis_down else 7)
    registered = {
        "policy_number": patient["policy_number"],
        "birth_date": str(patient["birth_date"]),
    }
    unknown = {"policy_number": UNKNOWN, "birth_date": str(patient["birth_date"])}
    sms = CapturingSms()
    answers = {}
    async with app_client(city, DEAD_REDIS if redis_down else redis_url, sms=sms) as client:
        for name, body in (("registered", registered), ("unknown", unknown)):
            answers[name] = [
                await client.post("/api/v1/auth/patient/code", json=body) for _ in range(8)
            ]
    await fetch(city, "DELETE FROM signin_failures")

    statuses = {name: [a.status_code for a in answers[name]] for name in answers}
    assert statuses["registered"] == statuses["unknown"] == [200] * 5 + [429] * 3

    def shape(answer):
        body = answer.json()
        if answer.status_code == 200:
            return 200, sorted(body)
        assert 0 < int(answer.headers["retry-after"]) <= ACCOUNT.base
        return answer.status_code, body["code"], sorted(body)

    assert [shape(a) for a in answers["registered"]] == [shape(a) for a in answers["unknown"]]
    assert len(sms.sent) == ACCOUNT.free


async def test_patients_who_sign_in_at_one_kiosk_do_not_use_up_its_limit(city, identity, backend):
    kiosk = "10.5.0.1"
    patients = await adults(city, 30, offset=20 if backend == "redis" else 60)
    for patient in patients:  # 60 attempts from one address, more than its limit
        sent = await ask_code(identity, patient, kiosk)
        code = identity.sign_in.sms.code_for(patient["phone"])
        data = PatientTokenRequest(sent.challenge, code)
        assert await outcome(identity.sign_in.patient_token(data, kiosk)) == 200
