"""Staff accounts managed over the API, as the city's and a clinic's administrators do:
a new account's temporary password opens nothing until its owner sets her own; a
clinic administrator reaches her clinic's accounts of a clinic's roles and nothing of
another clinic; disabling, a temporary password and a role change end the account's
sessions; every change is audited; bad input is a problem with a stable code."""

from __future__ import annotations

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import app_client, fetch

NEW_PASSWORD = "my-own-quiet-2026"


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_staff_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=8, doctors=120, patients=300)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as test_client:
        yield test_client


@pytest.fixture(scope="module")
async def clinics(city) -> dict:
    rows = await fetch(
        city,
        "SELECT clinic_id, min(id) AS doctor FROM doctors GROUP BY clinic_id ORDER BY clinic_id "
        "LIMIT 2",
    )
    (a, doctor_a), (b, doctor_b) = [(r["clinic_id"], r["doctor"]) for r in rows]
    return {"a": a, "b": b, "doctor_a": doctor_a, "doctor_b": doctor_b}


def head_of(clinic: int) -> dict[str, str]:
    return bearer.bearer("clinic_admin", 300_000 + clinic, org=clinic)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create(client, headers, **body) -> dict:
    response = await client.post("/api/v1/staff", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def sign_in(client, username: str, password: str):
    return await client.post(
        "/api/v1/auth/staff/token", json={"username": username, "password": password}
    )


async def set_own(client, username: str, temporary: str, new: str = NEW_PASSWORD):
    return await client.post(
        "/api/v1/auth/staff/password",
        json={"username": username, "password": temporary, "new_password": new},
    )


async def test_a_new_account_signs_in_only_after_setting_her_own_password(client, city, clinics):
    made = await create(
        client,
        bearer.administrator(),
        username="desk.new",
        role="registrar",
        full_name="Иванова Анна",
        clinic_id=clinics["a"],
    )
    account, temporary = made["account"], made["temporary_password"]
    assert account["must_change_password"] is True and account["clinic_id"] == clinics["a"]
    refused = await sign_in(client, "desk.new", temporary)
    assert refused.status_code == 403
    assert refused.json()["code"] == "password_change_required"
    weak = await set_own(client, "desk.new", temporary, "desk.new-2026")  # the username in it
    assert weak.status_code == 422 and weak.json()["code"] == "weak_password"
    wrong = await set_own(client, "desk.new", "not-the-temporary-one")
    assert wrong.status_code == 401 and wrong.json()["code"] == "sign_in_failed"
    changed = await set_own(client, "desk.new", temporary)
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "registrar"
    assert changed.json()["organisation"] == clinics["a"]
    me = await client.get("/api/v1/me", headers=auth(changed.json()["access_token"]))
    assert me.status_code == 200 and me.json()["name"] == "Иванова Анна"
    assert (await sign_in(client, "desk.new", temporary)).status_code == 401
    assert (await sign_in(client, "desk.new", NEW_PASSWORD)).status_code == 200
    records = await fetch(
        city,
        "SELECT action, actor_role FROM audit_log WHERE resource = 'staff_account' "
        "AND resource_id = $1 ORDER BY id",
        str(account["id"]),
    )
    assert [(r["action"], r["actor_role"]) for r in records] == [
        ("create", "administrator"),
        ("change_password", "registrar"),
    ]


async def test_bad_input_is_a_problem_with_its_code_and_nothing_is_made(client, city, clinics):
    admin = bearer.administrator()
    cases = [
        ({"username": "registrar.1", "role": "registrar", "clinic_id": clinics["a"]}, 409,
         "username_taken"),
        ({"username": "doc.without.row", "role": "doctor", "clinic_id": clinics["a"]}, 422,
         "unknown_doctor"),
        ({"username": "doc.other.row", "role": "doctor", "clinic_id": clinics["a"],
          "doctor_id": clinics["doctor_b"]}, 422, "unknown_doctor"),
        ({"username": "desk.nowhere", "role": "registrar"}, 422, "clinic_required"),
        ({"username": "desk.missing", "role": "registrar", "clinic_id": 999_999}, 422,
         "unknown_clinic"),
        ({"username": "pharm.in.clinic", "role": "pharmacist", "clinic_id": clinics["a"]}, 422,
         "clinic_not_allowed"),
        ({"username": "Not Valid", "role": "registrar", "clinic_id": clinics["a"]}, 400,
         "validation_error"),
        ({"username": "desk.typo", "role": "registrar", "clinic": clinics["a"]}, 400,
         "validation_error"),
    ]  # fmt: skip
    for body, status, code in cases:
        response = await client.post("/api/v1/staff", json=body, headers=admin)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == code, body
    names = [c[0]["username"] for c in cases[1:]]
    assert not await fetch(city, "SELECT 1 FROM staff_accounts WHERE username = ANY($1)", names)


async def test_a_clinic_administrator_manages_her_clinic_only(client, city, clinics):
    a, b = clinics["a"], clinics["b"]
    head = head_of(a)
    mine = await create(client, head, username="desk.of.a", role="registrar")
    assert mine["account"]["clinic_id"] == a  # her clinic, unnamed
    theirs = await create(
        client, bearer.administrator(), username="desk.of.b", role="registrar", clinic_id=b
    )
    other_id = theirs["account"]["id"]
    listing = await client.get("/api/v1/staff", params={"limit": 200}, headers=head)
    assert listing.status_code == 200
    seen = listing.json()["items"]
    assert seen and {s["clinic_id"] for s in seen} == {a}
    assert {s["role"] for s in seen} <= {"registrar", "doctor", "clinic_admin"}
    assert "desk.of.b" not in listing.text
    other = await client.get("/api/v1/staff", params={"clinic_id": b}, headers=head)
    assert other.status_code == 403 and other.json()["code"] == "forbidden"
    for path in ("disable", "enable", "temporary-password"):
        refused = await client.post(f"/api/v1/staff/{other_id}/{path}", headers=head)
        assert refused.status_code == 404, path
        assert "desk.of.b" not in refused.text
    moved = await client.post(
        f"/api/v1/staff/{other_id}/role", json={"role": "clinic_admin"}, headers=head
    )
    assert moved.status_code == 404
    assert (await client.get(f"/api/v1/staff/{other_id}", headers=head)).status_code == 404
    for body, code in (
        ({"username": "city.admin.2", "role": "administrator"}, "forbidden_role"),
        ({"username": "pharm.by.head", "role": "pharmacist"}, "forbidden_role"),
        ({"username": "desk.in.b", "role": "registrar", "clinic_id": b}, "forbidden"),
    ):
        refused = await client.post("/api/v1/staff", json=body, headers=head)
        assert refused.status_code == 403 and refused.json()["code"] == code, body
    police = (await fetch(city, "SELECT id FROM staff_accounts WHERE role = 'police_officer'"))[0]
    assert (
        await client.post(f"/api/v1/staff/{police['id']}/disable", headers=head)
    ).status_code == 404
    untouched = await fetch(
        city, "SELECT disabled, must_change_password FROM staff_accounts WHERE id = $1", other_id
    )
    assert untouched[0]["disabled"] is False


async def test_disabling_a_reset_and_a_role_change_end_the_accounts_sessions(client, city, clinics):
    a = clinics["a"]
    head = head_of(a)
    made = await create(client, head, username="desk.changing", role="registrar")
    staff_id = made["account"]["id"]
    token = auth((await set_own(client, "desk.changing", made["temporary_password"])).json()[
        "access_token"
    ])  # fmt: skip
    assert (await client.get("/api/v1/me", headers=token)).status_code == 200
    disabled = await client.post(f"/api/v1/staff/{staff_id}/disable", headers=head)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert (await client.get("/api/v1/me", headers=token)).status_code == 401
    refused = await sign_in(client, "desk.changing", NEW_PASSWORD)
    assert refused.status_code == 403 and refused.json()["code"] == "account_disabled"
    assert (await client.post(f"/api/v1/staff/{staff_id}/enable", headers=head)).status_code == 200
    token = auth((await sign_in(client, "desk.changing", NEW_PASSWORD)).json()["access_token"])
    reset = await client.post(f"/api/v1/staff/{staff_id}/temporary-password", headers=head)
    assert reset.status_code == 200
    temporary = reset.json()["temporary_password"]
    assert (await client.get("/api/v1/me", headers=token)).status_code == 401
    assert (await sign_in(client, "desk.changing", NEW_PASSWORD)).status_code == 401
    assert (await sign_in(client, "desk.changing", temporary)).json()[
        "code"
    ] == "password_change_required"
    token = auth((await set_own(client, "desk.changing", temporary, "another-own-77")).json()[
        "access_token"
    ])  # fmt: skip
    no_row = await client.post(
        f"/api/v1/staff/{staff_id}/role", json={"role": "doctor"}, headers=head
    )
    assert no_row.status_code == 422 and no_row.json()["code"] == "unknown_doctor"
    doctor = clinics["doctor_a"]
    moved = await client.post(
        f"/api/v1/staff/{staff_id}/role", json={"role": "doctor", "doctor_id": doctor}, headers=head
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["role"], moved.json()["doctor_id"]) == ("doctor", doctor)
    assert (await client.get("/api/v1/me", headers=token)).status_code == 401
    again = await sign_in(client, "desk.changing", "another-own-77")
    assert (again.json()["role"], again.json()["doctor_id"]) == ("doctor", doctor)
    self_change = await client.post(
        f"/api/v1/staff/{staff_id}/role",
        json={"role": "registrar"},
        headers=bearer.bearer("clinic_admin", staff_id, org=a),
    )
    assert self_change.status_code == 409 and self_change.json()["code"] == "cannot_change_self"
    actions = await fetch(
        city,
        "SELECT action FROM audit_log WHERE resource = 'staff_account' AND resource_id = $1 "
        "AND actor_role = 'clinic_admin' ORDER BY id",
        str(staff_id),
    )
    assert [r["action"] for r in actions] == [
        "create",
        "disable",
        "enable",
        "temporary_password",
        "change_role",
    ]


async def test_the_list_comes_a_page_at_a_time_and_filters(client, clinics):
    admin = bearer.administrator()
    first = await client.get("/api/v1/staff", params={"limit": 3}, headers=admin)
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 3 and page["next_after"] == page["items"][-1]["id"]
    second = await client.get(
        "/api/v1/staff", params={"limit": 3, "after": page["next_after"]}, headers=admin
    )
    ids = [s["id"] for s in page["items"] + second.json()["items"]]
    assert ids == sorted(set(ids))
    doctors = await client.get(
        "/api/v1/staff", params={"role": "doctor", "clinic_id": clinics["a"]}, headers=admin
    )
    assert doctors.json()["items"]
    assert all(
        s["role"] == "doctor" and s["clinic_id"] == clinics["a"] for s in doctors.json()["items"]
    )
    bad = await client.get("/api/v1/staff", params={"role": "patient"}, headers=admin)
    assert bad.status_code == 400
    assert (
        await client.get("/api/v1/staff", headers=bearer.registrar(clinics["a"]))
    ).status_code == 403
