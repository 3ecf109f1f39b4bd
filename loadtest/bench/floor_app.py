"""The floor of a booking service on this machine: the least any Python server on
asyncpg and PostgreSQL does for a search, a hold and a confirmation.

A bare ASGI app (no framework, no rules, no engine, no audit, no outbox, nobody signed
in) that ``imias bench floor`` serves with granian, as ``imias serve`` serves IMIAS.
``GET /search`` answers the next slot of a per-worker counter; ``POST /hold`` writes
it; ``POST /confirm`` books it. Its ``FLOOR_SHAPE`` says how the writes reach
PostgreSQL:

- ``statement``: one statement each, in its own implicit transaction (two round
  trips a booking);
- ``transaction``: the round trips of IMIAS's hold and confirmation: ``BEGIN``, the
  patient's row locked, the write, ``COMMIT`` (eight a booking).

As in IMIAS, a hold commits without waiting for the disk and a confirmation waits, and
a worker has one pool of IMIAS's default size. Configured by ``FLOOR_DATABASE_URL``,
``FLOOR_SCHEMA``, ``FLOOR_SHAPE`` and ``FLOOR_POOL_SIZE`` (not ``IMIAS_*``: these are
not IMIAS's settings). Refusals are problem documents with a code.
"""

from __future__ import annotations

import itertools
import os
import uuid
from typing import Annotated, Any

import asyncpg
import msgspec

SHAPES = ("statement", "transaction")

_pools: dict[str, asyncpg.Pool] = {}
_next_slot = itertools.count()
_encode = msgspec.json.Encoder().encode


# What fits PostgreSQL's bigint (a larger number is the client's mistake, not the
# database's).
BigInt = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class HoldRequest(msgspec.Struct):
    doctor_id: BigInt
    slot: BigInt
    patient_id: BigInt


class ConfirmRequest(msgspec.Struct):
    token: uuid.UUID
    patient_id: BigInt


_hold = msgspec.json.Decoder(HoldRequest).decode
_confirm = msgspec.json.Decoder(ConfirmRequest).decode


def statements(schema: str) -> dict[str, str]:
    """The floor's SQL over the tables of ``schema`` (see :func:`tables`)."""
    return {
        "lock": f"SELECT id FROM {schema}.patients WHERE id = $1 FOR UPDATE",
        # As IMIAS's hold: its commit does not wait for the disk (this transaction only).
        "hold": "WITH no_wait AS (SELECT set_config('synchronous_commit', 'off', true))"
        f" INSERT INTO {schema}.slots (doctor_id, slot, patient_id, status, token)"
        " SELECT $1, $2, $3, 'held', $4 FROM no_wait ON CONFLICT DO NOTHING RETURNING token",
        "confirm": f"UPDATE {schema}.slots SET status = 'booked'"
        " WHERE token = $1 AND patient_id = $2 AND status = 'held' RETURNING slot",
    }


def tables(schema: str, patients: int) -> list[str]:
    """Statements that make the floor's tables, with patients 0 .. ``patients`` - 1."""
    return [
        f"CREATE SCHEMA {schema}",
        f"CREATE TABLE {schema}.patients (id bigint PRIMARY KEY)",
        f"INSERT INTO {schema}.patients SELECT generate_series(0, {patients - 1})",
        f"CREATE TABLE {schema}.slots (doctor_id bigint, slot bigint, patient_id bigint,"
        " status text NOT NULL, token uuid NOT NULL UNIQUE, PRIMARY KEY (doctor_id, slot))",
    ]


async def _startup() -> None:
    # One pool a worker, of IMIAS's default size (IMIAS_DB_POOL_SIZE).
    size = int(os.environ.get("FLOOR_POOL_SIZE", "10"))
    _pools["db"] = await asyncpg.create_pool(
        os.environ["FLOOR_DATABASE_URL"], min_size=1, max_size=size
    )


async def _shutdown() -> None:
    for pool in _pools.values():
        await pool.close()


async def _write(patient_id: int, statement: str, *args: Any) -> Any:
    sql = statements(os.environ["FLOOR_SCHEMA"])
    if os.environ.get("FLOOR_SHAPE") == "transaction":
        async with _pools["db"].acquire() as conn, conn.transaction():
            if await conn.fetchval(sql["lock"], patient_id) is None:
                raise LookupError(patient_id)
            return await conn.fetchval(sql[statement], *args)
    return await _pools["db"].fetchval(sql[statement], *args)


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, payload: Any) -> None:
    data = _encode(payload)
    kind = b"application/json" if status < 400 else b"application/problem+json"
    headers = [(b"content-type", kind), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _problem(status: int, code: str, detail: str) -> tuple[int, dict[str, Any]]:
    return status, {"status": status, "code": code, "title": detail, "detail": detail}


async def _route(method: str, path: str, receive: Any) -> tuple[int, Any]:
    if (method, path) == ("GET", "/search"):
        return 200, [{"doctor_id": os.getpid(), "slot": next(_next_slot)}]
    if method != "POST" or path not in ("/hold", "/confirm"):
        return _problem(404, "not_found", "No such route.")
    try:
        if path == "/hold":
            hold = _hold(await _body(receive))
            args = (hold.doctor_id, hold.slot, hold.patient_id, uuid.uuid4())
            token = await _write(hold.patient_id, "hold", *args)
            if token is None:
                return _problem(409, "slot_taken", "That time is taken.")
            return 200, {"token": str(token)}
        confirm = _confirm(await _body(receive))
        slot = await _write(confirm.patient_id, "confirm", confirm.token, confirm.patient_id)
    except LookupError:
        return _problem(404, "not_found", "There is no such patient.")
    except msgspec.ValidationError as exc:
        return _problem(400, "validation_error", str(exc))
    except msgspec.DecodeError as exc:
        return _problem(400, "malformed_json", str(exc))
    if slot is None:
        return _problem(409, "wrong_hold", "There is no such hold.")
    return 200, {"slot": slot}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await _startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    try:
        status, payload = await _route(scope["method"], scope["path"], receive)
    except (OSError, asyncpg.PostgresError) as exc:  # the database is away
        status, payload = _problem(503, "database_unavailable", type(exc).__name__)
    await _answer(send, status, payload)
