"""The machine's description and its speed figure (imias.platform.machine)."""

import os

from imias.platform import machine


def test_the_speed_is_the_loop_iterations_per_second_of_the_time_measured(monkeypatch):
    ticks = iter([100.0, 100.25, 100.5])  # a clock: each look a quarter of a second later
    monkeypatch.setattr(machine.time, "perf_counter", lambda: next(ticks))
    # two chunks run before half a second has passed: 2 chunks in 0.5 s
    assert machine.python_mops(0.5) == round(2 * machine._CHUNK / 0.5 / 1e6, 2)


def test_the_loop_does_its_work():
    assert machine._spin(4) == (0 + 1 + 4 + 9 % 7)


def test_a_description_names_the_machine_and_its_speed():
    described = machine.describe(seconds=0.05)
    assert described["cpus"] == os.cpu_count()
    assert described["python"].count(".") == 2
    assert described["python_mops"] > 0
    assert set(described) == {"platform", "cpus", "cpu_model", "python", "python_mops"}
