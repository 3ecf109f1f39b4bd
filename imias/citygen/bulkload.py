"""Loading millions of rows into a table emptied in the same transaction.

Each row COPY adds to a table with foreign keys costs a lookup (and a row lock) per key,
and each row added to a big, randomly ordered index costs a descent through it: for the
seed's history that made COPY six times slower than loading the bare table and then
building the indexes by sorting and checking each key with one join. So the table's
foreign keys and non-unique indexes are set aside for the load and made again
afterwards from the definitions the catalogue gave for them (same names, same
definitions, keys validated), in the same transaction: nobody else sees the table
without them, and a failure rolls everything back. Primary and unique keys stay, and
so do partial indexes: they index a small live part of a table (held or booked
appointments, say) that a bulk load of the past does not add to, and rebuilding one
would read the whole table.
"""

from __future__ import annotations

from imias.platform.db import Connection

INDEXES = """
SELECT x.indexrelid::regclass::text AS name, pg_get_indexdef(x.indexrelid) AS definition
  FROM pg_index x
 WHERE x.indrelid = $1::regclass AND NOT x.indisunique AND x.indpred IS NULL
 ORDER BY 1
"""
FOREIGN_KEYS = """
SELECT quote_ident(conname) AS name, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint
 WHERE conrelid = $1::regclass AND contype = 'f'
 ORDER BY conname
"""


async def set_aside(conn: Connection, table: str, triggers: tuple[str, ...] = ()) -> list[str]:
    """Drop ``table``'s foreign keys and non-unique, non-partial indexes and disable the named
    ``triggers`` (in the caller's transaction); the statements that restore them, for
    :func:`restore` after the load."""
    if not conn.is_in_transaction():
        raise RuntimeError("set the indexes aside in the transaction that loads the table")
    name = await conn.fetchval("SELECT $1::regclass::text", table)
    restore: list[str] = []
    for key in await conn.fetch(FOREIGN_KEYS, table):
        await conn.execute(f"ALTER TABLE {name} DROP CONSTRAINT {key['name']}")
        restore.append(f"ALTER TABLE {name} ADD CONSTRAINT {key['name']} {key['definition']}")
    for index in await conn.fetch(INDEXES, table):
        await conn.execute(f"DROP INDEX {index['name']}")
        restore.insert(0, index["definition"])  # indexes first: the keys' checks are joins
    for trigger in triggers:
        await conn.execute(f'ALTER TABLE {name} DISABLE TRIGGER "{trigger}"')
        restore.append(f'ALTER TABLE {name} ENABLE TRIGGER "{trigger}"')
    return restore


async def restore(conn: Connection, statements: list[str]) -> None:
    for statement in statements:
        await conn.execute(statement)
