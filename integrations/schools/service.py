"""The schools' use cases: a guardian's consents (give, replace, withdraw, list) for a
linked child under 18, and the school nurse's list of her school's children with a
physical-education restriction. Every read and change is audited and shows in the
child's access log.

Consents are a guardian's for a child: an adult patient has no school consent here (a
school of adults, a college, is not a partner yet)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from ehr import certificates as ehr_certificates
from imias.identity import Identity, Principal
from imias.platform.audit import record, record_many
from imias.platform.problems import ProblemError
from imias.registry import patients, school
from integrations.schools import repository as repo
from integrations.schools.model import ConsentIn, RestrictedPupil, SchoolConsent
from integrations.schools.rules import check_consent, restricting


def no_such(what: str = "patient") -> ProblemError:
    return ProblemError(404, "not_found", f"There is no such {what}.")


class SchoolConsents:
    """A guardian's consents over the pool (``clock``: UTC now)."""

    def __init__(
        self, pool: Any, identity: Identity, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.pool = pool
        self.identity = identity
        self.clock = clock or (lambda: datetime.now(UTC))

    async def _guardian(self, principal: Principal, child_id: int) -> int:
        """The guardian's patient id when ``child_id`` is their linked child under 18;
        anyone else: 404, as if there were no such child."""
        if principal.role != "patient" or not await self.identity.accounts.guardian_of(
            principal, child_id
        ):
            raise no_such()
        return principal.subject

    async def of_child(self, principal: Principal, child_id: int) -> list[SchoolConsent]:
        await self._guardian(principal, child_id)
        async with self.pool.acquire() as conn:
            found = await repo.consents_of(conn, child_id)
            await record(conn, "read", "school_consents", None, child_id)
        return found

    async def give(self, principal: Principal, child_id: int, data: ConsentIn) -> SchoolConsent:
        """A consent for the school, replacing the one in force for it (if any)."""
        guardian = await self._guardian(principal, child_id)
        check_consent(data)
        if await school(self.pool, data.school_id) is None:
            raise ProblemError(422, "unknown_school", "There is no such school or club.")
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            for replaced in await repo.withdraw_active(
                conn, child_id, data.school_id, now, guardian
            ):
                await record(conn, "withdraw", "school_consent", replaced, child_id)
            consent_id = await repo.insert_consent(
                conn, child_id, data.school_id, data.absences, data.certificates, guardian, now
            )
            await record(conn, "create", "school_consent", consent_id, child_id)
            made = await repo.consent(conn, child_id, consent_id)
        assert made is not None
        return made

    async def withdraw(self, principal: Principal, child_id: int, consent_id: int) -> SchoolConsent:
        """Nothing more is sent to the school from now on."""
        guardian = await self._guardian(principal, child_id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.lock_consent(conn, child_id, consent_id)
            if row is None:
                raise no_such("consent")
            if row["withdrawn_at"] is not None:
                raise ProblemError(409, "already_withdrawn", "This consent is withdrawn already.")
            await repo.withdraw(conn, child_id, consent_id, self.clock(), guardian)
            await record(conn, "withdraw", "school_consent", consent_id, child_id)
            done = await repo.consent(conn, child_id, consent_id)
        assert done is not None
        return done


class SchoolNurse:
    """The school nurse's view: her school's children (a consent in force for her school)
    whose current PE group restricts physical education; nothing else."""

    def __init__(self, pool: Any, today: Callable[[], date]) -> None:
        self.pool = pool
        self.today = today

    async def restricted(self, principal: Principal) -> list[RestrictedPupil]:
        school_id = await self.school_of(principal)
        day = self.today()
        async with self.pool.acquire() as conn:
            pupils = await repo.pupils_of(conn, school_id)
            groups = await ehr_certificates.pe_groups(conn, pupils, day)
            shown = sorted(p for p, g in groups.items() if restricting(g.pe_group))
            names = await patients.names(conn, shown)
            born = {r["id"]: r["birth_date"] for r in await patients.minors(conn, shown, day)}
            await record_many(conn, "read", "pe_restrictions", school_id, shown)
        return sorted(
            (
                RestrictedPupil(
                    patient_id=p,
                    name=names.get(p, ""),
                    birth_date=born[p],
                    pe_group=groups[p].pe_group,
                    certificate=groups[p].number,
                    valid_until=groups[p].valid_until,
                )
                for p in shown
                if p in born  # a child who turned 18 is no longer the school's to see
            ),
            key=lambda r: (r.name, r.patient_id),
        )

    async def school_of(self, principal: Principal) -> int:
        if principal.role != "school_nurse" or principal.org is None:
            raise ProblemError(403, "forbidden", "This account is not bound to a school.")
        if await school(self.pool, principal.org) is None:
            raise ProblemError(403, "no_school", "This account's school is not in the registry.")
        return principal.org
