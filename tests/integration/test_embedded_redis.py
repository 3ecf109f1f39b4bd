"""The embedded Redis is supervised by its process, not by a ping: a server that is
alive but stalled (stopped, or slow on a loaded machine) is waited for, and no second
server ever starts on the same data; one that has exited is started again."""

import os
import signal
import time
from pathlib import Path

import pytest

from imias.platform.embedded import EmbeddedRedis, EmbeddedServerError, RedisWatch


def servers_of(redis_server: EmbeddedRedis) -> list[int]:
    """The live redis-server processes serving this folder's socket."""
    socket_path = str(redis_server.socket).encode()
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


def wait_gone(pid: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still there")


def test_a_stalled_redis_is_waited_for_and_a_dead_one_started_again(tmp_path):
    first = EmbeddedRedis(tmp_path)
    first.start()
    pid = first.pid()
    assert pid is not None and servers_of(first) == [pid]
    os.kill(pid, signal.SIGSTOP)
    second = EmbeddedRedis(tmp_path)  # another process's view of the same folder
    watch = RedisWatch(second)
    try:
        assert not second.ping() and second.alive()
        with pytest.raises(EmbeddedServerError, match="does not answer"):
            second.start(timeout=1.0)
        watch.check()
        assert watch.restarts == 0
        assert servers_of(first) == [pid], "a second Redis on the same data"
    finally:
        os.kill(pid, signal.SIGCONT)
    assert second.start(timeout=10) == first.url  # answering again: joined, not doubled
    assert servers_of(first) == [pid]

    os.kill(pid, signal.SIGKILL)
    first._process.wait()  # reaped by its parent, as imias serve's would be
    wait_gone(pid)
    assert not second.alive()
    watch.check()
    try:
        assert watch.restarts == 1
        new_pid = second.pid()
        assert new_pid not in (None, pid) and servers_of(first) == [new_pid]
        assert second.ping()
    finally:
        second.stop()
