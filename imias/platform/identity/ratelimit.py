"""Failed sign-ins, counted per account and per client address, with backoff.

Each key (``account:<keyed hash>``, ``address:<ip>``) counts failures in a window; past
``free`` failures every further one locks the key for ``base`` seconds, doubling each
time up to ``most``. While a key is locked, sign-in attempts on it are refused with
429 ``too_many_attempts`` and ``Retry-After`` before anything is checked. A success
clears the account's count (not the address's: one address may be a kiosk that many
patients share, so its limits are wider).

Counters live in Redis (what may be lost, DESIGN.md). When Redis does not answer they
are kept in PostgreSQL (``signin_failures``) until it is back, so an outage of Redis
never switches the limits off; the switch is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import redis.asyncio as aioredis

from imias.platform.identity import repository as repo
from imias.platform.stream import REDIS_ERRORS

log = logging.getLogger("imias.identity.ratelimit")


@dataclass(frozen=True)
class Limit:
    free: int  # failures allowed in a window before locks begin
    window: int  # seconds a count is kept
    base: int  # seconds of the first lock
    most: int  # the longest lock


ACCOUNT = Limit(free=5, window=900, base=30, most=900)
ADDRESS = Limit(free=50, window=900, base=30, most=900)

Key = tuple[str, Limit]

_PREFIX = "imias:signin:"

# KEYS[1] count, KEYS[2] lock; ARGV window, free, base, most. Returns the lock's seconds.
_FAIL = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local free = tonumber(ARGV[2])
if n <= free then return 0 end
local lock = math.min(tonumber(ARGV[3]) * 2 ^ (n - free - 1), tonumber(ARGV[4]))
lock = math.floor(lock)
redis.call('SET', KEYS[2], '1', 'EX', lock)
if redis.call('TTL', KEYS[1]) < lock + tonumber(ARGV[1]) then
  redis.call('EXPIRE', KEYS[1], lock + tonumber(ARGV[1]))
end
return lock
"""


def lock_seconds(failures: int, limit: Limit) -> int:
    """How long the ``failures``-th failure locks a key (0: not at all)."""
    if failures <= limit.free:
        return 0
    return int(min(limit.base * 2 ** (failures - limit.free - 1), limit.most))


def _redis_keys(key: str) -> tuple[str, str]:
    tag = "{" + key + "}"  # both keys of one counter in one Redis Cluster slot
    return _PREFIX + tag + ":n", _PREFIX + tag + ":lock"


class SignInLimiter:
    def __init__(self, redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
        self.redis = redis
        self.pool = pool
        self._fail = redis.register_script(_FAIL)
        self._redis_down = False

    def _down(self, exc: BaseException) -> None:
        if not self._redis_down:
            log.warning(
                "Redis does not answer (%s): sign-in limits are kept in PostgreSQL until "
                "it is back",
                type(exc).__name__,
            )
        self._redis_down = True

    def _up(self) -> None:
        if self._redis_down:
            log.info("Redis answers again: sign-in limits are kept in Redis")
        self._redis_down = False

    async def retry_after(self, keys: Sequence[Key]) -> int | None:
        """Seconds to wait when one of ``keys`` is locked, else None."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, _ in keys:
                    pipe.ttl(_redis_keys(key)[1])
                ttls = await pipe.execute()
            self._up()
            waits = [int(t) for t in ttls if int(t) > 0]
        except REDIS_ERRORS as exc:
            self._down(exc)
            now = datetime.now(UTC)
            rows = await self.pool.fetch(repo.LOCKED_FAILURES, [k for k, _ in keys], now)
            waits = [max(1, int((r["locked_until"] - now).total_seconds() + 0.999)) for r in rows]
        return max(waits) if waits else None

    async def failed(self, keys: Sequence[Key]) -> int | None:
        """Count a failure on each key; the longest lock it caused, if any."""
        locks = []
        try:
            for key, limit in keys:
                args = [limit.window, limit.free, limit.base, limit.most]
                locks.append(int(await self._fail(keys=list(_redis_keys(key)), args=args)))
            self._up()
        except REDIS_ERRORS as exc:
            self._down(exc)
            locks = [await self._failed_in_database(key, limit) for key, limit in keys]
        locks = [s for s in locks if s > 0]
        return max(locks) if locks else None

    async def _failed_in_database(self, key: str, limit: Limit) -> int:
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            failures = await conn.fetchval(
                repo.COUNT_FAILURE, key, now, now + timedelta(seconds=limit.window)
            )
            lock = lock_seconds(failures, limit)
            if lock:
                until = now + timedelta(seconds=lock)
                await conn.execute(
                    repo.LOCK_FAILURES, key, until, until + timedelta(seconds=limit.window)
                )
        return lock

    async def succeeded(self, key: str) -> None:
        try:
            await self.redis.delete(*_redis_keys(key))
            self._up()
        except REDIS_ERRORS as exc:
            self._down(exc)
        # A count kept in PostgreSQL during an outage is cleared too.
        await self.pool.execute(repo.CLEAR_FAILURES, key)
