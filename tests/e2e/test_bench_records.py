"""`imias bench records --quick` against `imias serve` on a small city with history:
every line it prints is JSON naming its workload, the card, the search and the
sign-offs are measured and answered, and the card's plan is there (the figures
themselves are a benchmark, never asserted)."""

import contextlib
import io
import json

import asyncpg
import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from serving import serve

from loadtest.bench import records as bench

pytestmark = pytest.mark.slow

WORKLOADS = {"card", "search", "open", "sign", "signoffs", "plan"}


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_bench_records_{worker_id()}"
    url = await build_city_database(
        pg_admin_url, name, clinics=8, doctors=120, patients=1500, history_days=2
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("bench") / "serve.log"
    with serve(city, redis_url, log, secret_key=TEST_SECRET) as url:
        yield url


async def test_quick_bench_prints_a_json_line_per_workload(server, city, monkeypatch):
    monkeypatch.setenv("IMIAS_SECRET_KEY", TEST_SECRET)  # the bench mints with the server's key
    conn = await asyncpg.connect(city)
    try:
        signed_before = await conn.fetchval("SELECT count(*) FROM encounters")
    finally:
        await conn.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = await _run_in_thread(["--url", server, "--quick", "--database-url", city])
    assert code == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    by_name = {line["workload"]: line for line in lines}
    assert set(by_name) == WORKLOADS, lines
    for name in ("card", "search"):
        line = by_name[name]
        assert line["ok"] > 0 and line["failed"] == 0 and line["refused"] == 0, line
        assert 0 < line["p50_ms"] <= line["p99_ms"], line
    assert by_name["search"]["path"] == bench.SEARCH_PATH
    assert by_name["card"]["target_p99_ms"] == 20.0
    signoffs = by_name["signoffs"]
    assert signoffs["ok"] > 0 and signoffs["failed"] == 0 and signoffs["per_second"] > 0, lines
    assert by_name["sign"]["ok"] == signoffs["ok"] and signoffs["concurrency"] == 8
    plan = by_name["plan"]["plan"]
    assert "Buffers:" in plan and "-- results" in plan and "Execution Time" in plan
    conn = await asyncpg.connect(city)
    try:
        after = await conn.fetchval("SELECT count(*) FROM encounters")
        assert after == signed_before + signoffs["ok"]
    finally:
        await conn.close()


async def _run_in_thread(argv: list[str]) -> int:
    """The bench runs its own event loop (asyncio.run): off this test's loop."""
    import asyncio

    return await asyncio.to_thread(bench.main, argv)
