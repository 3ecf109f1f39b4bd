"""`imias bench booking --quick` against `imias serve` on a small seeded city: every
line it prints is JSON naming its workload, all the workloads are there, and the
flow books (the figures themselves are a benchmark, never asserted)."""

import contextlib
import io
import json

import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from serving import serve

from loadtest.bench import booking as bench

pytestmark = pytest.mark.slow

WORKLOADS = {"baseline", "search", "hold", "confirm", "bookings", "search_sql"}


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_bench_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=300, patients=3000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("bench") / "serve.log"
    with serve(city, redis_url, log, secret_key=TEST_SECRET) as url:
        yield url


@pytest.mark.parametrize("specialty", ["therapist", "ophthalmologist"])
def test_quick_bench_prints_a_json_line_per_workload(server, city, specialty, monkeypatch):
    # The bench signs its patients in with the server's key, as `imias token` does.
    monkeypatch.setenv("IMIAS_SECRET_KEY", TEST_SECRET)
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
    # The baseline: the same clients, the simplest public answer, before the load.
    baseline, bookings = by_name["baseline"], by_name["bookings"]
    assert baseline["path"] == bench.BASELINE_PATH and baseline["failed"] == 0, lines
    assert baseline["ok"] > 0 and baseline["per_second"] > 0, lines
    assert baseline["machine"]["python_mops"] > 0, baseline  # the machine's speed beside it
    per_booking = baseline["per_second"] * bookings["seconds"] / bookings["ok"]  # rounded figures
    assert bookings["baseline_requests_per_booking"] == pytest.approx(per_booking, rel=0.02)
    # Where the machine's CPU went (the server and PostgreSQL are on this machine here).
    for line, key in ((baseline, "cpu_ms_per_request"), (bookings, "cpu_ms_per_booking")):
        cpu = line[key]
        assert set(cpu) == {"server", "postgres", "redis", "bench", "other"}, line
        assert cpu["bench"] > 0 and cpu["server"] > 0, line
        assert 0 < line["machine_busy"] <= 1 and 0 <= line["machine_steal"] <= 1, line
    assert bookings["cpu_ms_per_booking"]["postgres"] > 0, bookings  # a booking writes
    for name in ("baseline", "search", "hold", "confirm", "search_sql"):
        assert by_name[name]["p50_ms"] > 0 and by_name[name]["p99_ms"] >= by_name[name]["p50_ms"]
    assert by_name["search_sql"]["ratio"] > 0
    assert by_name["search_sql"]["count"] > 0
    assert by_name["search_sql"]["engine_in_process_p50_ms"] > 0  # reported, not judged


def test_floor_beside_the_booking_bench_on_the_same_line(server, city, monkeypatch):
    """`--floor`: the floor measured right after, on the same database, and IMIAS's
    ratios to it on the bookings line (a later change is judged by one command)."""
    monkeypatch.setenv("IMIAS_SECRET_KEY", TEST_SECRET)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = bench.main(["--url", server, "--quick", "--database-url", city, "--floor"])
    assert code == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    bookings = next(line for line in lines if line["workload"] == "bookings")
    assert bookings["floor_per_second"] > 0 and bookings["floor_failed"] == 0, bookings
    assert bookings["floor_ratio"] == pytest.approx(
        bookings["per_second"] / bookings["floor_per_second"], abs=0.002
    )
    floor_cpu = bookings["floor_cpu_ms_per_booking"]
    assert floor_cpu["server"] > 0 and floor_cpu["postgres"] > 0, bookings
    assert bookings["postgres_cpu_vs_floor"] == pytest.approx(
        bookings["cpu_ms_per_booking"]["postgres"] / floor_cpu["postgres"], rel=0.02
    )
    assert {line["workload"] for line in lines} == WORKLOADS  # no line of its own
