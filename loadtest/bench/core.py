"""``imias bench core``: the engine against its reference.

Builds a city-sized calendar (21,500 doctors in 678 clinics over 30 specialties, 14
days of 5-minute units from 08:00 to 20:00, morning or evening shifts, 15-30 minute
slots, about 60% pre-booked with a seeded RNG) in the compiled engine, restores the
reference from its snapshot, and runs each workload on both in the same process. Prints
one JSON line per workload on stdout (``workload``, ``ratio`` = reference time / engine
time, and per-implementation figures); progress goes to stderr. ``--quick`` runs a
small city for CI. Timings are a benchmark, never a test assertion.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from loadtest.report import print_line, progress
from scheduler_core import compiled_calendar, reference
from scheduler_core import events as ev
from scheduler_core.flags import Channel, SlotFlag

START_DAY = date(2025, 3, 3).toordinal()  # a Monday
UNITS = 144  # 08:00-20:00 in 5-minute units
# (name, share of doctors, slot length in units); therapists and paediatricians dominate
SPECIALTIES = [
    ("therapist", 0.28, 3),
    ("paediatrician", 0.18, 3),
    ("surgeon", 0.045, 4),
    ("ophthalmologist", 0.04, 4),
    ("otolaryngologist", 0.035, 4),
    ("neurologist", 0.035, 4),
    ("cardiologist", 0.03, 6),
    ("gynaecologist", 0.04, 4),
    ("dentist", 0.04, 6),
    ("endocrinologist", 0.025, 6),
]
SPECIALTIES += [(f"specialist_{i}", 0.012, 6) for i in range(20)]


def log(message: str) -> None:
    progress("bench", message)


def build_city(cls: Any, doctors: int, clinics: int, seed: int) -> tuple[Any, dict[str, Any]]:
    rng = random.Random(seed)
    cal = cls(START_DAY, days=14, unit_minutes=5, day_begins=8 * 60, units_per_day=UNITS)
    weights = [w for _, w, _ in SPECIALTIES]
    info: dict[str, Any] = {"by_specialty": {}, "clinics": clinics}
    everyone = int(Channel.ANY)
    booked = slots = 0
    for doctor_id in range(1, doctors + 1):
        spec = rng.choices(range(len(SPECIALTIES)), weights)[0]
        clinic = rng.randrange(clinics) + 1
        cal.add_doctor(doctor_id, clinic, spec + 1)
        info["by_specialty"].setdefault(spec + 1, []).append(doctor_id)
        length = SPECIALTIES[spec][2]
        restrict = SlotFlag.REFERRAL if spec >= 6 else 0
        shift = rng.randrange(2)
        for offset in range(14):
            day = START_DAY + offset
            if offset % 7 == 6:  # Sundays closed
                continue
            first = (offset + shift) % 2 * 72  # alternate morning and evening shifts
            count = 72 // length
            web = count - 2
            cal.open(doctor_id, day, first, length, everyone | restrict, web)
            cal.open(
                doctor_id,
                day,
                first + web * length,
                length,
                SlotFlag.REGISTRAR | SlotFlag.PHONE | SlotFlag.URGENT,
                2,
            )
            slots += count
            for i in range(count):
                if rng.random() < 0.6:
                    cal.book(
                        doctor_id,
                        day,
                        first + i * length,
                        length,
                        channel=Channel.REGISTRAR,
                        entitled=96,
                    )
                    booked += 1
    info["slots"], info["booked"] = slots, booked
    return cal, info


def timed(fn: Callable[[int], object], reps: int) -> list[float]:
    """Per-call wall times in microseconds."""
    out = []
    clock = time.perf_counter_ns
    for i in range(reps):
        t0 = clock()
        fn(i)
        out.append((clock() - t0) / 1000)
    return out


def summary(prefix: str, samples: list[float]) -> dict[str, float | None]:
    samples = sorted(samples)
    med = statistics.median(samples)
    return {
        f"{prefix}_median_us": round(med, 3),
        f"{prefix}_p99_us": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
        f"{prefix}_ops_per_s": round(1e6 / med, 1) if med else None,
        f"{prefix}_reps": len(samples),
    }


def emit(workload: str, engine: list[float], ref: list[float], **extra: Any) -> None:
    line = {"workload": workload, **summary("engine", engine), **summary("reference", ref)}
    line["ratio"] = round(statistics.median(ref) / statistics.median(engine), 1)
    line.update(extra)
    print_line(line)


@dataclass
class City:
    """The city both implementations hold, and what the workloads share."""

    args: argparse.Namespace
    engine: Any
    reference: Any
    info: dict[str, Any]
    doctors: int
    clinics: int
    snapshot: bytes
    reference_restore_us: list[float]
    rng: random.Random
    web: int = int(Channel.WEB)
    # the allocation targets of allocation_calls, for apply_hold
    targets: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def quick(self) -> bool:
        return bool(self.args.quick)

    def specialty_near(self, referral: bool) -> tuple[int, list[int]]:
        """The specialty whose doctors number closest to a city's 850 (scaled), among
        those needing a referral on the web, or not."""
        candidates = [kv for kv in self.info["by_specialty"].items() if (kv[0] > 6) == referral]
        target = 850 * self.doctors / 21_500
        spec, members = min(candidates, key=lambda kv: abs(len(kv[1]) - target))
        return spec, members


def build(args: argparse.Namespace) -> City:
    doctors, clinics = (600, 20) if args.quick else (21_500, 678)
    Engine, Reference = compiled_calendar(), reference.Calendar
    log(f"building a city of {doctors} doctors in {clinics} clinics (engine)")
    t0 = time.perf_counter()
    eng, info = build_city(Engine, doctors, clinics, args.seed)
    log(
        f"built in {time.perf_counter() - t0:.1f}s: {info['slots']} slots, "
        f"{info['booked']} booked ({info['booked'] / info['slots']:.0%})"
    )
    snap = eng.snapshot()
    log("restoring the reference from the engine's snapshot")
    t0 = time.perf_counter()
    ref = Reference.restore(snap)
    ref_restore = [(time.perf_counter() - t0) * 1e6]
    assert ref.snapshot() == snap, "reference and engine disagree on the city"
    return City(
        args, eng, ref, info, doctors, clinics, snap, ref_restore, random.Random(args.seed + 1)
    )


def earliest_specialty(city: City) -> None:
    """Earliest k=10 over one specialty with a channel filter, from the start of a day
    and from mid-day (a patient asking at noon)."""
    spec, members = city.specialty_near(referral=False)
    web = city.web
    log(f"earliest k=10, specialty {spec} ({len(members)} doctors), channel web")

    def earliest_spec(cal: Any) -> Callable[[int], object]:
        return lambda i: cal.earliest(
            10, specialty_id=spec, channel=web, first_day=START_DAY + i % 7
        )

    assert earliest_spec(city.engine)(0) == earliest_spec(city.reference)(0)
    emit(
        "earliest_specialty",
        timed(earliest_spec(city.engine), 5_000),
        timed(earliest_spec(city.reference), 20 if city.quick else 5),
        doctors=len(members),
        days=14,
    )
    midday = city.engine.units_per_day // 2
    log(f"earliest k=10, specialty {spec}, channel web, from unit {midday} of the first day")

    def earliest_midday(cal: Any) -> Callable[[int], object]:
        return lambda i: cal.earliest(
            10, specialty_id=spec, channel=web, first_day=START_DAY + i % 7, first_unit=midday
        )

    assert earliest_midday(city.engine)(0) == earliest_midday(city.reference)(0)
    emit(
        "earliest_specialty_midday",
        timed(earliest_midday(city.engine), 5_000),
        timed(earliest_midday(city.reference), 20 if city.quick else 5),
        doctors=len(members),
        days=14,
    )


def earliest_none_match(city: City) -> None:
    """Earliest k=10 over one specialty when nothing matches (the worst case): a web
    patient without a referral, in a specialty whose web slots all need one (its other
    slots are phone/registrar urgent ones): every doctor-day has free slots, none the
    caller may take."""
    spec_ref, members_ref = city.specialty_near(referral=True)
    web = city.web
    log(
        f"earliest k=10, specialty {spec_ref} ({len(members_ref)} doctors), channel web, "
        "no referral: nothing matches"
    )

    def earliest_none(cal: Any) -> Callable[[int], object]:
        return lambda i: cal.earliest(
            10, specialty_id=spec_ref, channel=web, entitled=0, first_day=START_DAY + i % 7
        )

    assert earliest_none(city.engine)(0) == earliest_none(city.reference)(0) == []
    emit(
        "earliest_none_match",
        timed(earliest_none(city.engine), 5_000),
        timed(earliest_none(city.reference), 5 if city.quick else 2),
        doctors=len(members_ref),
        days=14,
    )


def earliest_city(city: City) -> None:
    """Earliest k=10 over the whole city."""
    log("earliest k=10, whole city")
    web = city.web

    def earliest_all(cal: Any) -> Callable[[int], object]:
        return lambda i: cal.earliest(10, channel=web, first_day=START_DAY + i % 7)

    assert earliest_all(city.engine)(3) == earliest_all(city.reference)(3)
    emit(
        "earliest_city",
        timed(earliest_all(city.engine), 1_000),
        timed(earliest_all(city.reference), 10 if city.quick else 2),
        doctors=city.doctors,
        days=14,
    )


def count_free_clinic(city: City) -> None:
    """count_free for one clinic, 14 days."""
    log("count_free, one clinic, 14 days")
    web, clinics = city.web, city.clinics

    def count(cal: Any) -> Callable[[int], object]:
        return lambda i: cal.count_free(clinic_id=1 + i % clinics, channel=web, entitled=0)

    assert count(city.engine)(5) == count(city.reference)(5)
    emit(
        "count_free_clinic",
        timed(count(city.engine), 5_000),
        timed(count(city.reference), 20),
        doctors_per_clinic=round(city.doctors / clinics),
    )


def snapshot_and_restore(city: City) -> None:
    """Snapshot and restore of the whole city."""
    log("snapshot and restore")
    eng, ref, snap = city.engine, city.reference, city.engine.snapshot()
    emit(
        "snapshot",
        timed(lambda i: eng.snapshot(), 10),
        timed(lambda i: ref.snapshot(), 1),
        bytes=len(snap),
    )
    engine_class = type(eng)
    emit(
        "restore",
        timed(lambda i: engine_class.restore(snap), 10),
        city.reference_restore_us,
        bytes=len(snap),
    )


def find_hold_confirm(city: City) -> None:
    """Single-doctor find + hold + confirm: one request, three facade calls."""
    log("find + hold + confirm")
    rng, web, doctors = city.rng, city.web, city.doctors
    scale = 0.05 if city.quick else 1.0

    def request(cal: Any, tag: str) -> Callable[[int], object]:
        def run(i: int) -> object:
            doctor = rng.randrange(doctors) + 1
            slot = cal.find(doctor, START_DAY + rng.randrange(14), channel=web, now=1000.0)
            if slot is not None:
                token = f"{tag}{i}"
                cal.hold(
                    slot.doctor_id, slot.day, slot.start, slot.length, token, 1300.0, channel=web
                )
                cal.confirm(slot.doctor_id, slot.day, slot.start, token)
            return slot

        return run

    emit(
        "find_hold_confirm",
        timed(request(city.engine, "e"), int(20_000 * max(scale, 0.1))),
        timed(request(city.reference, "r"), int(2_000 * max(scale, 0.1))),
    )


def allocation_calls(city: City) -> None:
    """One allocation call (book, hold): the pure call cost through the facade.

    Targets: random doctors and days over the whole city, each the first free web slot
    from there (what a patient asking for "the earliest" gets), all distinct (booked on
    a probe copy as they are picked). The engine's calls run in a plain Python loop over
    a list of argument tuples, timed per pass (a per-call clock read would cost more
    than the call); the figure therefore includes the loop, and the loop's own cost is
    printed beside it: ``loop_us`` (iterating and unpacking only) and
    ``loop_empty_call_us`` (the same loop calling a no-op Python function with the same
    arguments)."""
    log("single allocation calls")
    Engine, eng, ref = type(city.engine), city.engine, city.reference
    rng, web, doctors = city.rng, city.web, city.doctors
    targets = city.targets
    probe = Engine.restore(eng.snapshot())
    for _ in range(5_000 if city.quick else 100_000):
        slot = probe.find(rng.randrange(doctors) + 1, START_DAY + rng.randrange(14), channel=web)
        if slot is not None:
            probe.book(*_args(slot), channel=web)
            targets.append(_args(slot))
    del probe
    tokens = [f"call{i}" for i in range(len(targets))]
    base = eng.snapshot()
    loop, empty = _loop_cost(targets, web)

    per_call = []
    for _ in range(5):
        book = Engine.restore(base).book
        gc.collect()
        t0 = time.perf_counter_ns()
        for d, day, s, n in targets:
            book(d, day, s, n, channel=web)
        per_call.append((time.perf_counter_ns() - t0) / len(targets) / 1000)
    ref_call = []
    for _ in range(500 if city.quick else 2_000):
        slot = ref.find(rng.randrange(doctors) + 1, START_DAY + rng.randrange(14), channel=web)
        if slot is not None:
            t0 = time.perf_counter_ns()
            ref.book(*_args(slot), channel=web)
            ref_call.append((time.perf_counter_ns() - t0) / 1000)
    emit(
        "book_call",
        per_call,
        ref_call,
        calls=len(targets),
        loop_us=loop,
        loop_empty_call_us=empty,
        note="engine: Calendar.book(doctor, day, start, length, channel=WEB) on distinct "
        "random free slots of the city, in a Python loop, loop included, median of 5 "
        "passes; reference: each call timed alone",
    )

    per_call = []
    for _ in range(5):
        hold = Engine.restore(base).hold
        gc.collect()
        t0 = time.perf_counter_ns()
        for (d, day, s, n), token in zip(targets, tokens, strict=True):
            hold(d, day, s, n, token, 1e9, channel=web)
        per_call.append((time.perf_counter_ns() - t0) / len(targets) / 1000)
    ref_call = []
    for i in range(500 if city.quick else 2_000):
        slot = ref.find(rng.randrange(doctors) + 1, START_DAY + rng.randrange(14), channel=web)
        if slot is not None:
            t0 = time.perf_counter_ns()
            ref.hold(*_args(slot), f"ref{i}", 1e9, channel=web)
            ref_call.append((time.perf_counter_ns() - t0) / 1000)
    emit(
        "hold_call",
        per_call,
        ref_call,
        calls=len(targets),
        loop_us=loop,
        loop_empty_call_us=empty,
        note="engine: Calendar.hold(doctor, day, start, length, token, expires_at, "
        "channel=WEB) on the book_call targets with distinct tokens, in a Python loop, "
        "loop included, median of 5 passes; reference: each call timed alone",
    )


def apply_hold(city: City) -> None:
    """A replica applying holds while thousands are live. Every worker applies every
    hold of the city from the event stream; a hold's units may be held under an older
    token the database has let go (the replica drops it), so each unit is asked for its
    holder. At a peak thousands of holds are live."""
    Engine, Reference = type(city.engine), type(city.reference)
    targets, web = city.targets, city.web
    tokens = [f"call{i}" for i in range(len(targets))]
    live = 5_000 if len(targets) > 10_000 else len(targets) // 2
    log(f"a replica applying holds with {live} holds live")
    with_holds = Engine.restore(city.engine.snapshot())
    for (d, day, s, n), token in zip(targets[:live], tokens, strict=False):
        with_holds.hold(d, day, s, n, token, 1e9, channel=web)
    held_snap = with_holds.snapshot()
    events = [
        ev.SlotHeld(f"apply{i}", d, day, s, n, 1e9)
        for i, (d, day, s, n) in enumerate(targets[live : live + 2_000])
    ]

    def applying(cal: Any) -> Callable[[int], object]:
        return lambda i: cal.apply(events[i % len(events)])

    ref_held = Reference.restore(held_snap)
    probe_cal = Engine.restore(held_snap)
    assert probe_cal.apply(events[0]) is True and len(probe_cal.holds()) == live + 1
    del probe_cal
    emit(
        "apply_hold",
        timed(applying(Engine.restore(held_snap)), len(events)),
        timed(applying(ref_held), min(len(events), 200)),
        live_holds=live,
        note="Calendar.apply(SlotHeld) of a replica, each on a free slot, with live_holds "
        "other holds live",
    )


def memory(city: City) -> None:
    """Memory of the city calendar (tracemalloc over a restore)."""
    log("memory (tracemalloc over a restore)")
    Engine, Reference = type(city.engine), type(city.reference)
    snap = city.snapshot
    city.reference = None  # the reference's city no longer counts in what is traced
    gc.collect()
    sizes = {}
    for name, cls in (("engine", Engine), ("reference", Reference)):
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        cal = cls.restore(snap)
        sizes[name] = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        del cal
        gc.collect()
    print_line(
        {
            "workload": "memory",
            "engine_bytes": sizes["engine"],
            "reference_bytes": sizes["reference"],
            "snapshot_bytes": len(snap),
            "engine_mb": round(sizes["engine"] / 2**20, 1),
            "ratio": round(sizes["reference"] / sizes["engine"], 1),
        }
    )


#: The workloads, in the order they run and print.
WORKLOADS: tuple[Callable[[City], None], ...] = (
    earliest_specialty,
    earliest_none_match,
    earliest_city,
    count_free_clinic,
    snapshot_and_restore,
    find_hold_confirm,
    allocation_calls,
    apply_hold,
    memory,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imias bench core", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small city, for CI")
    parser.add_argument("--seed", type=int, default=20250303)
    args = parser.parse_args(argv)
    city = build(args)
    for workload in WORKLOADS:
        workload(city)
    log("done")
    return 0


def _noop(
    doctor_id: int,
    day: int,
    start: int,
    length: int,
    *,
    channel: int,
    entitled: int = 0,
    now: float | None = None,
) -> None:
    return None


def _loop_cost(targets: list[tuple[int, int, int, int]], web: int) -> tuple[float, float]:
    """Per-iteration microseconds (median of 5) of the allocation loop without the engine:
    iterating and unpacking only, and calling a no-op Python function instead."""
    bare, empty = [], []
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _d, _day, _s, _n in targets:
            pass
        bare.append((time.perf_counter_ns() - t0) / len(targets) / 1000)
        call = _noop
        t0 = time.perf_counter_ns()
        for d, day, s, n in targets:
            call(d, day, s, n, channel=web)
        empty.append((time.perf_counter_ns() - t0) / len(targets) / 1000)
    return round(statistics.median(bare), 4), round(statistics.median(empty), 4)


def _args(slot: Any) -> tuple[int, int, int, int]:
    return slot.doctor_id, slot.day, slot.start, slot.length


if __name__ == "__main__":
    raise SystemExit(main())
