"""`imias bench insights --quick` against `imias serve` on a small city with history:
every line it prints is JSON naming its case, and every case (the page in four scopes,
each JSON twin) is answered, none failed (the figures themselves are a benchmark,
never asserted)."""

import asyncio
import contextlib
import io
import json

import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from serving import serve

from loadtest.bench import insights as bench

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_bench_insights_{worker_id()}"
    url = await build_city_database(
        pg_admin_url, name, clinics=6, doctors=60, patients=500, history_days=2
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("bench") / "serve.log"
    with serve(city, redis_url, log, workers=1, secret_key=TEST_SECRET) as url:
        yield url


async def test_quick_bench_prints_a_json_line_per_case(server, city, monkeypatch):
    monkeypatch.setenv("IMIAS_SECRET_KEY", TEST_SECRET)  # the bench mints with the server's key
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = await asyncio.to_thread(
            bench.main, ["--url", server, "--quick", "--database-url", city, "--days", "3"]
        )
    assert code == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    names = [line["workload"] for line in lines]
    assert names[:4] == ["page city", "page district", "page specialty", "page clinic head"]
    assert names[4:] == [f"json {route or '/'}" for route in bench.ROUTES]
    for line in lines:
        assert line["ok"] == 3 and line["failed"] == 0, line
        assert 0 < line["p50_ms"] <= line["p99_ms"], line
        assert line["target_p99_ms"] == 1000.0
    assert lines[0]["machine"]["cpus"] >= 1
