"""Revoked tokens, as each worker knows them.

A sign-out revokes its session; a disabled account, a reset password or "sign out
everywhere" revokes every token of the subject issued until then. Revocations are rows
of ``token_revocations``. Each worker loads those of the last ``horizon`` seconds (the
longest life of a token: older ones concern tokens that have expired anyway) when it
first needs them, then, whenever its copy is older than ``refresh`` seconds, the rows
written since its last read (with an ``overlap`` for transactions that committed late),
on the next request that needs it. A revocation made by this worker applies here at
once; one made by another worker applies here within ``refresh`` seconds. If the
database cannot be read, the copy serves until it is ``stale`` seconds old; after that,
signed-in requests are answered 503 rather than trusting a list that may miss a
revocation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from imias.identity.model import CLOCK_SKEW, MAX_TOKEN_SECONDS, Principal
from imias.identity.repository import RECENT_REVOCATIONS as RECENT
from imias.platform.problems import ProblemError

log = logging.getLogger("imias.identity")


class RevocationList:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        refresh: float = 15.0,
        stale: float = 60.0,
        horizon: float = MAX_TOKEN_SECONDS + 2 * CLOCK_SKEW,
        overlap: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.refresh_every, self.stale, self.horizon = refresh, stale, horizon
        self.overlap = overlap
        self.clock, self.wall_clock = clock, wall_clock
        self._sessions: dict[str, float] = {}  # session id -> when it was revoked
        self._subjects: dict[tuple[str, int], float] = {}  # every token until then
        self._loaded_at: float | None = None  # self.clock() of the last read
        self._read_since: float | None = None  # the wall time the next read starts from
        self._lock = asyncio.Lock()
        self._failing = False

    def _age(self) -> float:
        return float("inf") if self._loaded_at is None else self.clock() - self._loaded_at

    async def refresh(self) -> None:
        """Read the revocations written since the last read (at first: the horizon's)."""
        wall = self.wall_clock()
        since = wall - self.horizon if self._read_since is None else self._read_since
        rows = await self.pool.fetch(RECENT, datetime.fromtimestamp(since, UTC))
        for row in rows:
            self._add(
                row["subject_kind"],
                row["subject_id"],
                row["session_id"],
                row["revoked_at"].timestamp(),
            )
        self._forget(wall - self.horizon)
        self._read_since = wall - self.overlap
        self._loaded_at = self.clock()

    def _add(self, kind: str, subject: int, session: str | None, at: float) -> None:
        if session is not None:
            self._sessions[session] = max(at, self._sessions.get(session, 0.0))
        else:
            key = (kind, subject)
            self._subjects[key] = max(at, self._subjects.get(key, 0.0))

    def _forget(self, before: float) -> None:
        """Revocations older than the longest token's life concern no live token."""
        self._sessions = {k: at for k, at in self._sessions.items() if at >= before}
        self._subjects = {k: at for k, at in self._subjects.items() if at >= before}

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
        self._add(kind, subject, session, at.timestamp())
