"""A simulator as a real separate process (``imias simulate webhook``), as an operator
starts one: started, killed and started again on the same port, told to fail, answer
slowly or drop connections over its control API. Imported by tests as ``simprocess``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SimulatorProcess:
    """``imias simulate webhook`` on ``port``, verifying with ``secret``, keeping what it
    got in ``journal`` (so a restart remembers it and dedups across it)."""

    def __init__(self, port: int, secret: str | None, journal: Path, log: Path) -> None:
        self.port, self.secret, self.journal, self.log = port, secret, journal, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + "/messages"

    def start(self, timeout: float = 60) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
        if self.secret is not None:
            environ["IMIAS_SIMULATE_SECRET"] = self.secret
        args = [sys.executable, "-m", "imias.cli", "simulate", "webhook"]
        args += ["--port", str(self.port), "--journal", str(self.journal)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(args, env=environ, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the simulator exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.base + "/_stats", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the simulator did not answer: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """The receiver's machine dies: SIGKILL, no goodbye; the port refuses at once."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    async def control(self, **settings: Any) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(self.base + "/_control", json=settings)
            answer.raise_for_status()

    async def received(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(self.base + "/_received")
            answer.raise_for_status()
            found: list[dict[str, Any]] = answer.json()
            return found

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            stats: dict[str, Any] = (await client.get(self.base + "/_stats")).json()
            return stats


def imias_cli(
    *args: str, database_url: str, redis_url: str, secret: str, data_dir: Path
) -> subprocess.CompletedProcess[str]:
    """``imias ARGS`` as an operator runs it against the given servers."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    environ |= {
        "IMIAS_DATABASE_URL": database_url,
        "IMIAS_REDIS_URL": redis_url,
        "IMIAS_SECRET_KEY": secret,
        "IMIAS_DATA_DIR": str(data_dir),
        "IMIAS_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "imias.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
