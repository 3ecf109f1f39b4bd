"""``imias serve`` as a child process, for the tools that drive a server of their own
(``imias loadtest`` without ``--url``, ``imias bench cities``): start it against a
database and a Redis, wait until it is healthy, stop it with Ctrl-C after.

Healthy means several ``GET /health`` answers of 200 in a row: with more than one
worker, each loads its engine on its own, and one healthy answer may come from the
first worker that is ready.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from imias.platform.ports import port_taken

HEALTHY_IN_A_ROW = 10
POLL_SECONDS = 0.1
STOP_SECONDS = 60.0
RESIGNAL_SECONDS = 1.0


class ServeError(RuntimeError):
    """The server did not become healthy; the message ends with its log's last lines."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (another process may take it before us)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = text.splitlines()[-lines:]
    return ("; its log " + str(path) + " ends:\n" + "\n".join(tail)) if tail else ""


def answers(url: str, timeout: float = 5.0) -> bool:
    """Whether ``url`` answers 200 (not: refused, an error status, a timeout)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):  # refused, 503 (HTTPError), timeout
        return False


@contextmanager
def child_session(
    command: list[str], env: Mapping[str, str], stdout: Any, stop_seconds: float
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a child server in its own session (its stderr goes with ``stdout`` unless
    that is DEVNULL) and yield it; on leaving, also when this process gets SIGTERM
    (see :func:`unwind_on_sigterm`), stop it and its workers (:func:`stop_session`)."""
    stderr = None if stdout is subprocess.DEVNULL else subprocess.STDOUT
    process = subprocess.Popen(
        command, env=env, stdout=stdout, stderr=stderr, start_new_session=True
    )
    restore = unwind_on_sigterm()
    try:
        yield process
    finally:
        stop_session(process, stop_seconds)
        restore()


@contextmanager
def served(
    database_url: str,
    redis_url: str,
    *,
    log_path: Path,
    workers: int | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    settings: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> Iterator[str]:
    """Run ``imias serve`` on ``database_url`` and ``redis_url`` and yield its base URL
    once it is healthy; stop it and its workers on leaving (:func:`stop_session`).

    ``port`` None takes a free one. ``settings`` are more ``IMIAS_*`` variables for
    the server, over ``environ`` (default: this process's environment); the log level
    is WARNING unless one is given. Its output is appended to ``log_path``. Raises
    :class:`ServeError` when it exits or is not healthy within ``timeout`` seconds
    (loading a whole city's engine takes a while).
    """
    port = port or free_port(host)
    if port_taken(host, port):  # its /health would answer for the server started here
        raise ServeError(f"{host}:{port} is in use already: is another imias serve there?")
    env = dict(os.environ if environ is None else environ)
    env.setdefault("IMIAS_LOG_LEVEL", "WARNING")
    env |= {"IMIAS_DATABASE_URL": database_url, "IMIAS_REDIS_URL": redis_url}
    env |= dict(settings or {})
    command = [sys.executable, "-m", "imias.cli", "serve", "--host", host, "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"
    with log_path.open("ab") as log, child_session(command, env, log, STOP_SECONDS) as process:
        deadline, in_a_row = time.monotonic() + timeout, 0
        while in_a_row < HEALTHY_IN_A_ROW:
            if process.poll() is not None:
                raise ServeError(
                    f"imias serve exited with status {process.returncode}" + _log_tail(log_path)
                )
            if time.monotonic() > deadline:
                raise ServeError(
                    f"imias serve was not healthy at {url} within {timeout:g} s"
                    + _log_tail(log_path)
                )
            in_a_row = in_a_row + 1 if answers(url + "/health") else 0
            time.sleep(POLL_SECONDS)
        yield url


def unwind_on_sigterm() -> Callable[[], None]:
    """While a child server runs, SIGTERM (``kill``, a job's timeout) unwinds this
    process as Ctrl-C does, so the child is stopped too rather than left serving on its
    port. Returns what puts the previous handler back (in the main thread only: signal
    handlers live there)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def unwind(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, unwind)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def stop_session(process: subprocess.Popen[bytes], seconds: float = 15.0) -> None:
    """Stop a child started with ``start_new_session=True`` and every process of its
    group (a server's workers included): SIGINT to the group, again each second while it
    runs, then SIGKILL after ``seconds``. granian misses a signal that comes while it
    starts its workers (measured: the window is a few tenths of a second), and its
    workers would outlive a SIGKILL of it alone; signalled as a group, they all stop."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(min(RESIGNAL_SECONDS, max(deadline - time.monotonic(), 0.01)))
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
