"""Running `imias serve` for end-to-end tests, and a clock tests move by hand. Imported
as ``serving``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loadtest.served import served


@contextmanager
def serve(
    database_url: str, redis_url: str, log: Path, workers: int = 2, **settings: str
) -> Iterator[str]:
    """`imias serve` on the given servers, started as the commands start theirs
    (loadtest.served), with none of this environment's IMIAS_* variables but the
    ``settings`` given; yields its base URL once every worker answers /health."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    _forget_sign_in_failures(redis_url)
    with served(
        database_url,
        redis_url,
        log_path=log,
        workers=workers,
        settings={f"IMIAS_{k.upper()}": v for k, v in settings.items()},
        environ=environ,
        timeout=90,
    ) as url:
        yield url


@dataclass
class Clock:
    """A clock a test moves by hand; services take it in place of the wall clock."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _forget_sign_in_failures(redis_url: str) -> None:
    """A server starts with no sign-in lockouts: the tests of one worker share its Redis,
    and an earlier test's refused codes from 127.0.0.1 would lock a later test's patient
    out ("sign-in refused: locked for 23 s", seen in CI)."""
    import redis as syncredis

    client = syncredis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match="imias:signin:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
