"""Signing in and out over HTTP, as patients, guardians and staff do: codes by SMS,
passwords, rate limits (in Redis, and in PostgreSQL while Redis is down), revocation,
acting for a child or another adult, and break-glass."""

from datetime import UTC, date, datetime

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import CapturingSms, adults, app_client, fetch, guardian_and_child, key

from imias.citygen.seed import DEMO_PASSWORD
from imias.identity.revocation import RevocationList
from imias.platform.db import create_pool
from imias.platform.problems import ProblemError


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_identity_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
def sms():
    return CapturingSms()


@pytest.fixture
async def client(city, redis_url, sms):
    async with app_client(city, redis_url, sms=sms) as test_client:
        yield test_client


async def sign_in(client, sms, patient) -> str:
    sent = await client.post(
        "/api/v1/auth/patient/code",
        json={"policy_number": patient["policy_number"], "birth_date": str(patient["birth_date"])},
    )
    assert sent.status_code == 200, sent.text
    token = await client.post(
        "/api/v1/auth/patient/token",
        json={"challenge": sent.json()["challenge"], "code": sms.code_for(patient["phone"])},
    )
    assert token.status_code == 200, token.text
    return token.json()["access_token"]


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_a_patient_signs_in_with_policy_birth_date_and_the_code_sent_to_their_phone(
    client, sms, city
):
    (patient,) = await adults(city, 1)
    token = await sign_in(client, sms, patient)
    me = await client.get("/api/v1/me", headers=auth(token))
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "patient" and me.json()["subject"] == patient["id"]
    assert me.json()["name"]
    assert [purpose for _, _, purpose in sms.sent] == ["sign_in"]


async def test_a_code_works_once_and_a_wrong_code_not_at_all(client, sms, city):
    (patient,) = await adults(city, 1, offset=1)
    body = {"policy_number": patient["policy_number"], "birth_date": str(patient["birth_date"])}
    sent = (await client.post("/api/v1/auth/patient/code", json=body)).json()
    assert "demo_code" not in sent, "codes are shown only in a demo"
    code = sms.code_for(patient["phone"])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    refused = await client.post(
        "/api/v1/auth/patient/token", json={"challenge": sent["challenge"], "code": wrong}
    )
    assert refused.status_code == 401 and refused.json()["code"] == "sign_in_failed"
    ok = await client.post(
        "/api/v1/auth/patient/token", json={"challenge": sent["challenge"], "code": code}
    )
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    assert ok.json()["expires_in"] == 900
    again = await client.post(
        "/api/v1/auth/patient/token", json={"challenge": sent["challenge"], "code": code}
    )
    assert again.status_code == 401, "a code is used once"


async def test_a_request_for_no_such_patient_answers_the_same_and_sends_nothing(client, sms, city):
    (patient,) = await adults(city, 1, offset=2)
    wrong_birth = {"policy_number": patient["policy_number"], "birth_date": "1900-01-01"}
    unknown = {"policy_number": "0000000000000001", "birth_date": str(patient["birth_date"])}
    answers = [
        await client.post("/api/v1/auth/patient/code", json=b) for b in (wrong_birth, unknown)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert all(set(a.json()) == {"challenge", "expires_at"} for a in answers)
    assert sms.sent == []
    for answer in answers:
        tried = await client.post(
            "/api/v1/auth/patient/token",
            json={"challenge": answer.json()["challenge"], "code": "000000"},
        )
        assert tried.status_code == 401


async def test_repeated_failures_lock_the_account_and_say_when_to_come_back(client, sms, city):
    (patient, other) = await adults(city, 2, offset=3)
    body = {"policy_number": patient["policy_number"], "birth_date": "1900-01-01"}
    statuses = [
        (await client.post("/api/v1/auth/patient/code", json=body)).status_code for _ in range(5)
    ]
    assert statuses == [200] * 5  # the free failures
    locked = await client.post("/api/v1/auth/patient/code", json=body)
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["retry-after"]) <= 30
    right = {**body, "birth_date": str(patient["birth_date"])}
    assert (await client.post("/api/v1/auth/patient/code", json=right)).status_code == 429
    # Another account from the same address is not locked.
    assert (await sign_in(client, sms, other)).count(".") == 2


async def test_limits_are_kept_in_postgresql_while_redis_is_down(city, sms):
    (patient,) = await adults(city, 1, offset=5)
    dead_redis = "redis://127.0.0.1:1/0"
    async with app_client(city, dead_redis, sms=sms) as client:
        body = {"policy_number": patient["policy_number"], "birth_date": "1900-01-02"}
        for _ in range(5):
            assert (await client.post("/api/v1/auth/patient/code", json=body)).status_code == 200
        locked = await client.post("/api/v1/auth/patient/code", json=body)
        assert locked.status_code == 429, locked.text
        assert int(locked.headers["retry-after"]) > 0
    rows = await fetch(city, "SELECT key, failures FROM signin_failures WHERE failures >= 5")
    assert rows and all(str(patient["policy_number"]) not in r["key"] for r in rows)


async def test_staff_sign_in_with_a_password_bound_to_their_clinic(client, city):
    doctor = (
        await fetch(city, "SELECT * FROM staff_accounts WHERE role = 'doctor' ORDER BY id LIMIT 1")
    )[0]
    ok = await client.post(
        "/api/v1/auth/staff/token",
        json={"username": doctor["username"], "password": DEMO_PASSWORD},
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["role"], body["subject"]) == ("doctor", doctor["id"])
    assert (body["organisation"], body["doctor_id"]) == (doctor["clinic_id"], doctor["doctor_id"])
    wrong = await client.post(
        "/api/v1/auth/staff/token", json={"username": doctor["username"], "password": "nope"}
    )
    nobody = await client.post(
        "/api/v1/auth/staff/token", json={"username": "nobody.here", "password": DEMO_PASSWORD}
    )
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["code"] == nobody.json()["code"] == "sign_in_failed"


async def test_disabling_an_account_or_resetting_its_password_ends_its_tokens(client, city):
    registrar = (await fetch(city, "SELECT * FROM staff_accounts WHERE username = 'registrar.2'"))[
        0
    ]
    admin = bearer.administrator()
    signed = await client.post(
        "/api/v1/auth/staff/token", json={"username": "registrar.2", "password": DEMO_PASSWORD}
    )
    token = auth(signed.json()["access_token"])
    assert (await client.get("/api/v1/me", headers=token)).status_code == 200
    staff_path = f"/api/v1/staff/{registrar['id']}"
    assert (await client.post(f"{staff_path}/disable", headers=token)).status_code == 403
    disabled = await client.post(f"{staff_path}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    gone = await client.get("/api/v1/me", headers=token)
    assert gone.status_code == 401 and gone.json()["code"] == "unauthenticated"
    refused = await client.post(
        "/api/v1/auth/staff/token", json={"username": "registrar.2", "password": DEMO_PASSWORD}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "account_disabled"
    assert (await client.post(f"{staff_path}/enable", headers=admin)).status_code == 200
    again = await client.post(
        "/api/v1/auth/staff/token", json={"username": "registrar.2", "password": DEMO_PASSWORD}
    )
    assert again.status_code == 200
    token = auth(again.json()["access_token"])
    reset = await client.post(
        f"{staff_path}/password", json={"password": "a-new-password-2026"}, headers=admin
    )
    assert reset.status_code == 204
    assert (await client.get("/api/v1/me", headers=token)).status_code == 401
    old = await client.post(
        "/api/v1/auth/staff/token", json={"username": "registrar.2", "password": DEMO_PASSWORD}
    )
    new = await client.post(
        "/api/v1/auth/staff/token",
        json={"username": "registrar.2", "password": "a-new-password-2026"},
    )
    assert (old.status_code, new.status_code) == (401, 200)
    assert (
        await client.get("/api/v1/me", headers=auth(new.json()["access_token"]))
    ).status_code == 200
    records = await fetch(
        city,
        "SELECT action FROM audit_log WHERE resource = 'staff_account' AND resource_id = $1 "
        "ORDER BY id",
        str(registrar["id"]),
    )
    assert [r["action"] for r in records] == ["disable", "enable", "reset_password"]


async def test_sign_out_ends_the_session_and_everywhere_ends_them_all(client, sms, city):
    (patient,) = await adults(city, 1, offset=6)
    first, second, third = [auth(await sign_in(client, sms, patient)) for _ in range(3)]
    refreshed = await client.post("/api/v1/auth/refresh", headers=first)
    assert refreshed.status_code == 200
    renewed = auth(refreshed.json()["access_token"])
    assert (await client.post("/api/v1/auth/sign-out", headers=first)).status_code == 204
    assert (await client.get("/api/v1/me", headers=first)).status_code == 401
    assert (await client.get("/api/v1/me", headers=renewed)).status_code == 401, "same session"
    assert (await client.post("/api/v1/auth/refresh", headers=first)).status_code == 401
    assert (await client.get("/api/v1/me", headers=second)).status_code == 200
    everywhere = await client.post("/api/v1/auth/sign-out?everywhere=true", headers=second)
    assert everywhere.status_code == 204
    assert (await client.get("/api/v1/me", headers=third)).status_code == 401
    # Signing in again right after works (the new token is dated after the revocation).
    assert (
        await client.get("/api/v1/me", headers=auth(await sign_in(client, sms, patient)))
    ).status_code == 200


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "missing"),
        ("Basic dXNlcjpwYXNz", "not bearer"),
        ("Bearer ", "empty"),
        ("Bearer not.a.token", "garbage"),
        ("expired", "expired"),
        ("other-key", "signed by another key"),
    ],
    ids=["missing", "basic", "empty", "garbage", "expired", "other-key"],
)
async def test_a_request_without_a_valid_token_is_401_with_a_bearer_challenge(client, header, why):
    if header == "expired":
        header = "Bearer " + bearer.token("patient", 1, ttl=-1)
    elif header == "other-key":
        header = "Bearer " + bearer.token("patient", 1, secret="another-secret-" + "x" * 30)
    headers = {} if header is None else {"Authorization": header}
    response = await client.get("/api/v1/patients/1/appointments", headers=headers)
    assert response.status_code == 401, why
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_revocation_by_another_worker_applies_here_within_the_refresh(city):
    now = [1000.0]
    pool = await create_pool(city, 1)  # the app's pool lives in the app's event loop
    revocations = RevocationList(pool, refresh=15, stale=60, clock=lambda: now[0])
    principal = _principal(4242)
    assert not await revocations.is_revoked(principal)
    await fetch(
        city,
        "INSERT INTO token_revocations (subject_kind, subject_id, session_id, revoked_at, reason)"
        " VALUES ('patient', 4242, NULL, $1, 'sign_out_everywhere')",
        datetime.fromtimestamp(principal.iat + 1, UTC),
    )
    now[0] += 14
    assert not await revocations.is_revoked(principal), "the copy is 14 s old: not read yet"
    now[0] += 2
    try:
        assert await revocations.is_revoked(principal), "read again after 15 s"
    finally:
        await pool.close()


async def test_a_revocation_applies_as_long_as_the_longest_token_lives(city):
    # An operator's token of 6 hours, its account disabled 2 hours ago: still refused by
    # a worker that starts now (its first read covers a day), and after later reads.
    pool = await create_pool(city, 1)
    now = datetime.now(UTC).timestamp()
    try:
        await pool.execute(
            "INSERT INTO token_revocations (subject_kind, subject_id, session_id, revoked_at,"
            " reason) VALUES ('staff', 777, NULL, $1, 'disabled')",
            datetime.fromtimestamp(now - 7200, UTC),
        )
        from imias.identity import tokens

        old = tokens.claims("registrar", 777, org=1, ttl=6 * 3600, now=now - 3 * 3600)
        fresh = tokens.claims("registrar", 777, org=1, ttl=900, now=now - 60)
        ticks = [0.0]
        revocations = RevocationList(pool, clock=lambda: ticks[0])
        assert await revocations.is_revoked(old)
        assert not await revocations.is_revoked(fresh), "signed in again after the disable"
        ticks[0] += 16  # a later read adds what is new and keeps what it had
        assert await revocations.is_revoked(old)
    finally:
        await pool.close()


async def test_revocations_that_cannot_be_read_for_a_minute_fail_closed():
    class DownPool:
        async def fetch(self, *args):
            raise OSError("database gone")

    now = [0.0]
    revocations = RevocationList(DownPool(), refresh=15, stale=60, clock=lambda: now[0])
    revocations._loaded_at = 0.0  # loaded once, then the database went away
    now[0] = 30
    assert not await revocations.is_revoked(_principal(1)), "a 30 s old copy still serves"
    now[0] = 61
    with pytest.raises(ProblemError) as caught:
        await revocations.is_revoked(_principal(1))
    assert caught.value.status == 503


def _principal(subject: int):
    from imias.identity import tokens

    return tokens.claims("patient", subject, now=datetime.now(UTC).timestamp() - 5)


async def test_a_guardian_acts_for_a_linked_child_and_for_no_other(client, city):
    guardian, child = await guardian_and_child(city)
    _, stranger = await guardian_and_child(city, offset=40)
    me = bearer.patient(guardian["id"])
    profile = (await client.get("/api/v1/me", headers=me)).json()
    assert child["id"] in [c["patient_id"] for c in profile["children"]]
    slot = (
        await client.get("/api/v1/slots", params={"specialty": "paediatric_dentist", "limit": 1})
    ).json()
    if not slot:
        slot = (await client.get("/api/v1/slots", params={"specialty": "ophthalmologist"})).json()
    body = {
        "patient_id": child["id"],
        "doctor_id": slot[0]["doctor_id"],
        "starts_at": slot[0]["starts_at"],
    }
    held = await client.post("/api/v1/holds", json=body, headers=me)
    assert held.status_code == 201, held.text
    assert held.json()["slot"]["patient_id"] == child["id"]
    listed = await client.get(f"/api/v1/patients/{child['id']}/appointments", headers=me)
    assert listed.status_code == 200 and listed.json()[0]["status"] == "held"
    foreign = await client.get(f"/api/v1/patients/{stranger['id']}/appointments", headers=me)
    assert foreign.status_code == 404 and str(stranger["family_name"]) not in foreign.text
    record = (
        await fetch(
            city,
            "SELECT actor_id, acting_for, patient_id FROM audit_log "
            "WHERE action = 'hold' AND patient_id = $1",
            child["id"],
        )
    )[0]
    assert (record["actor_id"], record["acting_for"]) == (guardian["id"], child["id"])
    # A child who has turned 18 is an adult: the link no longer lets anyone act for them.
    await fetch(
        city, "UPDATE patients SET birth_date = $2 WHERE id = $1", child["id"], date(1990, 1, 1)
    )
    try:
        grown = await client.get(f"/api/v1/patients/{child['id']}/appointments", headers=me)
        assert grown.status_code == 404
    finally:
        await fetch(
            city,
            "UPDATE patients SET birth_date = $2 WHERE id = $1",
            child["id"],
            child["birth_date"],
        )


async def test_acting_for_another_adult_needs_a_code_sent_to_that_adult(client, sms, city):
    helper, elder, someone = await adults(city, 3, offset=8)
    me = bearer.patient(helper["id"])
    before = await client.get(f"/api/v1/patients/{elder['id']}/appointments", headers=me)
    assert before.status_code == 404
    asked = await client.post(
        "/api/v1/me/proxy/code",
        json={"policy_number": elder["policy_number"], "birth_date": str(elder["birth_date"])},
        headers=me,
    )
    assert asked.status_code == 200
    assert [(to, purpose) for to, _, purpose in sms.sent] == [(elder["phone"], "proxy")]
    code = sms.code_for(elder["phone"])
    # The code is no use to a third patient who learns it.
    thief = await client.post(
        "/api/v1/me/proxy/token",
        json={"challenge": asked.json()["challenge"], "code": code},
        headers=bearer.patient(someone["id"]),
    )
    assert thief.status_code == 401
    granted = await client.post(
        "/api/v1/me/proxy/token",
        json={"challenge": asked.json()["challenge"], "code": code},
        headers=me,
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["acting_for"] == elder["id"] and granted.json()["expires_in"] <= 1800
    proxy = auth(granted.json()["access_token"])
    after = await client.get(f"/api/v1/patients/{elder['id']}/appointments", headers=proxy)
    assert after.status_code == 200
    assert (
        await client.get(f"/api/v1/patients/{helper['id']}/appointments", headers=proxy)
    ).status_code == 200
    log = (await client.get("/api/v1/me/access-log", headers=bearer.patient(elder["id"]))).json()
    assert {e["action"] for e in log} >= {"proxy_consent", "read"}
    assert all(e["actor_id"] == helper["id"] for e in log)


async def test_a_doctor_breaks_the_glass_with_a_reason_and_it_is_flagged(client, city):
    (patient,) = await adults(city, 1, offset=12)
    doctor = bearer.doctor(1, 1, staff_id=900_001)
    path = f"/api/v1/patients/{patient['id']}/appointments"
    refused = await client.get(path, headers=doctor)
    assert refused.status_code == 403 and refused.json()["code"] == "break_glass_required"
    short = await client.post(
        "/api/v1/break-glass", json={"patient_id": patient["id"], "reason": "x"}, headers=doctor
    )
    assert short.status_code == 400
    padded = await client.post(
        "/api/v1/break-glass",
        json={"patient_id": patient["id"], "reason": " " * 10 + "x"},
        headers=doctor,
    )
    assert padded.status_code == 400, padded.text
    assert padded.json()["code"] == "validation_error"
    missing = await client.post(
        "/api/v1/break-glass",
        json={"patient_id": 999_999_999, "reason": "unconscious at the door"},
        headers=doctor,
    )
    assert missing.status_code == 404
    reason = "brought in unconscious, needs history"
    opened = await client.post(
        "/api/v1/break-glass", json={"patient_id": patient["id"], "reason": reason}, headers=doctor
    )
    assert opened.status_code == 201, opened.text
    assert (await client.get(path, headers=doctor)).status_code == 200
    other_doctor = bearer.doctor(2, 1, staff_id=900_002)
    assert (await client.get(path, headers=other_doctor)).status_code == 403, "her grant only"
    records = await fetch(
        city,
        "SELECT action, break_glass, reason FROM audit_log WHERE patient_id = $1 AND actor_id = $2 "
        "ORDER BY id",
        patient["id"],
        900_001,
    )
    assert [(r["action"], r["break_glass"], r["reason"]) for r in records] == [
        ("break_glass", True, reason),
        ("read", True, reason),
    ]
    log = (await client.get("/api/v1/me/access-log", headers=bearer.patient(patient["id"]))).json()
    assert [e["break_glass"] for e in log] == [True, True]
    assert log[0]["reason"] == reason


async def test_a_doctor_reads_her_clinics_rows_and_the_rest_only_after_break_glass(client, city):
    """A patient booked with two clinics: the first clinic's doctor sees only her
    clinic's appointments; the other clinic's need break-glass."""
    (patient,) = await adults(city, 1, offset=40)
    slots = (
        await client.get("/api/v1/slots", params={"specialty": "ophthalmologist", "limit": 50})
    ).json()
    first = slots[0]
    second = next(s for s in slots if s["clinic_id"] != first["clinic_id"])
    booked = await client.post(
        "/api/v1/appointments",
        json={
            "patient_id": patient["id"],
            "doctor_id": first["doctor_id"],
            "starts_at": first["starts_at"],
        },
        headers=key() | bearer.registrar(first["clinic_id"]),
    )
    assert booked.status_code == 201, booked.text
    elsewhere = await fetch(
        city,
        "INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id, starts_at, "
        "ends_at, status, channel) SELECT d.clinic_id, d.id, $1, d.specialty_id, "
        "$3::timestamptz + interval '1 day', $3::timestamptz + interval '1 day 15 minutes', "
        "'completed', 'registrar' FROM doctors d WHERE d.id = $2 RETURNING clinic_id",
        patient["id"],
        second["doctor_id"],
        datetime.fromisoformat(second["starts_at"]).replace(minute=0, second=0),
    )
    assert elsewhere[0]["clinic_id"] == second["clinic_id"]
    doctor = bearer.doctor(first["doctor_id"], first["clinic_id"], staff_id=900_010)
    path = f"/api/v1/patients/{patient['id']}/appointments"
    seen = (await client.get(path, headers=doctor)).json()
    assert {a["clinic_id"] for a in seen} == {first["clinic_id"]}
    opened = await client.post(
        "/api/v1/break-glass",
        json={"patient_id": patient["id"], "reason": "referred in, needs the full history"},
        headers=doctor,
    )
    assert opened.status_code == 201, opened.text
    seen = (await client.get(path, headers=doctor)).json()
    assert {a["clinic_id"] for a in seen} == {first["clinic_id"], second["clinic_id"]}


async def test_a_refresh_reads_the_staff_account_again(client, city):
    """Moved to another clinic: the next refresh carries the new clinic; a role taken
    away: no new token."""
    signed = await client.post(
        "/api/v1/auth/staff/token", json={"username": "registrar.4", "password": DEMO_PASSWORD}
    )
    assert signed.status_code == 200, signed.text
    token = auth(signed.json()["access_token"])
    assert (await client.get("/api/v1/me", headers=token)).json()["organisation"] == 4
    await fetch(city, "UPDATE staff_accounts SET clinic_id = 5 WHERE username = 'registrar.4'")
    refreshed = await client.post("/api/v1/auth/refresh", headers=token)
    assert refreshed.status_code == 200, refreshed.text
    moved = auth(refreshed.json()["access_token"])
    assert (await client.get("/api/v1/me", headers=moved)).json()["organisation"] == 5
    await fetch(
        city,
        "UPDATE staff_accounts SET role = 'pharmacist', clinic_id = NULL "
        "WHERE username = 'registrar.4'",
    )
    assert (await client.post("/api/v1/auth/refresh", headers=moved)).status_code == 401
