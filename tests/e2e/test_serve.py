"""`imias serve` as a user runs it: an empty data directory, the embedded servers,
a restart that keeps the data, and an embedded Redis that dies and comes back."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from imias.platform.embedded import EmbeddedPostgres, EmbeddedRedis

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, data_dir: Path, port: int, log: Path, workers: int = 1) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
        env |= {"IMIAS_DATA_DIR": str(data_dir), "IMIAS_LOG_FORMAT": "json"}
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "imias.cli", "serve", "--port", str(port)]
            + ["--workers", str(workers)],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def health(self) -> httpx.Response | None:
        try:
            return httpx.get(self.url + "/health", timeout=5)
        except httpx.TransportError:
            return None

    def wait_healthy(self, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            response = self.health()
            if response is not None and response.status_code == 200:
                return response.json()
            time.sleep(0.2)
        raise AssertionError("no healthy /health in time:\n" + self.log.read_text()[-3000:])

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)


def redis_servers(data_dir: Path) -> list[int]:
    """The live redis-server processes of ``data_dir``'s embedded Redis (its process
    title names its socket)."""
    socket_path = str(EmbeddedRedis(data_dir).socket).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text()
        except OSError:
            continue
        if b"redis-server" in command and socket_path in command and state.split()[2] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def postgres_running(pgdata: Path) -> bool:
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _write_row(url: str, topic: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO event_outbox (topic, payload) VALUES ($1, $2)", topic, b"{}"
        )
    finally:
        await conn.close()


async def _read_topics(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r[0] for r in await conn.fetch("SELECT topic FROM event_outbox")]
    finally:
        await conn.close()


def test_serve_on_an_empty_data_dir_keeps_its_data_across_a_restart(tmp_path):
    data_dir = tmp_path / "data"
    log = tmp_path / "serve.log"
    port = free_port()

    first = Served(data_dir, port, log)
    try:
        body = first.wait_healthy()
        assert body["database"] == "ok" and body["redis"] == "ok"
        pg = EmbeddedPostgres(data_dir)
        pg.start()  # joins the server that `imias serve` started
        db_url = pg.url
        asyncio.run(_write_row(db_url, "kept.across.restart"))
        pg.stop()
        embedded_redis = EmbeddedRedis(data_dir)
        client = redis.Redis.from_url(embedded_redis.url)
        client.set("imias:kept", b"yes")
        client.close()
    finally:
        assert first.stop() == 0
    assert "using embedded PostgreSQL and embedded Redis" in log.read_text()
    assert "IMIAS_DATABASE_URL" in log.read_text()
    assert not postgres_running(data_dir / "pg"), "embedded PostgreSQL left running"
    assert not embedded_redis.ping(), "embedded Redis left running"

    second = Served(data_dir, port, log, workers=2)
    try:
        second.wait_healthy()
        assert "with 2 worker(s)" in log.read_text()
        pg = EmbeddedPostgres(data_dir)
        pg.start()
        assert asyncio.run(_read_topics(pg.url)) == ["kept.across.restart"]
        pg.stop()
        client = redis.Redis.from_url(embedded_redis.url)
        assert client.get("imias:kept") == b"yes"
        client.close()

        # Both workers serving (one may still load its engine after the first 200): a
        # run of healthy answers, which the two workers share between them.
        healthy_in_a_row, deadline = 0, time.monotonic() + 60
        while healthy_in_a_row < 10 and time.monotonic() < deadline:
            response = second.health()
            healthy = response is not None and response.status_code == 200
            healthy_in_a_row = healthy_in_a_row + 1 if healthy else 0
            time.sleep(0.05)
        assert healthy_in_a_row >= 10, "the workers never all became healthy"
        # The embedded Redis stalls (stopped, as a loaded machine may stop answering):
        # /health names it, and no second Redis starts on its data while it is alive.
        old_pid = embedded_redis.pid()
        assert old_pid is not None
        os.kill(old_pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 30
            response = second.health()
            while time.monotonic() < deadline and (response is None or response.status_code != 503):
                time.sleep(0.1)
                response = second.health()
            assert response is not None and response.status_code == 503, "a stalled Redis hid"
            assert response.json()["failing"] == ["redis"]
            time.sleep(5)  # two looks of the watch, at least
            assert redis_servers(data_dir) == [old_pid], "a second Redis on the same data"
            assert embedded_redis.pid() == old_pid
        finally:
            os.kill(old_pid, signal.SIGCONT)
        assert second.wait_healthy()
        assert "alive but not answering; waiting for it" in log.read_text()
        # Then it dies: the watch, by its process, starts it again.
        os.kill(old_pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and embedded_redis.pid() in (None, old_pid):
            time.sleep(0.1)
        new_pid = embedded_redis.pid()
        assert new_pid not in (None, old_pid), "a dead Redis was never started again"
        second.wait_healthy()
        assert redis_servers(data_dir) == [new_pid]
        assert "embedded Redis has exited; starting it again" in log.read_text()
    finally:
        assert second.stop() == 0


def test_migrate_twice_on_the_embedded_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    env["IMIAS_DATA_DIR"] = str(tmp_path / "data")
    runs = [
        subprocess.run(
            [sys.executable, "-m", "imias.cli", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert runs[0].stdout.startswith("applied migrations: platform/0001_outbox")
    assert runs[1].stdout.strip() == "database schema is up to date"
    assert not postgres_running(tmp_path / "data" / "pg")


def test_version_names_the_engine():
    result = subprocess.run(
        [sys.executable, "-m", "imias.cli", "version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("imias ")
    assert lines[1] in {"engine cython", "engine python"}
