"""The app under test with a signed-in world: an SMS sender that keeps the codes it
"sends", and helpers to find patients of a seeded city. Imported as ``signin``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import bearer
from bearer import TEST_SECRET
from litestar.testing import AsyncTestClient

from imias.app import create_app
from imias.platform.settings import load_settings


class CapturingSms:
    """An SMS gateway for tests: the codes it was given, by phone."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.texts: list[tuple[str, str]] = []  # notices (not codes), in order

    async def send_code(self, phone: str, code: str, purpose: str) -> None:
        self.sent.append((phone, code, purpose))

    async def send_text(self, phone: str, text: str) -> None:
        self.texts.append((phone, text))

    def code_for(self, phone: str) -> str:
        codes = [code for to, code, _ in self.sent if to == phone]
        assert codes, f"no code was sent to {phone}"
        return codes[-1]


@asynccontextmanager
async def app_client(
    database_url: str, redis_url: str, *, sms: Any = None, **settings: Any
) -> AsyncIterator[AsyncTestClient]:
    app = create_app(
        load_settings(
            {},
            database_url=database_url,
            redis_url=redis_url,
            secret_key=TEST_SECRET,
            **settings,
        ),
        sms=sms,
    )
    async with AsyncTestClient(app) as client:
        await app.state.engine.wait_loaded()
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def adults(url: str, n: int, *, offset: int = 0) -> list[asyncpg.Record]:
    """Adults with a phone and no appointment yet (id, policy_number, birth_date, phone,
    attached_clinic_id and names), in a stable order; ``offset`` skips some."""
    return await fetch(
        url,
        """
        SELECT id, policy_number, birth_date, phone, attached_clinic_id, family_name,
               given_name, patronymic
          FROM patients p
         WHERE birth_date < now() - interval '25 years' AND phone IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = p.id)
         ORDER BY id OFFSET $2 LIMIT $1
        """,
        n,
        offset,
    )


async def guardian_and_child(url: str, offset: int = 0) -> tuple[asyncpg.Record, asyncpg.Record]:
    """A guardian (with a phone) and one of their linked children (under 16)."""
    row = (
        await fetch(
            url,
            """
            SELECT g.guardian_id, g.child_id FROM guardian_links g
              JOIN patients c ON c.id = g.child_id
              JOIN patients p ON p.id = g.guardian_id
             WHERE c.birth_date > now() - interval '16 years' AND p.phone IS NOT NULL
             ORDER BY g.child_id OFFSET $1 LIMIT 1
            """,
            offset,
        )
    )[0]
    guardian = (await fetch(url, "SELECT * FROM patients WHERE id = $1", row["guardian_id"]))[0]
    child = (await fetch(url, "SELECT * FROM patients WHERE id = $1", row["child_id"]))[0]
    return guardian, child


async def book_specialty(client: Any, person: Mapping[str, Any], specialty: str) -> dict[str, Any]:
    """Book ``person`` with the first doctor of ``specialty`` who has a free time, as the
    patient does on the API; the appointment."""
    slots = (await client.get("/api/v1/slots", params={"specialty": specialty, "limit": 30})).json()
    for slot in slots:
        answer = await client.post(
            "/api/v1/appointments",
            json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
            headers=bearer.patient(person["id"]) | key(),
        )
        if answer.status_code == 201:
            return dict(answer.json())
    raise AssertionError(f"no {specialty} slot could be booked")
