"""A patient's notification preference: read and set by the patient herself, a guardian
for a linked child, or a registrar. Every read and change is audited (the patient's
access log shows it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from imias.identity import Identity, Principal
from imias.platform.audit import record
from imias.platform.problems import ProblemError
from integrations.notifications import repository as repo
from integrations.notifications.model import Preference, PreferenceIn
from integrations.notifications.rules import check_preference


def no_such() -> ProblemError:
    return ProblemError(404, "not_found", "There is no such patient.")


class NotificationPreferences:
    def __init__(
        self, pool: Any, identity: Identity, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.pool = pool
        self.identity = identity
        self.clock = clock or (lambda: datetime.now(UTC))

    async def _may(self, principal: Principal, patient_id: int) -> None:
        """The patient herself, her guardian (a linked child under 18) or a registrar;
        anyone else: 404, as if there were no such patient."""
        if principal.role == "registrar":
            return
        if principal.role == "patient" and (
            patient_id == principal.subject
            or await self.identity.accounts.guardian_of(principal, patient_id)
        ):
            return
        raise no_such()

    async def get(self, principal: Principal, patient_id: int) -> Preference:
        await self._may(principal, patient_id)
        async with self.pool.acquire() as conn:
            found = await repo.contact(conn, patient_id)
            if found is None:
                raise no_such()
            await record(conn, "read", "notification_preference", patient_id, patient_id)
        return found.preference

    async def put(self, principal: Principal, patient_id: int, data: PreferenceIn) -> Preference:
        await self._may(principal, patient_id)
        checked = check_preference(data)
        async with self.pool.acquire() as conn, conn.transaction():
            if await repo.contact(conn, patient_id) is None:
                raise no_such()
            await repo.save(conn, patient_id, checked, self.clock(), principal.subject)
            await record(conn, "update", "notification_preference", patient_id, patient_id)
            found = await repo.contact(conn, patient_id)
        assert found is not None
        return found.preference
