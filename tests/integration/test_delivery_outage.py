"""The reliability target of the delivery (issue #21): with a receiver down under a
steady flow nothing is lost; after it returns each message arrives once (after the
receiver's deduplication), in order per patient, and ``imias deliveries`` shows none
left.

The receiver is the simulator as a real separate process (``imias simulate webhook``,
started with subprocess, checking every signature, keeping what it got in a journal as
a real system keeps it in its database); the events are written through the real
outbox (``write_event`` in their transactions) and the relay, the router and the
partner's worker run as in the app (the ``Rig`` of test_deliveries). Under the flow the
receiver first answers slowly (later than the sender's time-out: it keeps messages the
sender will send again), then drops connections, then is killed (SIGKILL) and started
again on the same port after the outage.

The outage is scaled down in time: OUTAGE seconds here, with the partner's backoff
scaled with it (base 20 ms, cap 1 s, against the defaults' 1 s and 5 min for ten
minutes). The full-length run is ``imias bench deliveries --outage 600``, which checks
the same things and prints them. At the end ``imias deliveries list`` (the CLI, run as a
process against this database) says the partner has 0 pending and 0 dead.

The commands an operator uses on the way are tried once each through the CLI too:
``imias partners add|list|secret`` and ``imias deliveries retry|replay``.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from simprocess import SimulatorProcess, free_port, imias_cli
from test_deliveries import SECRET as RIG_SECRET
from test_deliveries import Rig
from test_outbox import eventually

from imias.platform.db import app_url
from integrations.signing import partner_secret

OUTAGE = 6.0  # seconds (the bench's --outage 600 is the full ten minutes)
PATIENTS = 8
RATE = 20.0  # events a second, round the patients

# The Rig's worker signs with test_deliveries' deployment secret; the CLI is given a
# key of settings' length, and only its `partners secret` is compared with it.
CLI_SECRET = "imias-test-deliveries-cli-secret-0123456789"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def rig(pool: asyncpg.Pool, database_url: str, redis_client: aioredis.Redis):
    r = Rig(pool, app_url(database_url), redis_client)
    try:
        yield r
    finally:
        await r.stop()


@pytest.fixture
def simulator(rig: Rig, tmp_path: Path):
    secret = partner_secret(RIG_SECRET, rig.partner_id)
    sim = SimulatorProcess(free_port(), secret, tmp_path / "journal.jsonl", tmp_path / "sim.log")
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


class Flow:
    """A steady flow of events, ``RATE`` a second round ``PATIENTS`` patients, each
    numbered in its patient's order."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.emitted: dict[int, int] = defaultdict(int)  # patient -> events written
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        i = 0
        while True:
            patient = 1 + i % PATIENTS
            await self.rig.emit(patient, self.emitted[patient])
            self.emitted[patient] += 1
            i += 1
            await asyncio.sleep(1 / RATE)

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task

    @property
    def total(self) -> int:
        return sum(self.emitted.values())


async def test_an_outage_under_a_steady_flow_loses_nothing(
    rig: Rig, simulator: SimulatorProcess, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    await rig.add_partner(
        simulator.url, backoff_ms=20, backoff_cap_ms=1000, timeout_ms=500, max_attempts=25
    )
    rig.start()
    flow = Flow(rig)
    flow.start()
    await asyncio.sleep(2)  # a normal flow
    await eventually(lambda: _delivered(rig, 10), 20, "the first messages delivered")

    await simulator.control(delay_ms=800)  # slow: answers after the sender gave up
    await asyncio.sleep(2)
    await eventually(lambda: _failing(rig), 10, "the slow receiver seen failing")
    await simulator.control(delay_ms=0, mode="drop")  # connections dropped, no answer
    await asyncio.sleep(2)
    await simulator.control(mode="ok")
    assert (await simulator.stats())["dropped"] >= 1  # connections were dropped

    simulator.kill()  # down: the port refuses connections for OUTAGE seconds
    await asyncio.sleep(OUTAGE)
    assert await _failing(rig), "the partner is failing during the outage"
    assert (await rig.states()).get("dead", 0) == 0
    simulator.start()  # the same port, the same journal
    await asyncio.sleep(2)  # the flow goes on after the return
    await flow.stop()

    total = flow.total
    await eventually(lambda: _all_delivered(rig, total), 60, f"all {total} delivered")
    received = await simulator.received()
    numbers: dict[str, list[int]] = defaultdict(list)
    for message in received:
        numbers[message["order_key"]].append(json.loads(message["body"])["n"])
    # each message once, and in order per patient: exactly 0, 1, 2, ... for each
    assert {int(k): v for k, v in numbers.items()} == {
        p: list(range(n)) for p, n in flow.emitted.items()
    }
    assert len({m["message_id"] for m in received}) == len(received) == total
    stats = await simulator.stats()
    assert stats["refused"] == 0  # every signature verified, after the restart too
    # the messages the slow receiver kept after the sender had given up were sent again
    # and answered by its deduplication (across its restart: its journal)
    assert stats["duplicates"] >= 1, stats
    assert (
        await rig.pool.fetchval("SELECT failing_since FROM partners WHERE id = $1", rig.partner_id)
        is None
    )

    listed = imias_cli(
        "deliveries", "list", "--partner", rig.partner_id, "--limit", "5",
        database_url=database_url, redis_url=redis_url, secret=CLI_SECRET,
        data_dir=tmp_path / "data",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert f"{rig.partner_id}: 0 pending, 0 dead" in listed.stdout, listed.stdout


async def test_the_operators_commands_through_the_cli(
    rig: Rig, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """A partner added, listed and given its secret with ``imias partners``; messages
    refused for good are dead, ``imias deliveries retry`` sends them again, ``replay``
    sends what was delivered again (the receiver dedups)."""
    port = free_port()
    secret = partner_secret(RIG_SECRET, rig.partner_id)
    sim = SimulatorProcess(port, secret, tmp_path / "journal.jsonl", tmp_path / "sim.log")

    def cli(*args: str) -> str:
        done = imias_cli(
            *args, database_url=database_url, redis_url=redis_url, secret=CLI_SECRET,
            data_dir=tmp_path / "data",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    added = cli(
        "partners", "add", rig.partner_id, "--kind", "school_journal", "--name", "Школа 1",
        "--url", sim.url, "--topic", rig.audience, "--backoff-ms", "20",
        "--backoff-cap-ms", "200", "--timeout-ms", "2000",
    )  # fmt: skip
    assert f"partner {rig.partner_id}: school_journal, {sim.url}" in added
    listed = cli("partners", "list")
    (line,) = [ln for ln in listed.splitlines() if ln.startswith(rig.partner_id)]
    assert "school_journal" in line and sim.url in line
    # the secret the CLI gives is the one its deployment's key derives for the partner
    given = cli("partners", "secret", rig.partner_id).strip()
    assert given == partner_secret(CLI_SECRET, rig.partner_id, 1)
    assert given.startswith("whsec_")

    sim.start()
    try:
        await sim.control(mode="fail", status=422)  # refused for good: dead at once
        rig.start()
        for n in range(3):
            await rig.emit(5, n)
        await eventually(lambda: _states_are(rig, {"dead": 3}), 20, "three dead")
        await sim.control(mode="ok")
        retried = cli("deliveries", "retry", "--partner", rig.partner_id)
        assert f"3 dead messages to {rig.partner_id} are pending again" in retried
        await eventually(lambda: _states_are(rig, {"delivered": 3}), 20, "three delivered")
        assert [json.loads(m["body"])["n"] for m in await sim.received()] == [0, 1, 2]

        replayed = cli("deliveries", "replay", "--partner", rig.partner_id, "--since", "1h")
        assert f"3 messages to {rig.partner_id} since" in replayed
        await eventually(lambda: _duplicates(sim, 3), 20, "the replay, deduplicated")
        await eventually(lambda: _states_are(rig, {"delivered": 3}), 20, "delivered again")
        assert len(await sim.received()) == 3
    finally:
        sim.stop()


async def _delivered(rig: Rig, at_least: int) -> bool:
    return (await rig.states()).get("delivered", 0) >= at_least


async def _failing(rig: Rig) -> bool:
    return bool(
        await rig.pool.fetchval(
            "SELECT failing_since IS NOT NULL FROM partners WHERE id = $1", rig.partner_id
        )
    )


async def _all_delivered(rig: Rig, total: int) -> bool:
    return (await rig.states()) == {"delivered": total}


async def _states_are(rig: Rig, expected: dict[str, int]) -> bool:
    return (await rig.states()) == expected


async def _duplicates(sim: SimulatorProcess, n: int) -> bool:
    return int((await sim.stats())["duplicates"]) >= n


async def test_due_takes_each_patients_first_pending_and_every_unordered_one(
    rig: Rig,
) -> None:
    """The worker's query (integrations.repository.DUE): of a patient's pending messages
    only the first is sent; one without a patient goes whenever due; dead and delivered
    ones do not hold a patient's next back; one not yet due waits."""
    from datetime import UTC, datetime, timedelta

    from integrations import repository as repo

    await rig.add_partner("http://127.0.0.1:9/none")
    now = datetime.now(UTC)
    later = now + timedelta(minutes=5)
    rows = [  # (patient, status, due at)
        (1, "delivered", now), (1, "pending", now), (1, "pending", now),
        (2, "dead", now), (2, "pending", now),
        (None, "pending", now), (None, "pending", now),
        (3, "pending", later), (3, "pending", now),
    ]  # fmt: skip
    ids = []
    for n, (patient, status, due) in enumerate(rows):
        ids.append(
            await rig.pool.fetchval(
                "INSERT INTO deliveries (partner_id, patient_id, message_id, source, kind,"
                " content_type, body, status, next_attempt_at)"
                " VALUES ($1, $2, $3, $4, 'k', 'application/json', '{}', $5, $6) RETURNING id",
                rig.partner_id,
                patient,
                f"m{n}",
                f"due:{n}",
                status,
                due,
            )  # fmt: skip
        )
    due = await rig.pool.fetch(repo.DUE, rig.partner_id, now + timedelta(seconds=1), 32)
    assert sorted(r["id"] for r in due) == [ids[1], ids[4], ids[5], ids[6]]
