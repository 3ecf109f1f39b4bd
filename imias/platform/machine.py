"""What a measurement ran on, with one figure of its speed, so that figures taken on
different machines (a CI runner, a laptop, a busy virtual machine) can be told apart
from changes of the code: load reports and benchmarks carry it beside their results."""

from __future__ import annotations

import os
import platform
import time
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
