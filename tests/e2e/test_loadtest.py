"""A short smoke run of each locust profile (`loadtest/`) against `imias serve` on a
small seeded city, so that the scenarios cannot rot: the report folder has locust's
CSV and HTML and a summary whose requests were made, none failed unexpectedly and
whose database audit passed. The figures themselves are never asserted."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg
import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from click.testing import CliRunner
from serving import serve

from imias.cli import main
from imias.identity.keys import Keys
from imias.platform.ports import port_taken
from loadtest import audit, opening
from loadtest.profiles import ARRIVING_SECONDS
from loadtest.run import run
from loadtest.served import free_port

pytestmark = pytest.mark.slow

PROFILES = ["emias-day", "monday-opening", "stress"]


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_load_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=8, doctors=120, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("load") / "serve.log"
    with serve(city, redis_url, log, workers=1, secret_key=TEST_SECRET, demo="1") as url:
        yield url


# The audit's own tests come first: no server (so no hold sweeper) runs on the city yet.


async def _written(conn, status: str, days: int, expired_hold: bool = False) -> int:
    """An appointment written straight to the database, ``days`` ahead, of the last
    doctor and patient (no server runs on the city yet); with ``expired_hold``, a hold
    that expired an hour ago."""
    doctor = await conn.fetchrow(
        "SELECT d.id, d.clinic_id, d.specialty_id FROM doctors d ORDER BY d.id DESC LIMIT 1"
    )
    patient = await conn.fetchval("SELECT id FROM patients ORDER BY id DESC LIMIT 1")
    return await conn.fetchval(
        """
        INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id,
                                  starts_at, ends_at, status, channel,
                                  hold_token, hold_expires_at)
        VALUES ($1, $2, $3, $4, date_trunc('hour', now()) + make_interval(days => $6),
                date_trunc('hour', now()) + make_interval(days => $6, mins => 15), $5,
                'web', CASE WHEN $7 THEN gen_random_uuid() END,
                CASE WHEN $7 THEN now() - interval '1 hour' END)
        RETURNING id
        """,
        doctor["clinic_id"],
        doctor["id"],
        patient,
        doctor["specialty_id"],
        status,
        days,
        expired_hold,
    )


async def test_the_audit_fails_on_a_hold_left_past_its_expiry(city):
    conn = await asyncpg.connect(city)
    try:
        stale = await _written(conn, "held", 40, expired_hold=True)
        try:
            result = await audit.audit(city)
            assert not result["passed"]
            assert stale in result["checks"]["no_stale_holds"]["examples"]
        finally:
            await conn.execute("UPDATE appointments SET status = 'expired' WHERE id = $1", stale)
    finally:
        await conn.close()


async def test_the_audit_fails_on_a_confirmed_appointment_cancelled_that_the_run_never_let_go(
    city,
):
    conn = await asyncpg.connect(city)
    try:
        cancelled = await _written(conn, "cancelled", 41)
    finally:
        await conn.close()
    nobody = await audit.audit(city, confirmed=[cancelled])
    assert not nobody["passed"]
    assert nobody["checks"]["confirmed_are_booked"]["cancelled_by_nobody"] == [cancelled]
    # Let go by the run (answered, or asked and the run stopped before the answer).
    let_go = await audit.audit(city, confirmed=[cancelled], released=[cancelled])
    assert let_go["checks"]["confirmed_are_booked"]["count"] == 0, let_go


def test_the_audit_fails_on_a_confirmed_appointment_that_is_not_there(city):
    result = asyncio.run(audit.audit(city, confirmed=[2**62]))
    assert not result["passed"]
    assert result["checks"]["confirmed_are_booked"]["missing"] == [2**62]


async def test_the_opening_check_fails_while_a_raced_doctor_has_free_time(server, city):
    # Before any race: the opening day of the first popular doctor still has free times.
    day, doctors = await asyncio.to_thread(opening.choose, server, city, 1)
    assert len(doctors) == 1
    result = await opening.check(server, city, day, doctors)
    assert result["count"] == 1 and result["doctors"] == 1, result
    assert result["doctors_with_free_times"][doctors[0]] > 0


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_a_short_run_of_the_profile_passes_its_audit(server, city, profile, tmp_path):
    summary = run(
        profile,
        url=server,
        database_url=city,
        token_key=Keys.from_secret(TEST_SECRET).token,
        report_base=tmp_path,
        # the race ends when the opened day of its one doctor is full
        duration=60 if profile == "monday-opening" else 4,
        users=8,
        patients=500,
        popular=1,
        log=lambda _: None,
    )
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith(profile + "-")
    written = json.loads((folder / "summary.json").read_text())
    log = (folder / "locust.log").read_text()[-3000:]
    assert written["requests"] > 0, log
    assert written["failures"] == 0, (written["by_request"], log)
    assert written["audit"]["passed"], written["audit"]
    assert written["passed"] and summary["passed"]
    assert (folder / "locust_stats.csv").exists() and (folder / "report.html").exists()
    assert written["chart"] == "chart.png" and (folder / "chart.png").stat().st_size > 0
    assert not (folder / "cast.json").exists()  # its tokens are not left in the report
    machine = written["machine"]  # what it ran on, and how fast that was
    assert machine["cpus"] == os.cpu_count() and machine["python_mops"] > 0, machine
    cpu = written["cpu_ms_per_request"]  # where the CPU went: the server and locust worked
    assert set(cpu) == {"server", "postgres", "redis", "locust", "other"}, cpu
    assert cpu["server"] > 0 and cpu["locust"] > 0, cpu
    assert 0 < written["machine_busy"] <= 1, written
    if profile == "monday-opening":
        assert written["confirmed"] > 0, written  # the race books
        taken = written["audit"]["checks"]["opening_day_taken_once"]
        assert taken["count"] == 0 and taken["doctors"] == 1, taken
        assert taken["times_taken"] >= taken["booked"] > 0, taken
        assert written["race_over"], "the race ends when the day is full, not at the cap"
        assert written["shape"]["arriving_s"] == ARRIVING_SECONDS, written["shape"]
    if profile == "stress":
        assert written["shape"]["stopped_by"] in ("time", "p99", "failures"), written["shape"]


def test_the_command_runs_a_profile_into_a_report_folder(
    server, city, redis_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("IMIAS_DATABASE_URL", city)
    monkeypatch.setenv("IMIAS_REDIS_URL", redis_url)
    monkeypatch.setenv("IMIAS_SECRET_KEY", TEST_SECRET)
    args = ["loadtest", "emias-day", "--url", server, "--duration", "3", "--users", "4"]
    result = CliRunner().invoke(main, [*args, "--report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[-1])
    assert line["passed"] and line["requests"] > 0, line
    folder = Path(line["folder"])
    assert folder.parent == tmp_path and (folder / "summary.json").exists()


def test_the_command_starts_its_own_server_when_given_no_url(
    city, redis_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("IMIAS_DATABASE_URL", city)
    monkeypatch.setenv("IMIAS_REDIS_URL", redis_url)
    monkeypatch.setenv("IMIAS_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("IMIAS_PORT", str(free_port()))
    args = ["loadtest", "emias-day", "--duration", "2", "--users", "2", "--workers", "1"]
    result = CliRunner().invoke(main, [*args, "--report", str(tmp_path)])
    assert result.exit_code == 0, (result.output, (tmp_path / "serve.log").read_text()[-3000:])
    line = json.loads(result.stdout.splitlines()[-1])
    assert line["passed"] and line["requests"] > 0, line
    assert (tmp_path / "serve.log").exists()  # the server it started logged there


def test_the_monday_opening_against_no_server_says_so(city, redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("IMIAS_DATABASE_URL", city)
    monkeypatch.setenv("IMIAS_REDIS_URL", redis_url)
    monkeypatch.setenv("IMIAS_SECRET_KEY", TEST_SECRET)
    nobody = "http://127.0.0.1:9"  # the discard port: nothing answers
    args = ["loadtest", "monday-opening", "--url", nobody, "--report", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert f"the server at {nobody} does not say it is healthy" in result.output
    assert "Traceback" not in result.output


def test_a_tool_stopped_with_sigterm_stops_the_server_it_started(city, redis_url, tmp_path):
    """``kill`` (or a job's timeout) on `imias loadtest` or `imias bench cities` does not
    leave the server they started serving on its port."""
    port = free_port()
    settings = {"IMIAS_SECRET_KEY": TEST_SECRET, "IMIAS_DATA_DIR": str(tmp_path / "data")}
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from loadtest.served import served
        log = Path({str(tmp_path / "serve.log")!r})
        with served({city!r}, {redis_url!r}, log_path=log, workers=1, port={port},
                    settings={settings!r}):
            print("serving", flush=True)
            time.sleep(300)
        """
    )
    tool = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert tool.stdout is not None
        assert tool.stdout.readline().strip() == "serving"  # healthy
        assert port_taken("127.0.0.1", port)
        tool.send_signal(signal.SIGTERM)
        assert tool.wait(120) == 128 + signal.SIGTERM  # unwound, not killed outright
        assert not port_taken("127.0.0.1", port)  # the server it started is gone too
    finally:
        try:  # whatever is left of the tool and its server
            os.killpg(tool.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_the_locustfile_run_by_hand_says_to_use_imias_loadtest(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_LOAD")}
    done = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "locust"),
            "-f",
            "loadtest/locustfile.py",
            "--headless",
            "--host",
            "http://127.0.0.1:9",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "imias loadtest emias-day" in done.stderr
    assert "Traceback" not in done.stderr and "TypeError" not in done.stderr
