"""Revoked tokens, as each worker knows them.

A sign-out revokes its session; a disabled account, a reset password or "sign out
everywhere" revokes every token of the subject issued until then. Revocations are rows
of ``token_revocations``; each worker keeps the rows of the last
``horizon`` seconds (older ones concern tokens that have expired anyway) and reloads
them when its copy is older than ``refresh`` seconds, on the next request that needs
it. A revocation made by this worker applies here at once; one made by another worker
applies here within ``refresh`` seconds. If the database cannot be read, the copy
serves until it is ``stale`` seconds old; after that, signed-in requests are answered
503 rather than trusting a list that may miss a revocation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from imias.platform.identity import repository as repo
from imias.platform.identity.model import ACCESS_SECONDS, CLOCK_SKEW, Principal
from imias.platform.problems import ProblemError

log = logging.getLogger("imias.identity")


class RevocationList:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        refresh: float = 15.0,
        stale: float = 60.0,
        horizon: float = ACCESS_SECONDS + 2 * CLOCK_SKEW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.refresh_every, self.stale, self.horizon = refresh, stale, horizon
        self.clock = clock
        self._sessions: set[str] = set()
        self._subjects: dict[tuple[str, int], float] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()
        self._failing = False

    def _age(self) -> float:
        return float("inf") if self._loaded_at is None else self.clock() - self._loaded_at

    async def refresh(self) -> None:
        since = datetime.fromtimestamp(time.time() - self.horizon, UTC)
        rows = await self.pool.fetch(repo.RECENT_REVOCATIONS, since)
        sessions: set[str] = set()
        subjects: dict[tuple[str, int], float] = {}
        for row in rows:
            if row["session_id"] is not None:
                sessions.add(row["session_id"])
            else:
                key = (row["subject_kind"], row["subject_id"])
                at = row["revoked_at"].timestamp()
                subjects[key] = max(at, subjects.get(key, 0.0))
        self._sessions, self._subjects = sessions, subjects
        self._loaded_at = self.clock()

    async def _fresh(self) -> None:
        if self._age() < self.refresh_every:
            return
        async with self._lock:
            if self._age() < self.refresh_every:
                return  # another request refreshed it meanwhile
            try:
                await self.refresh()
                if self._failing:
                    log.info("revocations are read from the database again")
                self._failing = False
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not self._failing:
                    log.warning("cannot read revocations: %s", type(exc).__name__)
                self._failing = True
                if self._age() >= self.stale:
                    raise ProblemError(
                        503,
                        "service_unavailable",
                        "Sign-ins cannot be checked right now; please try again in a moment.",
                        headers={"Retry-After": "5"},
                    ) from None

    def _revoked(self, principal: Principal) -> bool:
        if principal.sid in self._sessions:
            return True
        at = self._subjects.get((principal.kind, principal.subject))
        return at is not None and principal.iat <= at

    async def is_revoked(self, principal: Principal) -> bool:
        await self._fresh()
        return self._revoked(principal)

    def note(self, kind: str, subject: int, session: str | None, at: datetime) -> None:
        """A revocation this worker just wrote: effective here at once."""
        if session is not None:
            self._sessions.add(session)
        else:
            key = (kind, subject)
            self._subjects[key] = max(at.timestamp(), self._subjects.get(key, 0.0))
