"""The ambulance as an operator runs it, every hop a real socket: `imias partners add`
for the dispatch system (HTTP) and an MLLP-only sender, `imias serve` with two workers
sharing the MLLP port, and `imias simulate ambulance` as its own process sending calls
over HTTP and over MLLP and receiving the active-visit notice; the patient's SMS is the
demo log's line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve

from loadtest.served import answers, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_ambulance_served_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=6, doctors=90, patients=400)
    yield url
    await drop_database(pg_admin_url, name)


def imias(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imias.cli", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return dict(json.loads(answer.read()))


def get(url: str) -> list | dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def sql(url: str, query: str) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(query)
        finally:
            await conn.close()

    return asyncio.run(run())


def until(check, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("it never happened")


def test_the_dispatch_simulator_against_imias_served(city, redis_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    env |= {"IMIAS_DATABASE_URL": city, "IMIAS_REDIS_URL": redis_url,
            "IMIAS_SECRET_KEY": bearer.TEST_SECRET, "IMIAS_LOG_LEVEL": "WARNING"}  # fmt: skip
    sim_port, mllp_port = free_port(), free_port()
    added = imias("partners", "add", "dispatch", "--kind", "ambulance_dispatch",
                  "--url", f"http://127.0.0.1:{sim_port}/messages", "--backoff-ms", "100",
                  "--backoff-cap-ms", "1000", env=env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    added = imias("partners", "add", "adis", "--kind", "ambulance_dispatch", "--transport",
                  "mllp", env=env)  # fmt: skip
    assert added.returncode == 0 and "sends only" in added.stdout, added.stderr
    secret = imias("partners", "secret", "dispatch", env=env).stdout.strip()
    assert secret.startswith("whsec_")
    home, refused = sql(
        city,
        "SELECT id, policy_number, phone FROM patients WHERE phone IS NOT NULL"
        " AND attached_clinic_id IS NOT NULL AND birth_date < now() - interval '30 years'"
        " ORDER BY id LIMIT 2",
    )
    log = tmp_path / "serve.log"
    with serve(city, redis_url, log, workers=2, secret_key=bearer.TEST_SECRET, demo="1",
               mllp_port=str(mllp_port), log_level="INFO") as url:  # fmt: skip
        sim_log = (tmp_path / "sim.log").open("wb")
        simulator = subprocess.Popen(
            [sys.executable, "-m", "imias.cli", "simulate", "ambulance", "--port", str(sim_port),
             "--imias-url", url, "--partner", "dispatch", "--secret", secret,
             "--mllp", f"127.0.0.1:{mllp_port}", "--mllp-partner", "adis"],
            env=env, stdout=sim_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            sim = f"http://127.0.0.1:{sim_port}"
            until(lambda: answers(sim + "/_stats"))
            by_http = post(
                sim + "/_send-call",
                {"policy": home["policy_number"], "outcome": "home", "call_number": "103-E2E-1"},
            )
            assert by_http["status"] == 200, by_http
            assert by_http["answer"]["type"] == "transaction-response"
            for n in range(4):  # two workers share the port: each connection is answered
                by_mllp = post(sim + "/_send-call", {
                    "policy": refused["policy_number"], "outcome": "refused", "via": "mllp",
                    "call_number": "103-E2E-2", "message_id": "E2E-MLLP-2"})  # fmt: skip
                assert by_mllp["ack"] == "AA", (n, by_mllp)

            def noticed() -> list:
                got = get(sim + "/_received")
                assert isinstance(got, list)
                return [m for m in got if m["extra"].get("call_number") == "103-E2E-1"]

            (notice,) = until(noticed)
            assert notice["extra"]["status"] == "booked", notice
            page = urllib.request.urlopen(sim + "/", timeout=10).read().decode()
            assert "103-E2E-1" in page
        finally:
            simulator.terminate()
            simulator.wait(30)
            sim_log.close()
    counts = sql(
        city,
        "SELECT patient_id, count(*) AS n FROM encounters WHERE kind = 'ambulance'"
        " GROUP BY patient_id",
    )
    assert {r["patient_id"]: r["n"] for r in counts} == {home["id"]: 1, refused["id"]: 1}
    # The patient is told (a notice for the notification service; no SMS gateway is
    # registered here, so it goes no further): the booked visit's time.
    told = [
        json.loads(bytes(r["payload"]))
        for r in sql(city, "SELECT payload FROM event_outbox WHERE topic = 'notice'")
    ]
    (visit,) = [t for t in told if t["kind"] == "active_visit" and t["patient_id"] == home["id"]]
    assert visit["params"]["appointment_id"] > 0
    # the same visit the dispatch was told of
    assert visit["params"]["starts_at"][:16] == notice["extra"]["starts_at"][:16], (visit, notice)
