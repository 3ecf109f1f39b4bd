"""`imias bench booking --quick` against `imias serve` on a small seeded city: every
line it prints is JSON naming its workload, all the workloads are there, and the
flow books (the figures themselves are a benchmark, never asserted)."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from citydb import build_city_database, drop_database, worker_id

from imias.booking import bench

pytestmark = pytest.mark.slow

WORKLOADS = {"search", "hold", "confirm", "bookings", "search_sql"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_bench_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=300, patients=3000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("bench") / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    env |= {
        "IMIAS_DATABASE_URL": city,
        "IMIAS_REDIS_URL": redis_url,
        "IMIAS_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "imias.cli", "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline, healthy = time.monotonic() + 90, 0
    while healthy < 10:  # both workers loaded: several healthy answers in a row
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            ok = httpx.get(url + "/health", timeout=5).status_code == 200
        except httpx.TransportError:
            ok = False
        healthy = healthy + 1 if ok else 0
        time.sleep(0.1)
    yield url
    process.send_signal(signal.SIGINT)
    process.wait(60)


@pytest.mark.parametrize("specialty", ["therapist", "ophthalmologist"])
def test_quick_bench_prints_a_json_line_per_workload(server, city, specialty):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = bench.main(
            ["--url", server, "--quick", "--database-url", city, "--specialty", specialty]
        )
    assert code == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert all(isinstance(line, dict) and "workload" in line for line in lines), lines
    by_name = {line["workload"]: line for line in lines}
    assert set(by_name) == WORKLOADS, lines
    assert by_name["bookings"]["ok"] > 0, lines
    assert by_name["bookings"]["failed"] == 0, lines
    assert by_name["confirm"]["ok"] == by_name["bookings"]["ok"], lines
    for name in ("search", "hold", "confirm", "search_sql"):
        assert by_name[name]["p50_ms"] > 0 and by_name[name]["p99_ms"] >= by_name[name]["p50_ms"]
    assert by_name["search_sql"]["ratio"] > 0
    assert by_name["search_sql"]["count"] > 0
