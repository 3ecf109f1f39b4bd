"""Redis access: the asyncio client for holds, counters, streams and caches.

Redis holds only what may be lost (DESIGN.md); short timeouts keep a Redis outage
from stalling requests, and the client reconnects by itself when Redis is back.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

import redis.asyncio as aioredis


def create_redis(url: str) -> aioredis.Redis:
    return aioredis.from_url(
        url,
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        health_check_interval=15,
        decode_responses=False,
    )


def redis_db_number(url: str) -> int:
    """The database number a Redis URL selects (``/N``, or ``?db=N`` for ``unix://``)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return int(parse_qs(parts.query).get("db", ["0"])[0])
    return int(parts.path.strip("/") or 0)


def with_redis_db(url: str, number: int) -> str:
    """The same Redis URL selecting database ``number``."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("db="))
        query = (query + "&" if query else "") + f"db={number}"
        # Built by hand: urlunsplit writes "unix:/path" for an empty host, which redis-py
        # does not take.
        return f"unix://{parts.netloc}{parts.path}?{query}"
    return urlunsplit(parts._replace(path=f"/{number}"))
