"""Redis access: the asyncio client for holds, counters, streams and caches.

Redis holds only what may be lost (DESIGN.md); short timeouts keep a Redis outage
from stalling requests, and the client reconnects by itself when Redis is back.
"""

from __future__ import annotations

import redis.asyncio as aioredis


def create_redis(url: str) -> aioredis.Redis:
    return aioredis.from_url(
        url,
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        health_check_interval=15,
        decode_responses=False,
    )
