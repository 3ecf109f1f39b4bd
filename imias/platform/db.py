"""PostgreSQL access: the asyncpg pool every domain repository uses.

The workers log in as :data:`APP_ROLE` itself (``IMIAS_APP_DATABASE_URL``, or the
owner's URL with the user changed, see :func:`app_url`): a login role that is no
superuser, is a member of no role, and may read and write the domain tables but may
only append to the audit log and seal its records (platform migrations 0003 and 0005).
Having logged in as it, a connection cannot become another role (``SET ROLE`` is
refused, ``RESET ROLE`` leaves it where it is) and cannot switch triggers off.
Migrations, the seed and ``imias audit verify`` connect as the owner.
"""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

APP_ROLE = "imias_app"

# What the application's login may not be: a role that could become another, or skip
# the triggers and the rights that guard the data.
ROLE_ESCAPES = """
SELECT r.rolsuper OR r.rolcreaterole OR r.rolbypassrls OR r.rolreplication AS unsafe,
       EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid) AS member
  FROM pg_roles r WHERE r.rolname = current_user
"""


def app_url(owner_url: str) -> str:
    """The application's login at the owner's server and database: the user replaced by
    :data:`APP_ROLE`, no password (the embedded default trusts its own Unix socket; a
    server that asks for one is given ``IMIAS_APP_DATABASE_URL`` instead)."""
    parts = urlsplit(owner_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{APP_ROLE}@{host}"))


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """One connection of the application's own (the outbox relay's, the sealer's), with
    the application's login (``dsn``: its URL)."""
    return await asyncpg.connect(dsn, **kwargs)


async def role_escapes(conn: asyncpg.Connection | asyncpg.Pool) -> str | None:
    """Why the connection's login could leave the application's rights (None: it cannot)."""
    row = await conn.fetchrow(ROLE_ESCAPES)
    if row is None:
        return "the login role is not in pg_roles"
    if row["unsafe"]:
        return "the application logs in as a superuser or a role that makes roles"
    if row["member"]:
        return "the application's login role is a member of another role"
    return None


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
    )
    assert pool is not None
    return pool


#: A connection: one of a process's own (:func:`connect`) or one the pool lends
#: (``pool.acquire()``), which asyncpg hands out as a proxy with a connection's methods.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
#: What runs a statement: a connection (inside a transaction) or the pool (one statement).
Executor: TypeAlias = Connection | asyncpg.Pool
