"""The staff accounts page ``/admin/staff`` as a browser without JavaScript uses it: the
city's administrator makes a registrar's account and reads its temporary password once;
the registrar signs in with it, is made to set her own, and works; disabled, her
session stops at once. A clinic administrator sees and changes her clinic's accounts
only; another clinic's account answers a page's 404."""

from __future__ import annotations

import re

import asyncpg
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import app_client, fetch
from staffpages import hidden, sign_in

from imias.citygen.seed import DEMO_PASSWORD
from imias.identity.accounts import Accounts
from imias.identity.passwords import Passwords


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_staff_pages_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=4, doctors=60, patients=200)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def client(city, redis_url, redis_client):
    await redis_client.flushdb()
    async with app_client(city, redis_url) as c:
        yield c


@pytest.fixture(scope="module")
async def clinics(city) -> tuple[int, int]:
    rows = await fetch(city, "SELECT id FROM clinics ORDER BY id LIMIT 2")
    return rows[0]["id"], rows[1]["id"]


async def make_head(url: str, clinic: int, username: str) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        accounts = Accounts(pool, None, Passwords())  # type: ignore[arg-type]
        await accounts.create_staff(username, DEMO_PASSWORD, "clinic_admin", clinic_id=clinic)
    finally:
        await pool.close()


def temporary_of(page: str) -> str:
    match = re.search(r'id="temporary-password">([^<]+)<', page)
    assert match, "no temporary password on the page"
    return match.group(1)


async def test_an_account_made_on_the_page_signs_in_after_setting_her_password(
    client, city, clinics
):
    a, _ = clinics
    answer, csrf = await sign_in(client, "/admin", "admin")
    assert answer.status_code == 303
    listing = await client.get("/admin/staff", params={"clinic": a})
    assert listing.status_code == 200 and "registrar." in listing.text
    made = await client.post(
        "/admin/staff",
        data={
            "csrf": csrf,
            "username": "desk.page",
            "full_name": "Петрова Мария",
            "role": "registrar",
            "clinic_id": str(a),
        },
    )
    assert made.status_code == 200, made.text
    temporary = temporary_of(made.text)
    again = await client.get("/admin/staff", params={"clinic": a})
    assert temporary not in again.text, "shown once"
    taken = await client.post(
        "/admin/staff",
        data={"csrf": csrf, "username": "desk.page", "role": "registrar", "clinic_id": str(a)},
    )
    assert taken.status_code == 409 and "уже занято" in taken.text

    first, desk_csrf = await sign_in(client, "/registrar", "desk.page", temporary)
    assert first.status_code == 200 and 'name="new_password"' in first.text
    mismatch = await client.post(
        "/registrar/sign-in",
        data={"csrf": desk_csrf, "username": "desk.page", "password": temporary,
              "new_password": "desk-own-2026!", "new_password_again": "another-2026!"},
    )  # fmt: skip
    assert mismatch.status_code == 422 and 'name="new_password"' in mismatch.text
    changed = await client.post(
        "/registrar/sign-in",
        data={"csrf": desk_csrf, "username": "desk.page", "password": temporary,
              "new_password": "desk-own-2026!", "new_password_again": "desk-own-2026!"},
        follow_redirects=False,
    )  # fmt: skip
    assert changed.status_code == 303 and changed.headers["location"] == "/registrar/find"
    assert (await client.get("/registrar/find", follow_redirects=False)).status_code == 200

    staff_id = (await fetch(city, "SELECT id FROM staff_accounts WHERE username = 'desk.page'"))[0][
        "id"
    ]
    off = await client.post(
        f"/admin/staff/{staff_id}/disable", data={"csrf": csrf}, follow_redirects=False
    )
    assert off.status_code == 303
    stopped = await client.get("/registrar/find", follow_redirects=False)
    assert stopped.status_code == 303 and stopped.headers["location"] == "/registrar"
    shown = await client.get("/admin/staff", params={"clinic": a})
    row = re.search(rf'<tr id="account-{staff_id}"[^>]*>', shown.text).group(0)
    assert 'data-disabled="yes"' in row


async def test_a_clinic_administrator_reaches_her_clinic_only(client, city, clinics):
    a, b = clinics
    await make_head(city, a, "head.a.pages")
    answer, csrf = await sign_in(client, "/admin", "head.a.pages")
    assert answer.status_code == 303
    listing = await client.get("/admin/staff")
    assert listing.status_code == 200
    assert f"registrar.{a}" in listing.text and f"registrar.{b}" not in listing.text
    assert "police." not in listing.text and "pharmacist." not in listing.text
    other = (await fetch(city, "SELECT id FROM staff_accounts WHERE username = $1",
                         f"registrar.{b}"))[0]["id"]  # fmt: skip
    refused = await client.post(f"/admin/staff/{other}/disable", data={"csrf": csrf})
    assert refused.status_code == 404
    assert refused.headers["content-type"].startswith("text/html")
    assert f"registrar.{b}" not in refused.text
    reset = await client.post(f"/admin/staff/{other}/reset", data={"csrf": csrf})
    assert reset.status_code == 404
    city_admin = await client.post(
        "/admin/staff", data={"csrf": csrf, "username": "city.by.head", "role": "administrator"}
    )
    assert city_admin.status_code == 403 and "только роли поликлиники" in city_admin.text
    mine = (await fetch(city, "SELECT id FROM staff_accounts WHERE username = $1",
                        f"registrar.{a}"))[0]["id"]  # fmt: skip
    reset = await client.post(f"/admin/staff/{mine}/reset", data={"csrf": csrf})
    assert reset.status_code == 200
    temporary = temporary_of(reset.text)
    refused = await client.post(
        "/api/v1/auth/staff/token", json={"username": f"registrar.{a}", "password": temporary}
    )
    assert refused.json()["code"] == "password_change_required"
    untouched = await fetch(
        city, "SELECT disabled, must_change_password FROM staff_accounts WHERE id = $1", other
    )
    assert (untouched[0]["disabled"], untouched[0]["must_change_password"]) == (False, False)


async def test_the_page_without_a_managers_session_sends_to_the_sign_in(client):
    page = await client.get("/admin/staff", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/admin/sign-in"
    start = await client.get("/admin/sign-in")
    refused = await client.post(
        "/admin/staff/1/disable", data={"csrf": hidden(start.text, "csrf")}, follow_redirects=False
    )
    assert refused.status_code == 303
