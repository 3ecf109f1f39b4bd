"""`imias bench cities --quick` over two small seeded cities of different sizes: it
serves each in turn and prints the booking bench's JSON lines with the city's name and
size, and the side-by-side table; a database that holds no city, or cannot be
reached, is refused with one line and no traceback before any server starts. The
figures themselves are a benchmark, never asserted."""

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
import redis
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, with_database, worker_id, worker_index

from imias.domains import migrate_url
from imias.platform.cache import with_redis_db
from loadtest.bench.cities import city_redis

pytestmark = pytest.mark.slow

WORKLOADS = {"baseline", "search", "hold", "confirm", "bookings", "search_sql"}
SIZES = {"small": (8, 120, 1500), "large": (16, 300, 4000)}  # clinics, doctors, patients


@pytest.fixture(scope="module")
async def cities(pg_admin_url):
    urls = {}
    for name, (clinics, doctors, patients) in SIZES.items():
        database = f"imias_test_cities_{name}_{worker_id()}"
        urls[name] = await build_city_database(
            pg_admin_url, database, clinics=clinics, doctors=doctors, patients=patients
        )
    yield urls
    for name in SIZES:
        await drop_database(pg_admin_url, f"imias_test_cities_{name}_{worker_id()}")


def bench_cities(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: its own process, no IMIAS_* but the test key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    env["IMIAS_SECRET_KEY"] = TEST_SECRET  # the servers' key, the bench's patients' tokens
    return subprocess.run(
        [sys.executable, "-m", "imias.cli", "bench", "cities", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_two_cities_side_by_side(cities, tmp_path):
    result = bench_cities(
        "--database-url",
        f"small={cities['small']}",
        "--database-url",
        f"large={cities['large']}",
        "--quick",
        "--log-dir",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr, result.stderr[-4000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    by_key = {(line["city"], line["workload"]): line for line in lines}
    assert len(by_key) == len(lines), lines
    assert set(by_key) == {(c, w) for c in SIZES for w in WORKLOADS}, lines
    for name, (clinics, doctors, patients) in SIZES.items():
        size = by_key[(name, "search")]["city_size"]
        assert (size["clinics"], size["doctors"], size["patients"]) == (clinics, doctors, patients)
        assert size["appointments"] >= 0 and size["database_bytes"] > 0
        assert size["database_size"].endswith(("kB", "MB", "GB")), size
        bookings = by_key[(name, "bookings")]
        assert bookings["ok"] > 0 and bookings["failed"] == 0, bookings
        assert by_key[(name, "search_sql")]["count"] > 0
        assert (tmp_path / f"serve-{name}.log").exists()  # each city had its own server
    table = result.stderr[result.stderr.index("imias bench cities") :]
    assert "large/small" in table
    for shown in ("1,500", "4,000", "2.67x", "search_sql", "engine_in_process_p50_ms", "baseline"):
        assert shown in table, table


@pytest.fixture
async def unseeded(pg_admin_url):
    """A migrated database without a city."""
    name = f"imias_test_cities_unseeded_{worker_id()}"
    await drop_database(pg_admin_url, name)
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(pg_admin_url, name)
    await migrate_url(url)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.mark.parametrize("kind", ["migrated_no_city", "no_schema", "unreachable"])
def test_a_city_that_cannot_be_measured_is_refused(kind, cities, unseeded, fresh_database_url):
    bad = {
        "migrated_no_city": unseeded,
        "no_schema": fresh_database_url,
        "unreachable": "postgresql://postgres@127.0.0.1:1/nothing",
    }[kind]
    result = bench_cities(
        "--database-url", f"small={cities['small']}", "--database-url", f"bad={bad}", "--quick"
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""  # refused before the first city was served
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("bench cities: city bad: "), result.stderr
    expected = "cannot connect" if kind == "unreachable" else "imias seed"
    assert expected in message, message


def test_a_redis_database_out_of_range_is_refused_before_any_run(cities, redis_url):
    last = with_redis_db(redis_url, 63)  # the second city would need database 64
    result = bench_cities(
        "--database-url",
        f"small={cities['small']}",
        "--database-url",
        f"large={cities['large']}",
        "--redis-url",
        last,
        "--quick",
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == "", result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("bench cities: Redis at ")


def test_a_name_given_twice_is_a_usage_error(cities):
    url = cities["small"]
    result = bench_cities("--database-url", f"a={url}", "--database-url", f"a={url}")
    assert result.returncode == 2 and "a name of its own" in result.stderr, result.stderr
    result = bench_cities("--database-url", url)  # no name
    assert result.returncode == 2 and "NAME=URL" in result.stderr, result.stderr


def test_with_a_redis_url_each_city_gets_the_next_database_emptied(redis_url, tmp_path):
    base_number = 10 + 2 * worker_index()  # two databases of this worker's own
    base = with_redis_db(redis_url, base_number)
    second = with_redis_db(redis_url, base_number + 1)
    client = redis.Redis.from_url(second)
    try:
        client.set("left-over", "from another run")
        with city_redis(1, base, tmp_path) as url:
            assert url == second
            assert client.get("left-over") is None
    finally:
        client.flushdb()
        client.close()


def test_without_a_redis_url_each_city_gets_a_private_redis(tmp_path):
    with city_redis(0, None, tmp_path) as first, city_redis(1, None, tmp_path) as other:
        assert first != other and first.startswith("unix://")
        one, two = redis.Redis.from_url(first), redis.Redis.from_url(other)
        try:
            one.set("k", "v")
            assert two.get("k") is None
        finally:
            one.close()
            two.close()
    assert not Path(first.removeprefix("unix://")).exists()  # stopped


def test_the_unix_redis_url_keeps_its_path_and_changes_its_database():
    assert with_redis_db("unix:///tmp/r.sock?db=3", 5) == "unix:///tmp/r.sock?db=5"
    assert with_redis_db("redis://h:6379/3", 4) == "redis://h:6379/4"
