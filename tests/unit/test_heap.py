"""The worker's heap: what a load leaves alive is frozen out of the collector's passes,
and a slow pass of the collector is logged."""

import gc
import logging

import pytest

from imias.platform import heap


def test_settle_freezes_what_is_alive_and_a_later_pass_walks_only_what_came_after():
    held = [[i] for i in range(50_000)]  # a city's worth of small objects, say
    try:
        frozen = heap.settle()
        assert frozen >= len(held)
        walked = {id(o) for o in gc.get_objects(2)}  # what a full pass walks
        assert not any(id(x) in walked for x in held)
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def test_a_slow_pass_of_the_collector_is_logged(monkeypatch, caplog):
    heap.watch()
    heap.watch()  # once a process: a second call adds nothing
    assert gc.callbacks.count(heap._timed) == 1
    monkeypatch.setattr(heap, "SLOW_PASS_SECONDS", 0.0)
    with caplog.at_level(logging.WARNING, logger="imias.heap"):
        gc.collect(2)
    slow = [r for r in caplog.records if r.name == "imias.heap"]
    assert slow and "generation 2 took" in slow[0].getMessage()


@pytest.fixture(autouse=True)
def _no_watch_left():
    yield
    if heap._timed in gc.callbacks:
        gc.callbacks.remove(heap._timed)
        heap._watching = False
