"""Long work on the event loop pauses once its slice has passed, and only then."""

import asyncio
import time

from imias.platform.slices import Slices


async def _work_beside_a_ticker(slices: Slices, steps: int, step_seconds: float) -> int:
    ran = 0

    async def ticker() -> None:
        nonlocal ran
        while True:
            ran += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ran
    for _ in range(steps):
        end = time.perf_counter() + step_seconds
        while time.perf_counter() < end:  # a step of CPU work
            pass
        await slices.pause()
    other.cancel()
    return ran - before


async def test_work_pauses_once_its_slice_has_passed():
    slices = Slices(seconds=0.002)
    ran = await _work_beside_a_ticker(slices, steps=10, step_seconds=0.0025)
    assert slices.pauses == 10
    assert ran >= 10  # the other task ran at each pause


async def test_work_within_its_slice_does_not_pause():
    slices = Slices(seconds=60.0)
    ran = await _work_beside_a_ticker(slices, steps=10, step_seconds=0.0)
    assert slices.pauses == 0
    assert ran == 0  # nothing else ran while the work went on
