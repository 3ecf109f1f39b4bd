"""`imias bench floor`: the bare booking server it measures answers and refuses like a
service, and `--quick` prints a JSON line per shape whose bookings are all in the
database, then leaves no scratch schema behind (the figures are a benchmark, never
asserted)."""

import asyncio
import contextlib
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from loadtest.bench import floor as bench_floor
from loadtest.bench.floor_app import tables
from loadtest.client import Connection
from loadtest.served import free_port

pytestmark = pytest.mark.slow


def test_an_unreachable_database_is_said_in_a_line(capsys):
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    assert bench_floor.main(["--quick", "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bench floor: cannot use the database:") and "Traceback" not in err


async def _floor_schemas(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'imias_floor_%'"
        )
    finally:
        await conn.close()
    return [r["nspname"] for r in rows]


def test_quick_floor_prints_a_line_per_shape_and_cleans_up(database_url):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = bench_floor.main(["--quick", "--database-url", database_url])
    assert code == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    by_name = {line["workload"]: line for line in lines}
    assert list(by_name) == ["floor_statement", "floor_transaction"], lines
    for shape, trips in (("statement", 2), ("transaction", 8)):
        line = by_name[f"floor_{shape}"]
        assert line["ok"] > 0 and line["per_second"] > 0, line
        # Every booking the clients counted is booked in the database, and no other.
        assert line["booked_in_database"] == line["ok"], line
        assert line["failed"] == 0 and line["refused"] == {}, line
        assert line["round_trips_per_booking"] == trips
        assert line["p99_ms"] >= line["p50_ms"] > 0, line
        # The floor's granian workers are counted as the server, not as "other".
        cpu = line["cpu_ms_per_booking"]
        assert cpu["server"] > 0 and cpu["postgres"] > 0 and cpu["bench"] > 0, line
    assert by_name["floor_statement"]["machine"]["python_mops"] > 0
    statement, transaction = by_name["floor_statement"], by_name["floor_transaction"]
    ratio = statement["per_second"] / transaction["per_second"]
    assert transaction["ratio"] == pytest.approx(ratio, rel=0.01)
    assert asyncio.run(_floor_schemas(database_url)) == []


async def test_the_floor_server_refuses_with_problem_codes(database_url):
    schema = "imias_floor_refusals"
    conn = await asyncpg.connect(database_url)
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    for statement in tables(schema, 2):
        await conn.execute(statement)
    try:
        with bench_floor.floor_served(database_url, schema, "transaction", 1) as url:
            client = Connection(url)
            try:
                await _refusals(client, conn, schema)
            finally:
                await client.aclose()
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


async def _refusals(client: Connection, conn: asyncpg.Connection, schema: str) -> None:
    slot = (await client.get("/search")).json()[0]
    held = await client.post("/hold", json={**slot, "patient_id": 1})
    assert held.status_code == 200
    again = await client.post("/hold", json={**slot, "patient_id": 0})
    assert (again.status_code, again.json()["code"]) == (409, "slot_taken")
    stranger = await client.post("/hold", json={"doctor_id": 1, "slot": 1, "patient_id": 7})
    assert (stranger.status_code, stranger.json()["code"]) == (404, "not_found")
    # Only the holder confirms their hold, once.
    token = held.json()["token"]
    other = await client.post("/confirm", json={"token": token, "patient_id": 0})
    assert (other.status_code, other.json()["code"]) == (409, "wrong_hold")
    booked = await client.post("/confirm", json={"token": token, "patient_id": 1})
    assert booked.status_code == 200 and booked.json() == {"slot": slot["slot"]}
    twice = await client.post("/confirm", json={"token": token, "patient_id": 1})
    assert twice.status_code == 409
    bad = await client.post("/confirm", json={"token": "x", "patient_id": 1})
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_error")
    assert bad.headers["content-type"] == "application/problem+json"
    huge = await client.post("/hold", json={"doctor_id": 1, "slot": 2**64, "patient_id": 1})
    assert (huge.status_code, huge.json()["code"]) == (400, "validation_error")
    missing = await client.get("/nowhere")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert await conn.fetchval(f"SELECT status FROM {schema}.slots") == "booked"


def _stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/PID/stat after the name (state, ppid, pgrp, session, ...)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _floor_servers_of(parent: int) -> list[int]:
    """Pids of the floor's granian servers that ``parent`` started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = _stat(entry.name)
        if fields and int(fields[1]) == parent and b"loadtest.bench.floor_app" in cmdline:
            found.append(int(entry.name))
    return found


def _living_in_session(session: int) -> list[int]:
    """Processes of ``session`` that are not zombies (orphans included, wherever they
    were re-parented)."""
    living = []
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields and int(fields[3]) == session and fields[0] != "Z":
            living.append(int(entry.name))
    return living


# Killed while its server starts (granian may miss a SIGINT then: see stop_session),
# and killed under load.
@pytest.mark.parametrize("after", [0.25, 3.0])
def test_sigterm_stops_the_floors_server_and_drops_its_schema(database_url, after):
    bench = subprocess.Popen(
        [sys.executable, "-m", "loadtest.bench.floor", "--duration", "60",
         "--concurrency", "4", "--database-url", database_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (servers := _floor_servers_of(bench.pid)):
            assert bench.poll() is None, bench.communicate()
            assert time.monotonic() < deadline, "the floor's server never started"
            time.sleep(0.05)
        assert asyncio.run(_floor_schemas(database_url)) != []
        time.sleep(after)
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 143
    finally:
        if bench.poll() is None:
            bench.kill()
    for server in servers:  # the server and its workers, none left behind
        assert _living_in_session(server) == [], server
    assert asyncio.run(_floor_schemas(database_url)) == []
