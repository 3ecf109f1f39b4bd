"""What a measurement ran on, with one figure of its speed, so that figures taken on
different machines (a CI runner, a laptop, a busy virtual machine) can be told apart
from changes of the code: load reports and benchmarks carry it beside their results."""

from __future__ import annotations

import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CHUNK = 20_000  # loop iterations between two looks at the clock


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def python_mops(seconds: float = 0.3) -> float:
    """Millions of iterations per second of a small pure-Python loop (integer
    arithmetic, one core): the speed this interpreter gets from this machine now."""
    done = 0
    began = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        _spin(_CHUNK)
        done += _CHUNK
        elapsed = time.perf_counter() - began
    return round(done / elapsed / 1e6, 2)


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def describe(seconds: float = 0.3) -> dict[str, Any]:
    """The machine: platform, CPUs, their model, Python, and :func:`python_mops`."""
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "python_mops": python_mops(seconds),
    }


# -- where the CPU went ----------------------------------------------------------------------

# The kinds of process a measurement on one machine tells apart. A served IMIAS is
# `imias serve` (the script or `python -m imias.cli serve`) and its workers, or a server
# given `imias.asgi` itself; `imias bench floor`'s server (loadtest.bench.floor_app) is a
# server too.
KINDS = ("server", "postgres", "redis", "caller", "other")
_SERVER = re.compile(r"\bimias(?:\.cli)?\s+serve\b|\bimias\.asgi\b|\bloadtest\.bench\.floor_app\b")


def process_kind(comm: str, cmdline: str, pid: int, caller: int) -> str:
    """Which of :data:`KINDS` a process is, by its name and command line; ``caller``
    is the measuring process itself."""
    if pid == caller:
        return "caller"
    if comm.startswith("postgres") or comm == "postmaster":
        return "postgres"
    if comm.startswith("redis-server"):
        return "redis"
    if _SERVER.search(cmdline):
        return "server"
    return "other"


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far: by each living process (threads included), keyed by
    its pid and start time (a pid can be used again), with its kind; and by the whole
    machine (``busy``, ``idle`` and ``steal``: time the hypervisor gave to other
    guests) from ``/proc/stat``."""

    processes: dict[tuple[int, int], tuple[str, float]]
    busy: float
    idle: float
    steal: float

    @property
    def by_kind(self) -> dict[str, float]:
        """CPU seconds so far of the living processes of each kind."""
        totals = dict.fromkeys(KINDS, 0.0)
        for kind, used in self.processes.values():
            totals[kind] += used
        return totals


def cpu_snapshot(proc: Path = Path("/proc"), caller: int | None = None) -> CpuSnapshot | None:
    """The CPU used so far on this machine, or None where there is no ``/proc``
    (not Linux)."""
    try:
        fields = (proc / "stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    # cpu  user nice system idle iowait irq softirq steal (guest time is inside user)
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    me = os.getpid() if caller is None else caller
    processes: dict[tuple[int, int], tuple[str, float]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile, or not ours to read
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        after = stat[stat.rindex(")") + 2 :].split()
        # after the name, from field 3 of stat(5) on: utime 14, stime 15, starttime 22
        used = (int(after[11]) + int(after[12])) / tick
        pid = int(entry.name)
        processes[(pid, int(after[19]))] = (process_kind(comm, cmdline, pid, me), used)
    return CpuSnapshot(
        processes=processes,
        busy=(user + nice + system + irq + softirq) / tick,
        idle=(idle + iowait) / tick,
        steal=steal / tick,
    )


def cpu_split(before: CpuSnapshot, after: CpuSnapshot, per: int) -> dict[str, Any]:
    """Between two snapshots: milliseconds of CPU of each kind for each of ``per``
    units of work (bookings, requests), and the machine's busy and stolen shares.

    A process living at both counts what it used in between; one started in between
    counts all it used; one that ended in between (a database connection closed, a
    tool's child) is not seen after, so what it used since the first is missing: the
    figures of the kinds are a lower bound, the machine's shares are exact."""
    spent = dict.fromkeys(KINDS, 0.0)
    for key, (kind, used) in after.processes.items():
        earlier = before.processes.get(key)
        spent[kind] += used - (earlier[1] if earlier is not None else 0.0)
    busy = after.busy - before.busy
    steal = after.steal - before.steal
    total = busy + steal + after.idle - before.idle
    return {
        "cpu_ms": {k: round(v * 1000 / per, 3) for k, v in spent.items()},
        "machine_busy": round(busy / total, 3) if total > 0 else None,
        "machine_steal": round(steal / total, 3) if total > 0 else None,
    }
