"""The worker's heap and Python's cyclic garbage collector.

A worker holds a city: the directory, the engine's indexes, caches; millions of objects
that live as long as the worker. The collector's full pass walks all of them, and it
comes when enough objects have outlived two younger passes, which is what a job that
reads a city's schedules makes (they live the seconds of the job): on the full city that
pass stopped the worker for 105-150 ms every 40 s, and four passes ran back to back
while the dashboard's job read the schedules (emias-day's bursts, #23). :func:`settle`
moves what is alive after a load into the collector's permanent generation
(``gc.freeze``), so later full passes walk only what came after; :func:`watch` logs
every pass that takes longer than a threshold, so a stall of this kind shows in the log
with its cause.

Frozen objects are still freed by reference counting; only garbage in a reference cycle
among them is kept until the worker ends (an engine replaced at midnight goes when its
last reference does, unless something in it refers back to itself).
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

log = logging.getLogger("imias.heap")

#: A collector pass that takes longer than this is logged (seconds).
SLOW_PASS_SECONDS = 0.05

_started: list[float] = []
_watching = False


def settle() -> int:
    """Freeze what is alive now (after a load); how many objects were frozen."""
    gc.collect(1)  # the load's short-lived garbage goes first
    gc.freeze()
    return gc.get_freeze_count()


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
        return
    if not _started:
        return
    took = time.perf_counter() - _started.pop()
    if took >= SLOW_PASS_SECONDS:
        log.warning(
            "garbage collector: generation %d took %.0f ms",
            info.get("generation", -1),
            took * 1000,
            extra={"gc_generation": info.get("generation"), "gc_ms": round(took * 1000, 1)},
        )


def watch() -> None:
    """Log each collector pass slower than :data:`SLOW_PASS_SECONDS` (once a process)."""
    global _watching
    if not _watching:
        gc.callbacks.append(_timed)
        _watching = True
