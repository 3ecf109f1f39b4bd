"""The identity of a worker: keys, sessions, sign-in, accounts, and their housekeeping.

``create_app`` builds one :class:`Identity` per worker in its lifespan and puts it in
``app.state.identity``; the guard (:mod:`.policies`) and the controllers use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
import redis.asyncio as aioredis

from imias.identity import repository as repo
from imias.identity.accounts import Accounts
from imias.identity.keys import Keys
from imias.identity.model import Principal
from imias.identity.passwords import Passwords
from imias.identity.ratelimit import SignInLimiter
from imias.identity.revocation import RevocationList
from imias.identity.sessions import Sessions
from imias.identity.signin import SignIn
from imias.identity.sms import LogSmsSender, NoticeSmsSender, SmsSender

log = logging.getLogger("imias.identity")

KEEP_REVOCATIONS = timedelta(days=30)


class Identity:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        secret: str,
        *,
        demo: bool = False,
        sms: SmsSender | None = None,
        passwords: Passwords | None = None,
    ) -> None:
        self.pool = pool
        self.keys = Keys.from_secret(secret)
        self.passwords = passwords or Passwords()
        self.revocations = RevocationList(pool)
        self.sessions = Sessions(pool, self.keys, self.revocations)
        self.limiter = SignInLimiter(redis, pool)
        # Sign-in codes by SMS: as notices the notification service sends (the default),
        # to the log in a demo, or a test's own sender.
        self.sms: SmsSender = sms or (LogSmsSender(demo) if demo else NoticeSmsSender(pool))
        self.sign_in = SignIn(
            pool,
            self.keys,
            self.sessions,
            self.limiter,
            self.sms,
            self.passwords,
            demo=demo,
        )
        self.accounts = Accounts(pool, self.sessions, self.passwords)
        self._janitor: asyncio.Task[None] | None = None

    async def authenticate(self, authorization: str | None) -> Principal:
        return await self.sessions.authenticate(authorization)

    # -- housekeeping --------------------------------------------------------------------

    def start(self, every: float = 600.0) -> None:
        self._janitor = asyncio.create_task(self._sweep_every(every), name="imias-identity-sweep")

    async def stop(self) -> None:
        sending = list(self.sign_in._sending)
        if sending:  # codes on their way to a gateway: let them go (a few seconds at most)
            await asyncio.wait(sending, timeout=10)
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
            self._janitor = None

    async def sweep(self) -> None:
        """Delete what no check needs any more (every worker may run it; idempotent)."""
        now = datetime.now(UTC)
        await self.pool.execute(repo.DELETE_OLD_CHALLENGES, now - timedelta(days=1))
        await self.pool.execute(repo.DELETE_OLD_FAILURES, now)
        await self.pool.execute(repo.DELETE_OLD_REVOCATIONS, now - KEEP_REVOCATIONS)

    async def _sweep_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.sweep()
            except Exception as exc:  # tried again next time
                log.warning("identity sweep failed: %s", type(exc).__name__)
