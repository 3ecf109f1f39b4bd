"""The machine's description and its speed figure (loadtest.machine)."""

import os
import time

from loadtest import machine


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


def _process(proc, pid, comm, cmdline, utime, stime, start=0):
    folder = proc / str(pid)
    folder.mkdir()
    # stat(5): pid (comm) state ppid ... utime is field 14, stime 15 (clock ticks) and
    # starttime 22
    rest = ["S", "1"] + ["0"] * 9 + [str(utime), str(stime)] + ["0"] * 6 + [str(start)]
    rest += ["0"] * 20
    (folder / "stat").write_text(f"{pid} ({comm}) " + " ".join(rest))
    (folder / "cmdline").write_bytes(b"\0".join(part.encode() for part in cmdline) + b"\0")


def _fake_proc(tmp_path, ticks):
    """A /proc of one moment: the machine line and five processes, CPU in ticks."""
    proc = tmp_path / "proc"
    proc.mkdir(parents=True)
    user, system, idle, steal = ticks["machine"]
    (proc / "stat").write_text(
        f"cpu  {user} 0 {system} {idle} 0 0 0 {steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
    )
    _process(proc, 10, "imias", [".venv/bin/python", ".venv/bin/imias", "serve"], *ticks[10])
    _process(proc, 11, "python", ["python", "-m", "imias.cli", "serve", "--port", "1"], *ticks[11])
    _process(proc, 20, "postgres", ["postgres: 15/main: postgres imias [local] idle"], *ticks[20])
    _process(proc, 30, "redis-server", ["redis-server", "127.0.0.1:6379"], *ticks[30])
    _process(proc, 40, "bench (a) b", ["python", "bench.py"], *ticks[40])  # ')' in a name
    _process(proc, 50, "imias", ["python", "-m", "imias.cli", "seed"], *ticks[50])  # not serving
    (proc / "self").mkdir()  # not a process number: skipped
    return proc


def test_cpu_is_counted_by_kind_of_process_and_split_per_unit_of_work(tmp_path):
    tick = os.sysconf("SC_CLK_TCK")
    first = {
        "machine": (1000, 500, 3000, 0),
        **{pid: (0, 0) for pid in (10, 11, 20, 30, 40, 50)},
    }
    before = machine.cpu_snapshot(_fake_proc(tmp_path / "a", first), caller=40)
    later = {
        "machine": (1000 + 3 * tick, 500 + tick, 3000 + tick // 2, tick // 2),
        10: (tick, 0),  # the supervisor and a worker are both the server
        11: (tick, tick),
        20: (tick // 2, tick // 2),
        30: (0, 0),
        40: (tick // 2, 0),
        50: (tick // 4, 0),
    }
    after = machine.cpu_snapshot(_fake_proc(tmp_path / "b", later), caller=40)
    assert before is not None and after is not None
    assert after.by_kind == {
        "server": 3.0,
        "postgres": 1.0,
        "redis": 0.0,
        "caller": 0.5,
        "other": 0.25,
    }
    split = machine.cpu_split(before, after, per=10)  # ten bookings: milliseconds each
    assert split["cpu_ms"] == {
        "server": 300.0,
        "postgres": 100.0,
        "redis": 0.0,
        "caller": 50.0,
        "other": 25.0,
    }
    # the machine: 4 s busy, 0.5 s idle, 0.5 s given to other guests
    assert split["machine_busy"] == 0.8 and split["machine_steal"] == 0.1


def test_processes_that_ended_started_or_came_back_under_a_used_pid(tmp_path):
    tick = os.sysconf("SC_CLK_TCK")

    def moment(name, processes):
        proc = tmp_path / name / "proc"
        proc.mkdir(parents=True)
        (proc / "stat").write_text("cpu  0 0 0 0 0 0 0 0 0 0\n")
        for pid, used, start in processes:
            _process(proc, pid, "postgres", ["postgres: backend"], used, 0, start)
        return machine.cpu_snapshot(proc)

    # 20 lives on (1 s more); 21 ends (its 5 s leave with it and take nothing away);
    # 22 starts (all its 2 s are new); 23 ends and its pid comes back for a new process
    before = moment("a", [(20, tick, 7), (21, 5 * tick, 7), (23, 9 * tick, 7)])
    after = moment("b", [(20, 2 * tick, 7), (22, 2 * tick, 50), (23, tick, 60)])
    split = machine.cpu_split(before, after, per=1)
    assert split["cpu_ms"]["postgres"] == (1 + 2 + 1) * 1000.0
    assert split["machine_busy"] is None  # the machine's line did not move


def test_a_process_that_ended_or_a_machine_without_proc_is_not_an_error(tmp_path):
    assert machine.cpu_snapshot(tmp_path / "nowhere") is None
    ticks = {"machine": (1, 1, 1, 0), **{pid: (0, 0) for pid in (10, 11, 20, 30, 40, 50)}}
    proc = _fake_proc(tmp_path, ticks)
    (proc / "20" / "stat").unlink()  # gone between listing and reading
    snapshot = machine.cpu_snapshot(proc)
    assert snapshot is not None and snapshot.by_kind["postgres"] == 0.0


def test_the_kinds_of_process():
    kind = machine.process_kind
    assert kind("imias", "/srv/.venv/bin/python /srv/.venv/bin/imias serve --workers 2", 5, 1) == (
        "server"
    )
    assert kind("granian", "granian --interface asgi --factory imias.asgi:app", 5, 1) == "server"
    floor = "python -m granian --interface asgi --workers 2 loadtest.bench.floor_app:app"
    assert kind("python", floor, 5, 1) == "server"
    assert kind("imias", "python -m imias.cli bench floor", 5, 1) == "other"
    assert kind("imias", "python -m imias.cli bench booking", 5, 1) == "other"
    assert kind("imias", "python -m imias.cli bench booking", 5, 5) == "caller"
    assert kind("postgres", "postgres: walwriter", 5, 1) == "postgres"
    assert kind("redis-server", "redis-server *:6379", 5, 1) == "redis"
    assert kind("python", "python -m pytest imias_serve_tests", 5, 1) == "other"


def test_this_process_is_seen_using_the_cpu_it_uses():
    before = machine.cpu_snapshot()
    assert before is not None  # the suite runs on Linux
    began = time.process_time()
    while time.process_time() - began < 0.2:
        machine._spin(10_000)
    after = machine.cpu_snapshot()
    assert after is not None
    used = after.by_kind["caller"] - before.by_kind["caller"]
    assert used >= 0.1  # ticks are coarse (10 ms), the loop took 0.2 s of this process
    assert after.busy > before.busy
