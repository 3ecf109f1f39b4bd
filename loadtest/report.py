"""The one report format of the measuring room: a workload's figures as one JSON line
on stdout (``workload`` first, then ``per_second``, ``p50_ms``, ``p99_ms``, ``ratio``
and counts where they apply), progress on stderr, and where this machine's CPU went
(:func:`cpu_per`). Every bench prints its lines with :func:`print_line`; ``imias
loadtest`` writes the same figures into its ``summary.json``."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from loadtest.machine import CpuSnapshot, cpu_split


def print_line(line: dict[str, Any]) -> None:
    """One workload's figures, one JSON line on stdout."""
    print(json.dumps(line, ensure_ascii=False), flush=True)


def progress(who: str, message: str) -> None:
    """A line of progress on stderr, e.g. ``[bench booking] 5.0s  bookings ok 120``."""
    print(f"[{who}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds to the microsecond (None stays None)."""
    return None if seconds is None else round(seconds * 1000, 3)


@dataclass
class Stat:
    """Latencies (seconds) of answered requests and the outcome counts of one step."""

    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    refused: int = 0
    failed: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def line(self, workload: str, seconds: float, **extra: Any) -> dict[str, Any]:
        answered = self.ok + self.refused
        return {
            "workload": workload,
            "per_second": round(answered / seconds, 1) if seconds > 0 else None,
            "p50_ms": ms(percentile(self.latencies, 50)),
            "p99_ms": ms(percentile(self.latencies, 99)),
            "count": answered + self.failed,
            "ok": self.ok,
            "refused": self.refused,
            "failed": self.failed,
            **({"refused_codes": dict(self.codes.most_common())} if self.codes else {}),
            **({"errors": dict(self.errors.most_common(5))} if self.errors else {}),
            **extra,
        }


def cpu_per(
    before: CpuSnapshot | None, after: CpuSnapshot | None, count: int, key: str
) -> dict[str, Any]:
    """Where the CPU of this machine went while it was measured, in milliseconds for
    each of ``count`` (bookings, requests) under ``key``: the served IMIAS, PostgreSQL,
    Redis, this bench and everything else (zero for a server on another machine), with
    the machine's busy and stolen shares; nothing where the system has no ``/proc``."""
    if before is None or after is None or not count:
        return {}
    split = cpu_split(before, after, count)
    cpu = split.pop("cpu_ms")
    cpu["bench"] = cpu.pop("caller")
    return {key: cpu, **split}
