"""Who may act for whom, staff accounts, and break-glass.

- A patient acts for themself, for a child (under 18) linked to them in
  ``guardian_links``, and for the adult named in their token's ``act`` claim (that
  adult gave a code, :mod:`.signin`). The link is read at each request that names a
  child, so a removed link takes effect at once.
- Staff accounts are managed by administrators (:meth:`Accounts.add_staff`, ...): the
  city's ``administrator`` every account, a ``clinic_admin`` her clinic's accounts of a
  clinic's roles (another clinic's answer 404, as if there were none). A new account
  and a reset get a temporary password, shown once, that its owner must replace at her
  next sign-in (:mod:`.signin`). Disabling, a reset and a role change revoke every
  token of the account issued until then; each change is audited.
- A doctor breaks the glass to read a patient not booked with her clinic: with a stated
  reason, for :data:`BREAK_GLASS_SECONDS`, recorded in the audit log and flagged there
  on every read made under it.
"""

from __future__ import annotations

import logging
import secrets
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
    RoleChange,
    StaffAccount,
    StaffCreate,
    StaffCreated,
    StaffPage,
)
from imias.identity.passwords import Passwords
from imias.identity.sessions import Sessions
from imias.platform.audit.writer import record
from imias.platform.db import Connection, Executor
from imias.platform.problems import ProblemError
from imias.registry import patients

log = logging.getLogger("imias.identity")

BREAK_GLASS_SECONDS = 3600


#: A temporary password: 3 groups of 4 from an alphabet with no look-alikes (about
#: 60 bits), typed once by its owner before she sets her own.
TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def temporary_password() -> str:
    return "-".join("".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(4)) for _ in range(3))


def staff_account(row: asyncpg.Record) -> StaffAccount:
    return StaffAccount(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        full_name=row["full_name"],
        disabled=row["disabled"],
        clinic_id=row["clinic_id"],
        doctor_id=row["doctor_id"],
        organisation_id=row["organisation_id"],
        must_change_password=row["must_change_password"],
        created_at=row["created_at"],
    )


def may_manage(manager: Principal | None, role: str, clinic_id: int | None) -> bool:
    """The city's administrator (or an operator: None) manages every account; a clinic
    administrator the accounts of her clinic with a clinic's role."""
    if manager is None or manager.role == "administrator":
        return True
    return manager.role == "clinic_admin" and clinic_id == manager.org and role in CLINIC_ROLES


def check_role(manager: Principal, role: str) -> None:
    """A clinic administrator gives a clinic's roles only (never the city's administrator)."""
    if manager.role != "administrator" and role not in CLINIC_ROLES:
        raise ProblemError(
            403,
            "forbidden_role",
            "A clinic administrator gives a clinic's roles only: registrar, doctor, "
            "clinic administrator.",
        )


def no_account(staff_id: int) -> ProblemError:
    return ProblemError(404, "not_found", f"There is no staff account {staff_id}.")


def last_administrator() -> ProblemError:
    return ProblemError(
        409, "last_administrator", "This is the last enabled administrator: enable another first."
    )


def unknown_doctor() -> ProblemError:
    return ProblemError(
        422,
        "unknown_doctor",
        "A doctor's account names a doctor of its clinic (doctor_id); no other role does.",
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
        temporary: bool = False,
        conn: Executor | None = None,
    ) -> int:
        """A new staff account (``imias staff add``; the staff page with a ``temporary``
        password its owner replaces at her first sign-in). ValueError on a broken rule."""
        if role in CLINIC_ROLES and clinic_id is None:
            raise ValueError(f"a {role} belongs to a clinic: give its clinic")
        if role == "doctor" and doctor_id is None:
            raise ValueError("a doctor's account names its doctors row: give the doctor")
        db = conn or self.pool
        if doctor_id is not None:
            assert clinic_id is not None  # a doctor's account has its clinic
            name = await patients.doctor_name(db, clinic_id, doctor_id)
            if name is None:
                raise ValueError(f"clinic {clinic_id} has no doctor {doctor_id}")
            full_name = full_name or name
        hashed = await self.passwords.hashed(password)
        account_id: int = await db.fetchval(
            repo.INSERT_STAFF,
            username,
            hashed,
            role,
            full_name or username,
            clinic_id,
            doctor_id,
            organisation_id,
            temporary,
        )
        return account_id

    async def set_disabled(
        self, staff_id: int, disabled: bool, manager: Principal | None = None
    ) -> StaffAccount:
        """Disable (every token of the account stops working) or enable an account; a
        clinic administrator's ``manager`` reaches her clinic's accounts only."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self._managed(conn, staff_id, manager, lock=False)
            if disabled:
                # The enabled administrators, locked: two disabling each other at once
                # cannot both pass this check.
                admins = {r["id"] for r in await conn.fetch(repo.LOCK_ENABLED_ADMINISTRATORS)}
                if admins == {staff_id}:
                    raise last_administrator()
            row = await conn.fetchrow(repo.SET_DISABLED, staff_id, disabled)
            if row is None:
                raise no_account(staff_id)
            if disabled:
                await self.sessions.revoke(
                    "staff", staff_id, session=None, reason="disabled", conn=conn
                )
            await record(conn, "disable" if disabled else "enable", "staff_account", staff_id)
        return staff_account(row)

    async def reset_password(
        self, staff_id: int, password: str | None = None, manager: Principal | None = None
    ) -> str:
        """A new password for the account: ``password`` as given (the administrator's
        API), or a temporary one (answered, to be shown once) that its owner must
        replace at her next sign-in. Every token of the account stops working."""
        temporary = password is None
        chosen = temporary_password() if password is None else password
        hashed = await self.passwords.hashed(chosen)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._managed(conn, staff_id, manager)
            changed = await conn.fetchval(
                repo.SET_PASSWORD, staff_id, hashed, self.clock(), temporary
            )
            if changed is None:
                raise no_account(staff_id)
            await self.sessions.revoke(
                "staff", staff_id, session=None, reason="password_reset", conn=conn
            )
            action = "temporary_password" if temporary else "reset_password"
            await record(conn, action, "staff_account", staff_id)
        return chosen

    async def _managed(
        self, conn: Connection, staff_id: int, manager: Principal | None, *, lock: bool = True
    ) -> asyncpg.Record:
        """The account (locked, unless not ``lock``) if ``manager`` (None: an operator)
        may manage it; 404 otherwise, as if there were none (a clinic administrator
        learns nothing of another clinic's accounts)."""
        row = await conn.fetchrow(repo.LOCK_STAFF if lock else repo.STAFF_BY_ID, staff_id)
        if row is None or not may_manage(manager, row["role"], row["clinic_id"]):
            raise no_account(staff_id)
        return row

    async def list_staff(
        self,
        manager: Principal,
        *,
        clinic_id: int | None = None,
        role: str | None = None,
        disabled: bool | None = None,
        after: int = 0,
        limit: int = 50,
    ) -> StaffPage:
        """People's accounts by id (a clinic administrator: her clinic's, of its roles)."""
        roles = None
        if manager.role != "administrator":
            if clinic_id not in (None, manager.org):
                raise ProblemError(403, "forbidden", "A clinic administrator sees her clinic.")
            clinic_id, roles = manager.org, sorted(CLINIC_ROLES)
        rows = await self.pool.fetch(
            repo.LIST_STAFF, clinic_id, role, disabled, roles, after, limit + 1
        )
        items = [staff_account(r) for r in rows[:limit]]
        await record(self.pool, "list", "staff_accounts", clinic_id)
        return StaffPage(items, items[-1].id if len(rows) > limit else None)

    async def staff(self, staff_id: int, manager: Principal) -> StaffAccount:
        async with self.pool.acquire() as conn:
            row = await self._managed(conn, staff_id, manager)
        await record(self.pool, "read", "staff_account", staff_id)
        return staff_account(row)

    async def add_staff(self, manager: Principal, data: StaffCreate) -> StaffCreated:
        """A new account made by an administrator, with a temporary password."""
        clinic_id = data.clinic_id
        if manager.role != "administrator":
            if clinic_id not in (None, manager.org):
                raise ProblemError(
                    403, "forbidden", "A clinic administrator makes accounts of her clinic."
                )
            clinic_id = manager.org
        check_role(manager, data.role)
        if data.role in CLINIC_ROLES and clinic_id is None:
            raise ProblemError(422, "clinic_required", f"A {data.role} works in a clinic: name it.")
        if data.role not in CLINIC_ROLES and clinic_id is not None:
            raise ProblemError(
                422, "clinic_not_allowed", f"A {data.role}'s account names no clinic."
            )
        if (data.role == "doctor") != (data.doctor_id is not None):
            raise unknown_doctor()
        password = temporary_password()
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                staff_id = await self.create_staff(
                    data.username,
                    password,
                    data.role,
                    clinic_id=clinic_id,
                    doctor_id=data.doctor_id,
                    organisation_id=None if clinic_id is not None else data.organisation_id,
                    full_name=data.full_name,
                    temporary=True,
                    conn=conn,
                )
            except ValueError:
                raise unknown_doctor() from None
            except asyncpg.UniqueViolationError:
                raise ProblemError(
                    409, "username_taken", "This username is taken: choose another."
                ) from None
            except asyncpg.ForeignKeyViolationError:
                raise ProblemError(422, "unknown_clinic", "There is no such clinic.") from None
            row = await conn.fetchrow(repo.STAFF_BY_ID, staff_id)
            assert row is not None  # made just now
            await record(conn, "create", "staff_account", staff_id, reason=data.role)
        return StaffCreated(staff_account(row), password)

    async def change_role(
        self, manager: Principal, staff_id: int, data: RoleChange
    ) -> StaffAccount:
        """Another clinic role for an account of a clinic; its tokens stop working (the
        role is in them)."""
        if staff_id == manager.subject:
            raise ProblemError(409, "cannot_change_self", "One does not change one's own role.")
        check_role(manager, data.role)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._managed(conn, staff_id, manager)
            if row["role"] not in CLINIC_ROLES or data.role not in CLINIC_ROLES:
                raise ProblemError(
                    422,
                    "role_change_not_possible",
                    "Only a clinic's roles change into one another (registrar, doctor, "
                    "clinic administrator); make a new account for another role.",
                )
            full_name = row["full_name"]
            if data.role == "doctor":
                name = None
                if data.doctor_id is not None:
                    name = await patients.doctor_name(conn, row["clinic_id"], data.doctor_id)
                if name is None:
                    raise unknown_doctor()
                full_name = name
            changed = await conn.fetchrow(
                repo.SET_ROLE,
                staff_id,
                data.role,
                data.doctor_id if data.role == "doctor" else None,
                full_name,
            )
            assert changed is not None  # locked above
            await self.sessions.revoke(
                "staff", staff_id, session=None, reason="role_changed", conn=conn
            )
            await record(
                conn, "change_role", "staff_account", staff_id, reason=f"{row['role']}->{data.role}"
            )
        return staff_account(changed)

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
