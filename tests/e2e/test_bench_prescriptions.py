"""`imias bench prescriptions --quick` against `imias serve` on a small city with history
(its prescriptions signed with the server's key): every line it prints is JSON naming
its workload; the checks, signing and verifying are timed in process, and the counter
scans and dispenses seeded prescriptions, each dispensing counted in the database (the
figures themselves are a benchmark, never asserted)."""

import asyncio
import contextlib
import io
import json

import asyncpg
import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from serving import serve

from loadtest.bench import prescriptions as bench

pytestmark = pytest.mark.slow

WORKLOADS = {
    "encode",
    "checks",
    "sign",
    "verify",
    "baseline",
    "scan",
    "dispense",
    "dispensings",
    "dispensings_at_rate",
}


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_bench_prescriptions_{worker_id()}"
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
        before = await conn.fetchval("SELECT count(*) FROM dispensings")
    finally:
        await conn.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = await asyncio.to_thread(
            bench.main, ["--url", server, "--quick", "--database-url", city]
        )
    assert code == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    by_name = {line["workload"]: line for line in lines}
    assert set(by_name) == WORKLOADS, lines
    for name in ("encode", "checks", "sign", "verify"):
        line = by_name[name]
        assert line["count"] > 0 and 0 < line["p50_us"] <= line["p99_us"], line
        assert line["per_second"] > 0
    checks = by_name["checks"]
    assert checks["active"] == 20 and checks["target_p99_us"] == 1000.0
    assert checks["encode_ratio"] > 0 and by_name["sign"]["encode_ratio"] > 0
    assert by_name["baseline"]["ok"] > 0 and by_name["baseline"]["failed"] == 0
    dispensings = by_name["dispensings"]
    assert dispensings["ok"] > 0 and dispensings["failed"] == 0, lines
    assert 0 < dispensings["p50_ms"] <= dispensings["p95_ms"] <= dispensings["p99_ms"]
    assert dispensings["baseline_requests_per_dispensing"] > 0
    assert by_name["scan"]["ok"] == by_name["dispense"]["ok"] == dispensings["ok"]
    assert by_name["scan"]["refused"] == 0, by_name["scan"]
    at_rate = by_name["dispensings_at_rate"]
    assert at_rate["offered_per_second"] == 40.0 and at_rate["failed"] == 0, at_rate
    assert at_rate["ok"] > 0 and at_rate["per_second"] <= 40.0 * 1.2
    assert 0 < at_rate["p50_ms"] <= at_rate["p99_ms"]
    conn = await asyncpg.connect(city)
    try:
        after = await conn.fetchval("SELECT count(*) FROM dispensings")
        assert after == before + dispensings["ok"] + at_rate["ok"]
    finally:
        await conn.close()
