"""`imias bench certificates --quick` on a small city seeded with certificates, serving
it itself (two workers, trusting 127.0.0.1 as its proxy): every line it prints is JSON
naming its workload; the offline checks see the seeded certificates' verdicts, the
officers' checks are never refused by the rate limits (many officers, many addresses),
and every issue is stored (the figures themselves are never asserted)."""

import asyncio
import contextlib
import io
import json

import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id

from loadtest.bench import certificates as bench

pytestmark = pytest.mark.slow

WORKLOADS = {
    "ecdsa_verify",
    "offline",
    "offline_stages",
    "sign",
    "baseline",
    "verify",
    "verify_at_rate",
    "issue",
}


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_bench_certificates_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=8, doctors=120, patients=1500)
    yield url
    await drop_database(pg_admin_url, name)


async def test_quick_bench_prints_a_json_line_per_workload(city, redis_url, monkeypatch):
    monkeypatch.setenv("IMIAS_SECRET_KEY", TEST_SECRET)  # the server's, and the tokens'
    monkeypatch.setenv("IMIAS_LOG_LEVEL", "WARNING")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = await asyncio.to_thread(
            bench.main, ["--quick", "--database-url", city, "--redis-url", redis_url]
        )
    assert code == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    by_name = {line["workload"]: line for line in lines}
    assert set(by_name) == WORKLOADS, lines
    offline = by_name["offline"]
    assert offline["source"] == "city" and offline["certificates"] > 20
    assert set(offline["verdicts"]) <= {"valid", "revoked"} and offline["verdicts"]["valid"] > 0
    assert offline["revoked_listed"] >= 1 and offline["ecdsa_ratio"] > 1
    for name in ("ecdsa_verify", "offline", "sign"):
        line = by_name[name]
        assert line["count"] > 0 and 0 < line["p50_us"] <= line["p99_us"], line
    stages = by_name["offline_stages"]
    assert stages["signature_us"] > 0 and stages["base45_us"] > 0
    assert by_name["baseline"]["ok"] > 0 and by_name["baseline"]["failed"] == 0
    for name in ("verify", "verify_at_rate"):
        line = by_name[name]
        assert line["ok"] > 0 and line["refused"] == 0 and line["failed"] == 0, line
        assert set(line["verdicts"]) == {"valid"}, line
        assert 0 < line["p50_ms"] <= line["p95_ms"] <= line["p99_ms"]
    assert by_name["verify"]["baseline_requests_per_verify"] > 0
    assert by_name["verify_at_rate"]["offered_per_second"] == 40.0
    issue = by_name["issue"]
    assert issue["ok"] > 0 and issue["refused"] == 0 and issue["failed"] == 0, issue
    assert issue["stored"] == issue["ok"]
