"""Logs never hold a policy number, a phone number, a one-time code, a password or a
token in clear: sign-in (right and wrong), booking with a token, staff sign-in and
sign-out, captured at DEBUG from every logger, are scanned for them. In a demo
(IMIAS_DEMO=1) the one line that carries a code is the demo SMS sender's."""

import logging

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import CapturingSms, adults, app_client, key

from imias.citygen.seed import DEMO_PASSWORD
from imias.platform.logs import JsonFormatter


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, self.format(record)))


@pytest.fixture
def captured():
    root = logging.getLogger()
    handler = Capture()
    levels = {name: logging.getLogger(name).level for name in ("", "imias")}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("imias").setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_logs_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=1000)
    yield url
    await drop_database(pg_admin_url, name)


def secrets_of(patient, *more: str) -> list[str]:
    phone = patient["phone"]
    return [
        patient["policy_number"],
        phone,
        phone.lstrip("+"),
        phone[2:],  # without the country code
        str(patient["birth_date"]),
        DEMO_PASSWORD,
        *more,
    ]


async def test_sign_in_and_booking_leave_no_secret_in_the_logs(city, redis_url, captured):
    sms = CapturingSms()
    (patient, locked_out) = await adults(city, 2)
    async with app_client(city, redis_url, sms=sms) as client:
        body = {"policy_number": patient["policy_number"], "birth_date": str(patient["birth_date"])}
        sent = (await client.post("/api/v1/auth/patient/code", json=body)).json()
        code = sms.code_for(patient["phone"])
        wrong = f"{(int(code) + 7) % 10**6:06d}"
        await client.post(
            "/api/v1/auth/patient/token", json={"challenge": sent["challenge"], "code": wrong}
        )
        signed = await client.post(
            "/api/v1/auth/patient/token", json={"challenge": sent["challenge"], "code": code}
        )
        token = signed.json()["access_token"]
        me = {"Authorization": f"Bearer {token}"}
        slot = (await client.get("/api/v1/slots", params={"specialty": "ophthalmologist"})).json()[
            0
        ]
        held = await client.post(
            "/api/v1/holds",
            json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
            headers=me,
        )
        confirmed = await client.post(
            f"/api/v1/holds/{held.json()['token']}/confirm", headers=me | key()
        )
        assert confirmed.status_code == 201
        await client.get(f"/api/v1/patients/{patient['id']}/appointments", headers=me)
        wrong_password = "not-the-password-42"
        desk = f"registrar.{slot['clinic_id']}"
        await client.post(
            "/api/v1/auth/staff/token", json={"username": desk, "password": wrong_password}
        )
        staff = await client.post(
            "/api/v1/auth/staff/token", json={"username": desk, "password": DEMO_PASSWORD}
        )
        staff_token = staff.json()["access_token"]
        await client.get(
            f"/api/v1/patients/{patient['id']}/appointments",
            headers={"Authorization": f"Bearer {staff_token}"},
        )
        await client.post("/api/v1/auth/sign-out", headers=me)
        await client.get("/api/v1/me", headers=me)  # refused: revoked
        await client.get("/api/v1/me", headers={"Authorization": "Bearer " + token[:-3] + "abc"})
        stranger = {"policy_number": locked_out["policy_number"], "birth_date": "1901-01-01"}
        for _ in range(7):
            last = await client.post("/api/v1/auth/patient/code", json=stranger)
        assert last.status_code == 429
        expired = bearer.token("patient", patient["id"], ttl=-5)
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    lines = [line for _, line in captured.lines]
    assert any("sign-in failed" in line for line in lines), "failures are logged"
    assert any("patient signed in" in line for line in lines)
    forbidden = secrets_of(patient, code, wrong, wrong_password, token, staff_token, expired)
    forbidden += [token.split(".")[2], staff_token.split(".")[2], locked_out["policy_number"]]
    forbidden += [locked_out["phone"]]
    for secret in forbidden:
        leaked = [line for line in lines if secret in line]
        assert not leaked, f"a secret is in the logs: {leaked[:1]}"


async def test_in_a_demo_the_code_is_on_the_page_and_in_the_demo_senders_line_only(
    city, redis_url, captured
):
    (_, _, patient) = await adults(city, 3)
    async with app_client(city, redis_url, demo=True) as client:
        body = {"policy_number": patient["policy_number"], "birth_date": str(patient["birth_date"])}
        sent = (await client.post("/api/v1/auth/patient/code", json=body)).json()
        code = sent["demo_code"]
        signed = await client.post(
            "/api/v1/auth/patient/token", json={"challenge": sent["challenge"], "code": code}
        )
        assert signed.status_code == 200
    carrying = [(name, line) for name, line in captured.lines if code in line]
    assert [name for name, _ in carrying] == ["imias.identity.sms"]
    assert "demo SMS" in carrying[0][1]
    for secret in secrets_of(patient, signed.json()["access_token"]):
        assert not any(secret in line for _, line in captured.lines), secret
