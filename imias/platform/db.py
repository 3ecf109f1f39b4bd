"""PostgreSQL access: the asyncpg pool every domain repository uses."""

from __future__ import annotations

import asyncpg


async def create_pool(url: str, size: int = 10) -> asyncpg.Pool:
    """A pool that opens connections on demand, so a database that is down at
    start shows in ``/health`` instead of stopping the worker."""
    pool = await asyncpg.create_pool(
        url,
        min_size=0,
        max_size=size,
        command_timeout=30,
        max_inactive_connection_lifetime=300,
    )
    assert pool is not None
    return pool
