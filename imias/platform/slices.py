"""Long CPU work on the event loop, in slices that let requests through.

A city's schedules expanded, or its engine built, are seconds of pure Python. Run in a
thread (``asyncio.to_thread``) they still hold the GIL, and the event loop gives it up at
every socket call and waits up to the switch interval (5 ms) to have it back: a request
making ten calls waits up to 50 ms more for as long as the work lasts (on the full
city, `imias loadtest emias-day` had p99 1.6 s for ten seconds while the dashboard's
job expanded the schedules; 0.95 s with the expansion done here, the rest being the
garbage collector, :mod:`imias.platform.heap`). Done on the loop itself,
:meth:`Slices.pause` hands over every few milliseconds, and each request waits at most
one slice.
"""

from __future__ import annotations

import asyncio
import time

#: Work between two pauses, in seconds.
SLICE_SECONDS = 0.005


class Slices:
    """Call :meth:`pause` often in a long loop: it yields to the event loop once
    ``seconds`` of work have passed since the last time it did."""

    def __init__(self, seconds: float = SLICE_SECONDS) -> None:
        self.seconds = seconds
        self.pauses = 0
        self._since = time.perf_counter()

    async def pause(self) -> None:
        if time.perf_counter() - self._since >= self.seconds:
            await asyncio.sleep(0)
            self.pauses += 1
            self._since = time.perf_counter()
