"""stop_session stops a child server's whole process group: also when the server
ignores SIGINT (granian does, while it spawns its workers), and its workers with it,
which a SIGKILL of the server alone would leave running."""

import subprocess
import sys
import time
from pathlib import Path

from loadtest.served import stop_session

# A "server" that ignores SIGINT and has a "worker" child that does too.
SERVER = """
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
worker = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(120)"])
print(worker.pid, flush=True)
time.sleep(120)
"""

# One that stops on SIGINT, as a started granian does (its own handler: a child started
# from a shell's background job inherits SIGINT ignored, and Python keeps it so).
POLITE = """
import signal, time
signal.signal(signal.SIGINT, signal.default_int_handler)
print(0, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _start(code: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def test_a_server_deaf_to_sigint_is_killed_with_its_worker():
    process, worker = _start(SERVER)
    began = time.monotonic()
    stop_session(process, seconds=1.0)
    assert process.poll() is not None
    assert time.monotonic() - began < 10
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker), "the worker outlived its server"


def test_a_server_that_stops_on_sigint_is_not_killed():
    process, _ = _start(POLITE)
    stop_session(process, seconds=10.0)
    assert process.returncode == -2  # SIGINT, not SIGKILL (-9)
    stop_session(process)  # stopping a stopped server is nothing
