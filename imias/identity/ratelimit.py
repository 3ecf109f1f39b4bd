"""Sign-in attempts, counted before they are checked, with backoff.

Every attempt (a code asked for, a code or a password tried) is counted on its
counters **before** anything is checked or sent, in one atomic step that first looks
for a lock: when a counter is locked the attempt is refused (429 ``too_many_attempts``
with ``Retry-After``) and counted nowhere; otherwise it is counted on every counter,
and a counter that has reached its ``free`` attempts in its window is locked for the
attempts after it: ``base`` seconds, doubling with each further attempt up to
``most``. So a burst of simultaneous requests gets no more than ``free`` attempts
through a counter, however many arrive at once.

The counters of an attempt (:mod:`.signin` chooses them):

* ``account:<keyed hash>@<address>``: one account from one client address, the hard
  limit (:data:`ACCOUNT`). A success clears it.
* ``account:<keyed hash>``: one account from every address, a higher ceiling
  (:data:`ACCOUNT_CEILING`) that one address cannot reach alone, so that nobody can
  lock a patient out by typing their policy number, while many addresses together
  still meet a limit.
* ``address:<ip>``: one client address, every account (:data:`ADDRESS`); wide, as one
  address may be a kiosk that many patients share.
* ``codes:account:<keyed hash>``: codes sent to one account's phone (:data:`CODES`).

A success takes its attempts back from the ceiling and the address (not from the codes
sent), so patients who sign in do not use up a shared kiosk's limit.

Counters live in Redis (what may be lost, DESIGN.md), all of an attempt in one Lua
script, so one Redis (not a Cluster). When Redis does not answer they are kept in
PostgreSQL (``signin_failures``) until it is back, each attempt in one transaction that
counts on every counter's row under that row's lock (in the order of the keys, so two
attempts never wait for each other's rows), so an outage of Redis never switches the
limits off; the switch is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import redis.asyncio as aioredis

from imias.identity import repository as repo
from imias.platform.stream import REDIS_ERRORS

log = logging.getLogger("imias.identity.ratelimit")


@dataclass(frozen=True)
class Limit:
    free: int  # attempts allowed in a window before locks begin
    window: int  # seconds a count is kept
    base: int  # seconds of the first lock
    most: int  # the longest lock


# One account from one address: the hard limit.
ACCOUNT = Limit(free=5, window=900, base=30, most=900)
# One account from every address: higher than one address reaches alone in a window
# (5, then one after each lock: 9 in 15 minutes), with shorter locks.
ACCOUNT_CEILING = Limit(free=20, window=900, base=30, most=300)
# One address, every account (a kiosk is shared).
ADDRESS = Limit(free=50, window=900, base=30, most=900)
# Codes sent to one account's phone, from every address, so that nobody floods it.
CODES = Limit(free=10, window=900, base=60, most=900)

Key = tuple[str, Limit]

_PREFIX = "imias:signin:"

# KEYS: count and lock of each counter; ARGV: window, free, base, most of each counter.
# Returns the longest lock's seconds (refused, nothing counted) or 0 (counted).
_ATTEMPT = """
local wait = 0
for i = 2, #KEYS, 2 do
  local ttl = redis.call('TTL', KEYS[i])
  if ttl > wait then wait = ttl end
end
if wait > 0 then return wait end
for i = 1, #KEYS, 2 do
  local a = 2 * (i - 1)
  local window, free = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local base, most = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local n = redis.call('INCR', KEYS[i])
  if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], window) end
  if n >= free then
    local lock = math.floor(math.min(base * 2 ^ (n - free), most))
    redis.call('SET', KEYS[i + 1], '1', 'EX', lock)
    if redis.call('TTL', KEYS[i]) < lock + window then
      redis.call('EXPIRE', KEYS[i], lock + window)
    end
  end
end
return 0
"""

# KEYS: counts; ARGV: how many attempts to take back from each (never below 0).
_TAKE_BACK = """
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  local k = math.min(n, tonumber(ARGV[i]))
  if k > 0 then redis.call('DECRBY', KEYS[i], k) end
end
return 0
"""


def lock_seconds(attempts: int, limit: Limit) -> int:
    """How long the ``attempts``-th attempt in a window waits (0: not at all): each
    attempt from the ``free``-th on locks the key for the one after it."""
    if attempts <= limit.free:
        return 0
    return int(min(limit.base * 2 ** (attempts - limit.free - 1), limit.most))


def _redis_keys(key: str) -> tuple[str, str]:
    tag = "{" + key + "}"
    return _PREFIX + tag + ":n", _PREFIX + tag + ":lock"


class SignInLimiter:
    def __init__(self, redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
        self.redis = redis
        self.pool = pool
        self._attempt = redis.register_script(_ATTEMPT)
        self._take_back = redis.register_script(_TAKE_BACK)
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

    async def attempt(self, keys: Sequence[Key]) -> int | None:
        """Count an attempt on every key, atomically with looking for a lock: the
        seconds to wait when one of ``keys`` is locked (then nothing is counted), else
        None (counted: go on and check it)."""
        names: list[str] = []
        args: list[int] = []
        for key, limit in keys:
            names.extend(_redis_keys(key))
            args.extend([limit.window, limit.free, limit.base, limit.most])
        try:
            wait = int(await self._attempt(keys=names, args=args))
            self._up()
        except REDIS_ERRORS as exc:
            self._down(exc)
            wait = await self._attempt_in_database(keys)
        return wait or None

    async def _attempt_in_database(self, keys: Sequence[Key]) -> int:
        now = datetime.now(UTC)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                counted = []
                waits = []
                for key, limit in sorted(keys, key=lambda k: k[0]):  # rows locked in order
                    row = await conn.fetchrow(
                        repo.COUNT_ATTEMPT, key, now, now + timedelta(seconds=limit.window)
                    )
                    assert row is not None  # an upsert returns its row
                    if row["locked_until"] is not None and row["locked_until"] > now:
                        waits.append(row["locked_until"])
                    counted.append((key, limit, row["failures"]))
                if waits:
                    # (from now, not from before the rows' locks were waited for)
                    left = (max(waits) - datetime.now(UTC)).total_seconds()
                    raise _Refused(max(1, int(left + 0.999)))  # rolls back: counted nowhere
                for key, limit, attempts in counted:
                    lock = lock_seconds(attempts + 1, limit)
                    if lock:
                        until = now + timedelta(seconds=lock)
                        await conn.execute(
                            repo.LOCK_FAILURES, key, until, until + timedelta(seconds=limit.window)
                        )
        except _Refused as refused:
            return refused.seconds
        return 0

    async def succeeded(self, clear: str, take_back: Sequence[tuple[str, int]]) -> None:
        """A success: clear the counter ``clear`` (count and lock) and take ``n``
        attempts back from each of ``take_back``'s counters."""
        try:
            await self.redis.delete(*_redis_keys(clear))
            if take_back:
                await self._take_back(
                    keys=[_redis_keys(key)[0] for key, _ in take_back],
                    args=[n for _, n in take_back],
                )
            self._up()
        except REDIS_ERRORS as exc:
            self._down(exc)
        # What was counted in PostgreSQL during an outage is cleared and taken back too.
        await self.pool.execute(repo.CLEAR_FAILURES, clear)
        if take_back:
            await self.pool.execute(
                repo.TAKE_BACK_FAILURES, [k for k, _ in take_back], [n for _, n in take_back]
            )


class _Refused(Exception):
    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.seconds = seconds
