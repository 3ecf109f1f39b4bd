"""A port already served is refused before anything starts: granian listens with
SO_REUSEPORT, so a second `imias serve` on the same port would otherwise start without
a word and the kernel would share the connections between the two servers."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from imias.platform.ports import port_taken
from loadtest.served import ServeError, free_port, served


def listener(reuse_port: bool) -> socket.socket:
    s = socket.socket()
    if reuse_port:  # as granian's workers do
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_a_free_port_is_not_taken():
    assert not port_taken("127.0.0.1", free_port())


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_listening_port_is_taken_even_when_shared_by_its_holder(reuse_port):
    with listener(reuse_port) as s:
        port = s.getsockname()[1]
        assert port_taken("127.0.0.1", port)
        assert port_taken("0.0.0.0", port)  # every address includes this one
    assert not port_taken("127.0.0.1", port)  # let go: free again


def test_serve_on_a_port_in_use_says_so_and_starts_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    env["IMIAS_DATA_DIR"] = str(tmp_path / "data")
    with listener(reuse_port=True) as s:
        port = s.getsockname()[1]
        # (a timeout, not a hang, if it ever started serving beside the listener)
        done = subprocess.run(
            [sys.executable, "-m", "imias.cli", "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"127.0.0.1:{port} is in use already" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # no embedded server was started


def test_a_tool_serving_on_a_port_in_use_is_refused_before_it_starts_one(tmp_path: Path):
    with listener(reuse_port=True) as s:
        port = s.getsockname()[1]
        with pytest.raises(ServeError, match="in use already"):
            with served(
                "postgresql://nowhere/db", "redis://nowhere", log_path=tmp_path / "log", port=port
            ):
                pass
    assert not (tmp_path / "log").exists()  # no imias serve was run
