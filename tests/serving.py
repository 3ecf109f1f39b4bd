"""Running `imias serve` for end-to-end tests: a free port, the environment, and
waiting until every worker has loaded its engine. Imported as ``serving``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(
    database_url: str, redis_url: str, log: Path, workers: int = 2, **settings: str
) -> Iterator[str]:
    """`imias serve` on the given servers; yields its base URL once several health
    checks in a row (so every worker) answer 200; stops it with Ctrl-C after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    env |= {
        "IMIAS_DATABASE_URL": database_url,
        "IMIAS_REDIS_URL": redis_url,
        "IMIAS_LOG_LEVEL": "WARNING",
        **{f"IMIAS_{k.upper()}": v for k, v in settings.items()},
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imias.cli",
            "serve",
            "--workers",
            str(workers),
            "--port",
            str(port),
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, healthy = time.monotonic() + 90, 0
        while healthy < 10:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                ok = httpx.get(url + "/health", timeout=5).status_code == 200
            except httpx.TransportError:
                ok = False
            healthy = healthy + 1 if ok else 0
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


@dataclass
class Clock:
    """A clock a test moves by hand; services take it in place of the wall clock."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now
