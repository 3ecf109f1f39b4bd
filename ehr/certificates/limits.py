"""How often an officer may check: per officer and per address, and far fewer misses (a
number with a wrong birth date), so that certificates cannot be enumerated.

Fixed windows counted in Redis (SET NX with the window's TTL, then INCR), shared by
every worker.
When Redis does not answer, each worker counts in its own memory until it is back (a
limit a little looser, never none).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from imias.platform.problems import ProblemError

log = logging.getLogger("imias.ehr.certificates")


@dataclass(frozen=True, slots=True)
class Limit:
    most: int
    window: int  # seconds


PER_OFFICER = Limit(120, 600)  # a busy checkpoint: a check every five seconds
PER_ADDRESS = Limit(300, 600)  # an office's officers behind one address
MISSES = Limit(10, 900)  # numbers with a wrong birth date (or none such) per officer


class CheckLimiter:
    def __init__(
        self,
        redis: Redis | None,
        *,
        officer: Limit = PER_OFFICER,
        address: Limit = PER_ADDRESS,
        misses: Limit = MISSES,
    ) -> None:
        self.redis = redis
        self.officer = officer
        self.address = address
        self.misses = misses
        self._local: dict[str, int] = {}  # a window's key -> its count
        self._down = False

    def _name(self, key: str, lim: Limit) -> str:
        return f"imias:{{verify}}:{key}:{int(time.time()) // lim.window}"

    async def _count(self, counted: list[tuple[str, Limit]], read: tuple[str, Limit]) -> list[int]:
        """Add one to each of ``counted`` and read ``read``: their counts in this window."""
        names = [self._name(k, lim) for k, lim in counted]
        read_name = self._name(*read)
        if self.redis is not None:
            try:
                pipe = self.redis.pipeline(transaction=False)
                for name, (_, lim) in zip(names, counted, strict=True):
                    pipe.set(name, 0, ex=lim.window, nx=True)  # the window's first: its TTL
                    pipe.incr(name)
                pipe.get(read_name)
                replies = await pipe.execute()
                if self._down:
                    log.info("Redis answers again: checks are counted there")
                self._down = False
                return [int(replies[2 * i + 1]) for i in range(len(names))] + [
                    int(replies[-1] or 0)
                ]
            except (RedisError, OSError) as exc:
                if not self._down:
                    log.warning("Redis does not answer (%s): checks counted per worker", exc)
                self._down = True
        if len(self._local) > 100_000:
            self._local.clear()
        for name in names:
            self._local[name] = self._local.get(name, 0) + 1
        return [self._local[n] for n in names] + [self._local.get(read_name, 0)]

    @staticmethod
    def _refuse(lim: Limit) -> ProblemError:
        wait = lim.window - int(time.time()) % lim.window
        return ProblemError(
            429,
            "too_many_checks",
            "Too many checks; wait before the next one.",
            extra={"retry_after": wait},
            headers={"Retry-After": str(wait)},
        )

    async def admit(self, officer: str, address: str | None) -> None:
        """Count a check; 429 ``too_many_checks`` past a limit, or after too many misses."""
        counted = [(f"officer:{officer}", self.officer)]
        if address:
            counted.append((f"address:{address}", self.address))
        counts = await self._count(counted, (f"misses:{officer}", self.misses))
        if counts[-1] >= self.misses.most:
            raise self._refuse(self.misses)
        for count, (_, lim) in zip(counts, counted, strict=False):
            if count > lim.most:
                raise self._refuse(lim)

    async def missed(self, officer: str) -> None:
        """A check that found nothing (counted against the misses' limit)."""
        await self._count([(f"misses:{officer}", self.misses)], (f"misses:{officer}", self.misses))
