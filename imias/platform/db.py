"""PostgreSQL access: the asyncpg pool every domain repository uses.

Every connection the workers open acts as :data:`APP_ROLE` (set at connection start):
a role that may read and write the domain tables but may only append to the audit log
and seal its records (platform migration 0003). Migrations, the seed and ``imias audit
verify`` connect as the owner.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

APP_ROLE = "imias_app"
AS_APP = {"role": APP_ROLE}


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """One connection of the application's own (the outbox relay's, the sealer's)."""
    return await asyncpg.connect(dsn, server_settings=AS_APP, **kwargs)


class PooledConnection(asyncpg.Connection):
    """A pool connection released without asyncpg's reset query.

    The application keeps no session state on pooled connections: no ``SET``, no
    ``LISTEN``, no cursors left open, no session-level advisory locks (the outbox relay
    and the migrator, which need them, open connections of their own). So the
    round trip asyncpg makes on every release (``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``) would reset nothing; an open transaction is still rolled
    back on release, as always.
    """

    def get_reset_query(self) -> str:
        return ""


async def create_pool(url: str, size: int = 10) -> asyncpg.Pool:
    """A pool that opens connections on demand, so a database that is down at
    start shows in ``/health`` instead of stopping the worker."""
    pool = await asyncpg.create_pool(
        url,
        min_size=0,
        max_size=size,
        command_timeout=30,
        max_inactive_connection_lifetime=300,
        connection_class=PooledConnection,
        server_settings=AS_APP,
    )
    assert pool is not None
    return pool


#: A connection: one of a process's own (:func:`connect`) or one the pool lends
#: (``pool.acquire()``), which asyncpg hands out as a proxy with a connection's methods.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
#: What runs a statement: a connection (inside a transaction) or the pool (one statement).
Executor: TypeAlias = Connection | asyncpg.Pool
