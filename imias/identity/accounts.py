"""Who may act for whom, staff accounts, and break-glass.

- A patient acts for themself, for a child (under 18) linked to them in
  ``guardian_links``, and for the adult named in their token's ``act`` claim (that
  adult gave a code, :mod:`.signin`). The link is read at each request that names a
  child, so a removed link takes effect at once.
- An administrator disables, enables and resets the password of staff accounts; each
  revokes every token of the account issued until then.
- A doctor breaks the glass to read a patient not booked with her clinic: with a stated
  reason, for :data:`BREAK_GLASS_SECONDS`, recorded in the audit log and flagged there
  on every read made under it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from imias.identity import repository as repo
from imias.identity.model import (
    CLINIC_ROLES,
    BreakGlassGrant,
    LinkedPatient,
    Principal,
    Role,
    StaffAccount,
)
from imias.identity.passwords import Passwords
from imias.identity.sessions import Sessions
from imias.platform.audit.writer import record
from imias.platform.db import Executor
from imias.platform.problems import ProblemError
from imias.registry import patients

log = logging.getLogger("imias.identity")

BREAK_GLASS_SECONDS = 3600


def _account(row: asyncpg.Record) -> StaffAccount:
    return StaffAccount(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        full_name=row["full_name"],
        disabled=row["disabled"],
        clinic_id=row["clinic_id"],
        doctor_id=row["doctor_id"],
        organisation_id=row["organisation_id"],
    )


class Accounts:
    def __init__(
        self,
        pool: asyncpg.Pool,
        sessions: Sessions,
        passwords: Passwords,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.sessions = sessions
        self.passwords = passwords
        self.clock = clock

    # -- acting for others -----------------------------------------------------------

    async def may_act_for(self, principal: Principal, patient_id: int) -> bool:
        """Whether this patient may act for ``patient_id`` (themself, a linked child,
        or the adult who gave a code)."""
        if principal.role != "patient":
            return False
        if patient_id in (principal.subject, principal.act):
            return True
        if not await self.pool.fetchval(repo.IS_LINKED, principal.subject, patient_id):
            return False
        return bool(await patients.minors(self.pool, [patient_id], self.clock().date()))

    async def guardian_of(self, principal: Principal, patient_id: int) -> bool:
        """Whether this patient is the guardian of ``patient_id``, a linked child under 18
        (whose medical record they read; an adult who gave a code is not included)."""
        if principal.role != "patient":
            return False
        if not await self.pool.fetchval(repo.IS_LINKED, principal.subject, patient_id):
            return False
        return bool(await patients.minors(self.pool, [patient_id], self.clock().date()))

    async def children(self, guardian: int) -> list[LinkedPatient]:
        links = {r["child_id"]: r["relation"] for r in await self.pool.fetch(repo.LINKED, guardian)}
        minors = await patients.minors(self.pool, list(links), self.clock().date())
        return [
            LinkedPatient(r["id"], r["given_name"], r["birth_date"], links[r["id"]]) for r in minors
        ]

    async def name(self, principal: Principal) -> str | None:
        if principal.role == "patient":
            return await patients.name_of(self.pool, principal.subject)
        row = await self.pool.fetchrow(repo.STAFF_BY_ID, principal.subject)
        return None if row is None else row["full_name"]

    # -- staff accounts ------------------------------------------------------------------

    async def create_staff(
        self,
        username: str,
        password: str,
        role: Role,
        *,
        clinic_id: int | None = None,
        doctor_id: int | None = None,
        organisation_id: int | None = None,
        full_name: str | None = None,
    ) -> int:
        """A new staff account (for operators: ``imias staff add``)."""
        if role in CLINIC_ROLES and clinic_id is None:
            raise ValueError(f"a {role} belongs to a clinic: give its clinic")
        if role == "doctor" and doctor_id is None:
            raise ValueError("a doctor's account names its doctors row: give the doctor")
        if full_name is None and doctor_id is not None:
            assert clinic_id is not None  # a doctor's account has its clinic
            full_name = await patients.doctor_name(self.pool, clinic_id, doctor_id)
            if full_name is None:
                raise ValueError(f"clinic {clinic_id} has no doctor {doctor_id}")
        hashed = await self.passwords.hashed(password)
        account_id: int = await self.pool.fetchval(
            repo.INSERT_STAFF,
            username,
            hashed,
            role,
            full_name or username,
            clinic_id,
            doctor_id,
            organisation_id,
        )
        return account_id

    async def set_disabled(self, staff_id: int, disabled: bool) -> StaffAccount:
        async with self.pool.acquire() as conn, conn.transaction():
            if disabled:
                # The enabled administrators, locked: two disabling each other at once
                # cannot both pass this check.
                admins = {r["id"] for r in await conn.fetch(repo.LOCK_ENABLED_ADMINISTRATORS)}
                if admins == {staff_id}:
                    raise ProblemError(
                        409,
                        "last_administrator",
                        "This is the last enabled administrator: enable another first.",
                    )
            row = await conn.fetchrow(repo.SET_DISABLED, staff_id, disabled)
            if row is None:
                raise ProblemError(404, "not_found", f"There is no staff account {staff_id}.")
            if disabled:
                await self.sessions.revoke(
                    "staff", staff_id, session=None, reason="disabled", conn=conn
                )
            await record(conn, "disable" if disabled else "enable", "staff_account", staff_id)
        return _account(row)

    async def reset_password(self, staff_id: int, password: str) -> None:
        hashed = await self.passwords.hashed(password)
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(repo.SET_PASSWORD, staff_id, hashed, self.clock()) is None:
                raise ProblemError(404, "not_found", f"There is no staff account {staff_id}.")
            await self.sessions.revoke(
                "staff", staff_id, session=None, reason="password_reset", conn=conn
            )
            await record(conn, "reset_password", "staff_account", staff_id)

    # -- break-glass ---------------------------------------------------------------------

    async def break_glass(
        self, principal: Principal, patient_id: int, reason: str
    ) -> BreakGlassGrant:
        now = self.clock()
        expires = now + timedelta(seconds=BREAK_GLASS_SECONDS)
        async with self.pool.acquire() as conn, conn.transaction():
            if not await patients.exists(conn, patient_id):
                raise ProblemError(404, "not_found", f"There is no patient {patient_id}.")
            await conn.execute(
                repo.INSERT_GRANT, principal.subject, patient_id, now, expires, reason
            )
            await record(conn, "break_glass", "patient", patient_id, patient_id, reason=reason)
        log.warning(
            "break-glass: a doctor opened a patient not booked with her clinic",
            extra={"staff_id": principal.subject, "clinic": principal.org},
        )
        return BreakGlassGrant(patient_id, reason, expires)

    async def break_glass_reason(self, principal: Principal, patient_id: int) -> str | None:
        """The reason of the doctor's open break-glass grant for the patient, if any."""
        row = await self.pool.fetchrow(
            repo.ACTIVE_GRANT, principal.subject, patient_id, self.clock()
        )
        return None if row is None else row["reason"]


async def system_account(
    conn: Executor, username: str, role: Role, full_name: str, organisation_id: int | None
) -> int:
    """The id of a system's own staff account (made on first use): the author of what an
    outside system writes in the record, e.g. an ambulance station's calls. It is
    disabled and has no password: no one signs in as it. A person's account of the same
    username is never taken over (ValueError)."""
    found: int | None = await conn.fetchval(
        repo.UPSERT_SYSTEM_STAFF, username, role, full_name, organisation_id
    )
    if found is None:
        raise ValueError(f"{username!r} is a person's account, not a system's")
    return found
