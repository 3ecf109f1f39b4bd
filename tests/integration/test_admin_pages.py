"""The administrator's page of the integrations, as a browser without JavaScript uses
it: she signs in, sees each partner's delivered, pending and dead messages, the age of
the oldest pending one, since when it fails and why, and the events that could not be
routed; opens a partner's newest messages (never a body: it holds personal data; the
read is audited for each patient shown) and sends its dead messages again (a form with
the CSRF value). Another role's password opens nothing there. The JSON twin
``/api/v1/admin/partners`` says the same for monitoring."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import bearer
import pytest
from signin import app_client
from staffpages import hidden

from imias.citygen.seed import DEMO_PASSWORD
from imias.identity.accounts import Accounts
from imias.identity.passwords import Passwords
from integrations import repository as repo
from integrations.model import Partner

SECRET_BODY = "ДИАГНОЗ-НЕ-ДЛЯ-АДМИНИСТРАТОРА"


async def staff_account(url: str, role: str, org: int | None = None) -> str:
    username = f"{role[:5]}.{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        accounts = Accounts(pool, None, Passwords())  # type: ignore[arg-type]
        await accounts.create_staff(username, DEMO_PASSWORD, role, organisation_id=org)
    finally:
        await pool.close()
    return username


@pytest.fixture
async def partners(database_url: str) -> AsyncIterator[dict[str, str]]:
    """Two partners that no worker sends to (one disabled, one that only sends to us),
    with delivered, pending and dead messages, and one failing since an hour ago."""
    tag = uuid.uuid4().hex[:8]
    failing, quiet = f"adm-{tag}-school", f"adm-{tag}-hl7"
    conn = await asyncpg.connect(database_url)
    try:
        await repo.save_partner(
            conn,
            Partner(
                id=failing, kind="school_journal", name="Школа № 1 (журнал)", transport="http",
                url="https://journal.example/messages", topics=["school.absence"], enabled=False,
            ),
        )  # fmt: skip
        await repo.save_partner(
            conn,
            Partner(id=quiet, kind="hl7_feed", name="HL7", transport="mllp", url=None, topics=[]),
        )
        now = datetime.now(UTC)
        rows = [
            (failing, 101, "delivered", 1, None),
            (failing, 102, "pending", 3, "HTTP 503: told to fail"),
            (failing, 103, "dead", 1, "HTTP 422: bad class"),
            (failing, 104, "dead", 1, "HTTP 422: bad class"),
        ]
        for n, (partner, patient, status, attempts, error) in enumerate(rows):
            await conn.execute(
                """INSERT INTO deliveries (partner_id, patient_id, message_id, source, kind,
                       content_type, body, status, attempts, last_error, created_at,
                       delivered_at)
                   VALUES ($1, $2, $3, $4, 'school.absence', 'application/json', $5, $6, $7,
                           $8, $9::timestamptz,
                           CASE WHEN $6::text = 'delivered' THEN $9::timestamptz END)""",
                partner, patient, str(uuid.uuid4()), f"test:{tag}:{n}",
                f'{{"reason": "{SECRET_BODY}"}}'.encode(), status, attempts, error,
                now - timedelta(minutes=90 - n),
            )  # fmt: skip
        await conn.execute(
            "UPDATE partners SET failing_since = $2, last_error = $3 WHERE id = $1",
            failing, now - timedelta(hours=1), "ConnectError: connection refused",
        )  # fmt: skip
    finally:
        await conn.close()
    yield {"failing": failing, "quiet": quiet}


@pytest.fixture
async def client(database_url: str, redis_url: str):
    async with app_client(database_url, redis_url) as c:
        yield c


async def signed_in(client, database_url: str):
    username = await staff_account(database_url, "administrator")
    start = await client.get("/admin/sign-in")
    assert start.status_code == 200
    csrf = hidden(start.text, "csrf")
    form = {"csrf": csrf, "username": username, "password": DEMO_PASSWORD}
    answer = await client.post("/admin/sign-in", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/admin"  # the dashboard
    return csrf


def row_of(page: str, partner: str) -> str:
    start = page.index(f'id="partner-{partner}"')
    return page[start : page.index("</tr>", start)]


async def test_the_overview_shows_each_partners_state(client, database_url, partners) -> None:
    away = await client.get("/admin/integrations", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/admin/sign-in"
    await signed_in(client, database_url)
    page = await client.get("/admin/integrations")
    assert page.status_code == 200
    text = page.text
    failing = row_of(text, partners["failing"])
    assert 'data-pending="1" data-dead="2" data-failing="yes"' in failing
    assert "Школа № 1 (журнал)" in failing and "электронный журнал школы" in failing
    assert "ConnectError: connection refused" in failing
    assert "1 ч" in failing  # the oldest pending message waits since 88 minutes ago
    assert "Отправить недоставленные снова" in failing and "отключена" in failing
    quiet = row_of(text, partners["quiet"])
    assert 'data-pending="0" data-dead="0" data-failing="no"' in quiet
    assert "Отправить недоставленные снова" not in quiet
    assert SECRET_BODY not in text
    english = await client.get("/admin/integrations?lang=en")
    assert "Send the undelivered again" in english.text and "Delivered" in english.text


async def test_a_partners_messages_without_bodies_audited(client, database_url, partners) -> None:
    await signed_in(client, database_url)
    page = await client.get(f"/admin/integrations/{partners['failing']}")
    assert page.status_code == 200
    text = page.text
    for patient in (101, 102, 103, 104):
        assert f'<td class="n">{patient}</td>' in text
    assert text.count('data-status="dead"') == 2 and "HTTP 422: bad class" in text
    assert SECRET_BODY not in text
    conn = await asyncpg.connect(database_url)
    try:
        audited = await conn.fetch(
            "SELECT patient_id FROM audit_log WHERE action = 'read' AND resource = 'deliveries'"
            " AND resource_id = $1 ORDER BY patient_id",
            partners["failing"],
        )
    finally:
        await conn.close()
    assert [r["patient_id"] for r in audited] == [101, 102, 103, 104]
    missing = await client.get("/admin/integrations/no-such-partner")
    assert missing.status_code == 404 and "Такой внешней системы нет." in missing.text
    bad = await client.get("/admin/integrations/NOT%20AN%20ID")
    assert bad.status_code == 404


async def test_the_dead_are_sent_again_by_a_form(client, database_url, partners) -> None:
    csrf = await signed_in(client, database_url)
    path = f"/admin/integrations/{partners['failing']}/retry"
    forged = await client.post(path, data={"csrf": "x" * 30}, follow_redirects=False)
    assert forged.status_code == 403  # no CSRF value: nothing retried
    conn = await asyncpg.connect(database_url)
    try:
        dead = "SELECT count(*) FROM deliveries WHERE partner_id = $1 AND status = 'dead'"
        assert await conn.fetchval(dead, partners["failing"]) == 2
        done = await client.post(path, data={"csrf": csrf}, follow_redirects=False)
        assert done.status_code == 303
        assert done.headers["location"] == (
            f"/admin/integrations?retried={partners['failing']}&n=2"
        )
        assert await conn.fetchval(dead, partners["failing"]) == 0
        retried = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'retry' AND resource_id = $1",
            partners["failing"],
        )
        assert retried == 1
    finally:
        await conn.close()
    shown = await client.get(done.headers["location"])
    assert f"{partners['failing']}: снова в очереди сообщений: 2." in shown.text


async def test_another_roles_password_opens_nothing(client, database_url, partners) -> None:
    username = await staff_account(database_url, "pharmacist", org=1)
    start = await client.get("/admin/sign-in")
    form = {"csrf": hidden(start.text, "csrf"), "username": username, "password": DEMO_PASSWORD}
    answer = await client.post("/admin/sign-in", data=form, follow_redirects=False)
    assert answer.status_code == 403
    assert "Эта страница для администраторов." in answer.text
    assert "imias_admin" not in answer.headers.get("set-cookie", "")


async def test_the_json_twin_for_monitoring(client, partners) -> None:
    answer = await client.get("/api/v1/admin/partners", headers=bearer.administrator())
    assert answer.status_code == 200
    body = answer.json()
    (mine,) = [p for p in body["partners"] if p["id"] == partners["failing"]]
    assert (mine["delivered"], mine["pending"], mine["dead"]) == (1, 1, 2)
    assert mine["failing_since"] is not None and mine["oldest_pending_seconds"] > 3600
    assert isinstance(body["routing_failures"], int)
    refused = await client.get("/api/v1/admin/partners", headers=bearer.doctor(1, 1))
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
