"""Differential state machine: the reference and the Cython engine driven in lock-step.

Small calendars (three doctors, 1-4 days, 4-16 units a day) so that day edges, slot
edges and window shifts are hit all the time. After every step the two engines must
agree byte for byte (their snapshots are canonical), and the invariants of the issue
must hold: no unit in two appointments, a booked unit stays booked until released, an
expired hold never blocks, ``earliest`` and ``count_free`` agree with a brute-force scan.
"""

from __future__ import annotations

from hypothesis import event, note
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from scheduler_core import FREE, HELD, Refused, SchedulerError, Slot, compiled_calendar, events
from scheduler_core.reference import Calendar as Reference

Engine = compiled_calendar()

DOCTORS = {5: (1, 10), 7: (2, 10), 2: (1, 20)}  # id -> (clinic, specialty); 2 sorts first
DOCTOR_IDS = st.sampled_from([5, 7, 2] * 4 + [99])  # 99 is unknown
UNITS = st.sampled_from([0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 10, -1, 12])
TOKENS = st.sampled_from(["a", "b", "c", "d"])
CHANNELS = st.sampled_from([1, 2, 4, 16, 3, 31, 8])  # 8 (kiosk): only 31-flag slots allow it
ENTITLED = st.sampled_from([0, 0, 32, 64, 96])
FLAGS = st.sampled_from([1, 3, 31, 1 | 32, 2 | 64, 31 | 96, 16])
LENGTHS = st.sampled_from([1, 1, 2, 2, 3, 3, 4, 6, 0, -1])
ADVANCE = st.sampled_from([None, None, None, 0, 1, 2, 5, 10, 30])
OFFSETS = st.sampled_from([0, 0, 1, 1, 2, 3, -1, 4])
# a query's first unit on its first day: often 0, any unit, the day's end (8..12 units a
# day, so 8..12 is sometimes units_per_day), and out of range
FIRST_UNITS = st.one_of(st.just(0), st.integers(0, 12), st.sampled_from([-1, 13]))


def outcome(call):
    try:
        return ("ok", call())
    except Refused as exc:
        return ("refused", exc.reason)
    except SchedulerError as exc:
        return ("error", type(exc).__name__)


def brute_candidates(cal, doctor_id, day, length, channel, entitled, first_unit=0):
    """Every (start, length) the caller could take on a doctor-day from unit ``first_unit``,
    from the public views."""
    flags, states = cal.day_flags(doctor_id, day), cal.day_states(doctor_id, day)
    units = cal.units_per_day
    out = []
    for s in range(first_unit, units):
        if not flags[s] & 0x80 or states[s] != FREE:
            continue
        n = length
        if n is None:
            n = 1
            while s + n < units and flags[s + n] and not flags[s + n] & 0x80:
                n += 1
        end = s + n
        if end > units or (end < units and flags[end] and not flags[end] & 0x80):
            continue
        span = range(s, end)
        if all(
            flags[u]
            and flags[u] & channel
            and not (flags[u] & 0x60 & ~entitled)
            and states[u] == FREE
            for u in span
        ):
            out.append((s, n))
    return out


class Differential(RuleBasedStateMachine):
    @initialize(
        days=st.sampled_from([1, 2, 3, 3, 4, 4]),
        units=st.integers(min_value=8, max_value=12),
        start_day=st.integers(min_value=730_000, max_value=730_010),
        layout=st.lists(
            st.tuples(
                st.sampled_from(sorted(DOCTORS)),
                st.integers(0, 3),
                st.integers(0, 15),
                st.integers(1, 4),
                FLAGS,
                st.integers(1, 5),
            ),
            min_size=4,
            max_size=14,
        ),
        taken=st.lists(
            st.tuples(
                st.sampled_from(sorted(DOCTORS)),
                st.integers(0, 3),
                st.integers(0, 5),
                st.sampled_from([None, "a", "b", "c"]),
            ),
            max_size=5,
        ),
    )
    def setup(self, days, units, start_day, layout, taken):
        self.ref = Reference(
            start_day, days=days, unit_minutes=15, day_begins=480, units_per_day=units
        )
        self.eng = Engine(
            start_day, days=days, unit_minutes=15, day_begins=480, units_per_day=units
        )
        for doctor_id, (clinic, specialty) in DOCTORS.items():
            self.both("add_doctor", doctor_id, clinic, specialty)
        for doctor_id, offset, start, length, flags, count in layout:
            self.both("open", doctor_id, start_day + offset, start, length, flags, count)
        for doctor_id, offset, nth, token in taken:  # some holds and bookings to start with
            flags = self.ref.day_flags(doctor_id, start_day + offset) if offset < days else b""
            starts = [u for u, f in enumerate(flags) if f & 0x80]
            if starts:
                s = starts[nth % len(starts)]
                n = (
                    next((u for u in range(s + 1, units) if flags[u] & 0x80 or not flags[u]), units)
                    - s
                )
                args = (doctor_id, start_day + offset, s, n)
                if token is None:
                    self.both("book", *args, channel=31, entitled=96)
                else:
                    self.both("hold", *args, token, 5.0 + 10 * nth, channel=31, entitled=96)
        self.now = 0.0
        self.appts = set()
        self.may_drop = set()

    # -- helpers -----------------------------------------------------------------------
    def both(self, method, *args, **kwargs):
        a = outcome(lambda: getattr(self.ref, method)(*args, **kwargs))
        b = outcome(lambda: getattr(self.eng, method)(*args, **kwargs))
        note(f"{method}{args}{kwargs} -> {a}")
        event(f"{method} -> {a[0]}" + (f" {a[1]}" if a[0] != "ok" else ""))
        assert a == b, f"{method}{args}{kwargs}: reference {a} != cython {b}"
        return a

    def day(self, offset):
        return self.ref.start_day + offset

    def clock(self, advance):
        if advance is None:
            return None
        self.now += advance
        return self.now

    def appointments(self):
        return {
            (d, day, s, n)
            for d in DOCTORS
            for day in range(self.ref.start_day, self.ref.last_day + 1)
            for s, n in self.ref.appointments(d, day)
        }

    # -- building ----------------------------------------------------------------------
    @rule(
        doctor=DOCTOR_IDS,
        offset=OFFSETS,
        start=UNITS,
        length=LENGTHS,
        flags=FLAGS,
        count=st.sampled_from([1, 1, 2, 3, 0]),
    )
    def open(self, doctor, offset, start, length, flags, count):
        self.both("open", doctor, self.day(offset), start, length, flags, count)

    @rule(doctor=DOCTOR_IDS, offset=OFFSETS, start=UNITS, length=LENGTHS, advance=ADVANCE)
    def close(self, doctor, offset, start, length, advance):
        self.both("close", doctor, self.day(offset), start, length, now=self.clock(advance))

    @rule(days=st.integers(0, 2))
    def shift_window(self, days):
        self.may_drop |= {a for a in self.appts if a[1] < self.ref.start_day + days}
        self.both("shift_window", days)

    # -- allocation --------------------------------------------------------------------
    @rule(
        doctor=DOCTOR_IDS,
        offset=OFFSETS,
        start=UNITS,
        length=LENGTHS,
        token=TOKENS,
        ttl=st.integers(-2, 30),
        channel=CHANNELS,
        entitled=ENTITLED,
        advance=ADVANCE,
    )
    def hold(self, doctor, offset, start, length, token, ttl, channel, entitled, advance):
        now = self.clock(advance)
        self.both(
            "hold",
            doctor,
            self.day(offset),
            start,
            length,
            token,
            self.now + ttl,
            channel=channel,
            entitled=entitled,
            now=now,
        )

    @rule(
        doctor=DOCTOR_IDS,
        offset=OFFSETS,
        start=UNITS,
        length=LENGTHS,
        channel=CHANNELS,
        entitled=ENTITLED,
        advance=ADVANCE,
    )
    def book(self, doctor, offset, start, length, channel, entitled, advance):
        self.both(
            "book",
            doctor,
            self.day(offset),
            start,
            length,
            channel=channel,
            entitled=entitled,
            now=self.clock(advance),
        )

    @rule(
        specialty=st.sampled_from([10, 20]),
        length=st.sampled_from([None, None, 2, 3]),
        channel=CHANNELS,
        entitled=ENTITLED,
        token=TOKENS,
        ttl=st.integers(1, 30),
        pick=st.integers(0, 3),
        advance=ADVANCE,
        book=st.booleans(),
        first_unit=FIRST_UNITS,
    )
    def take_earliest(
        self, specialty, length, channel, entitled, token, ttl, pick, advance, book, first_unit
    ):
        """Find a slot and take it: the path that must succeed."""
        now = self.clock(advance)
        kind, found = self.both(
            "earliest",
            4,
            specialty_id=specialty,
            length=length,
            channel=channel,
            entitled=entitled,
            now=now,
            first_unit=first_unit,
        )
        if kind != "ok" or not found:
            return
        slot = found[pick % len(found)]
        if book:
            result = self.both(
                "book",
                slot.doctor_id,
                slot.day,
                slot.start,
                slot.length,
                channel=channel,
                entitled=entitled,
            )
        else:
            result = self.both(
                "hold",
                slot.doctor_id,
                slot.day,
                slot.start,
                slot.length,
                token,
                self.now + ttl,
                channel=channel,
                entitled=entitled,
            )
            if result == ("error", "DuplicateHold"):
                return
        assert result == ("ok", None), f"earliest offered {slot} but taking it gave {result}"

    @rule(
        data=st.data(),
        token=TOKENS,
        ttl=st.integers(-1, 30),
        channel=st.sampled_from([31, 31, 31, 1, 2, 16]),
        entitled=st.sampled_from([96, 96, 0, 32, 64]),
        advance=ADVANCE,
        double=st.booleans(),
        book=st.booleans(),
    )
    def take_open_slot(self, data, token, ttl, channel, entitled, advance, double, book):
        """Hold or book one (or two) opened slots: reaches every refusal of allocation."""
        doctor = data.draw(st.sampled_from(sorted(DOCTORS)))
        day = data.draw(st.integers(self.ref.start_day, self.ref.last_day))
        flags = self.ref.day_flags(doctor, day)
        starts = [u for u, f in enumerate(flags) if f & 0x80]
        if not starts:
            return
        start = data.draw(st.sampled_from(starts))
        ends = [u for u in starts if u > start] + [u for u, f in enumerate(flags) if not f]
        ends = sorted(e for e in ends if e > start) + [len(flags)]
        length = ends[min(int(double), len(ends) - 1)] - start
        now = self.clock(advance)
        if book:
            self.both(
                "book", doctor, day, start, length, channel=channel, entitled=entitled, now=now
            )
        else:
            self.both(
                "hold",
                doctor,
                day,
                start,
                length,
                token,
                self.now + ttl,
                channel=channel,
                entitled=entitled,
                now=now,
            )

    @rule(data=st.data(), advance=ADVANCE)
    def release_appointment(self, data, advance):
        if not self.appts:
            return
        doctor, day, start, length = data.draw(st.sampled_from(sorted(self.appts)))
        self.may_drop.add((doctor, day, start, length))
        result = self.both("release", doctor, day, start, now=self.clock(advance))
        assert result == ("ok", length)

    @rule(doctor=DOCTOR_IDS, offset=OFFSETS, start=UNITS, token=TOKENS, advance=ADVANCE)
    def confirm(self, doctor, offset, start, token, advance):
        self.both("confirm", doctor, self.day(offset), start, token, now=self.clock(advance))

    @rule(
        data=st.data(),
        action=st.sampled_from(["confirm", "confirm", "release", "elsewhere"]),
        advance=ADVANCE,
    )
    def settle_hold(self, data, action, advance):
        """Confirm or release a live hold (or confirm it on the wrong slot)."""
        holds = self.ref.holds()
        if not holds:
            return
        hold = data.draw(st.sampled_from(holds))
        now = self.clock(advance)
        live = now is None or hold.expires_at > now
        if action == "confirm":
            result = self.both("confirm", hold.doctor_id, hold.day, hold.start, hold.token, now=now)
            assert result == (("ok", hold.length) if live else ("refused", "hold_expired"))
        elif action == "release":
            result = self.both("release_hold", hold.token, now=now)
            assert result == (("ok", hold) if live else ("refused", "hold_expired"))
        else:
            result = self.both(
                "confirm", hold.doctor_id, hold.day, hold.start + 1, hold.token, now=now
            )
            assert result[0] in ("refused", "error")

    @rule(doctor=DOCTOR_IDS, offset=OFFSETS, start=UNITS, advance=ADVANCE)
    def release(self, doctor, offset, start, advance):
        self.may_drop |= {a for a in self.appts if a[:3] == (doctor, self.day(offset), start)}
        self.both("release", doctor, self.day(offset), start, now=self.clock(advance))

    @rule(token=TOKENS, advance=ADVANCE)
    def release_hold(self, token, advance):
        self.both("release_hold", token, now=self.clock(advance))

    @rule(advance=st.integers(0, 30))
    def expire(self, advance):
        self.both("expire", self.clock(advance))

    # -- queries -----------------------------------------------------------------------
    @rule(
        doctor=DOCTOR_IDS,
        offset=st.integers(-2, 5),
        start=UNITS,
        length=st.sampled_from([None, None, 0, 1, 2, 3, 5]),
        channel=CHANNELS,
        entitled=ENTITLED,
        advance=ADVANCE,
    )
    def find(self, doctor, offset, start, length, channel, entitled, advance):
        day = self.day(offset)
        kind, got = self.both(
            "find",
            doctor,
            day,
            start,
            length,
            channel=channel,
            entitled=entitled,
            now=self.clock(advance),
        )
        if kind != "ok":
            return
        expected = None
        for d in range(max(day, self.ref.start_day), self.ref.last_day + 1):
            for s, n in brute_candidates(self.ref, doctor, d, length, channel, entitled):
                if d > day or s >= start:
                    expected = Slot(d, s, doctor, n)
                    break
            if expected:
                break
        assert got == expected

    @rule(
        k=st.integers(0, 6),
        specialty=st.sampled_from([None, 10, 20, 30]),
        clinics=st.sampled_from([None, [1], [2], [1, 2], [], [3]]),
        first=st.one_of(st.none(), st.integers(-1, 4)),
        last=st.one_of(st.none(), st.integers(-1, 4)),
        length=st.sampled_from([None, None, 1, 2, 3, 4]),
        channel=CHANNELS,
        entitled=ENTITLED,
        advance=ADVANCE,
        first_unit=FIRST_UNITS,
    )
    def earliest(
        self, k, specialty, clinics, first, last, length, channel, entitled, advance, first_unit
    ):
        first_day = None if first is None else self.day(first)
        last_day = None if last is None else self.day(last)
        kind, got = self.both(
            "earliest",
            k,
            specialty_id=specialty,
            clinic_ids=clinics,
            first_day=first_day,
            last_day=last_day,
            length=length,
            channel=channel,
            entitled=entitled,
            now=self.clock(advance),
            first_unit=first_unit,
        )
        if kind != "ok":
            assert k < 1 or not 0 <= first_unit <= self.ref.units_per_day
            return
        lo = self.ref.start_day if first_day is None else max(first_day, self.ref.start_day)
        hi = self.ref.last_day if last_day is None else min(last_day, self.ref.last_day)
        cut_day = self.ref.start_day if first_day is None else first_day  # first_unit's day
        brute = sorted(
            Slot(d, s, doc, n)
            for doc, (clinic, spec) in DOCTORS.items()
            if (specialty is None or spec == specialty) and (clinics is None or clinic in clinics)
            for d in range(lo, hi + 1)
            for s, n in brute_candidates(
                self.ref, doc, d, length, channel, entitled, first_unit if d == cut_day else 0
            )
        )
        assert got == brute[:k]

    @rule(
        who=st.sampled_from(
            [
                (None, 1),
                (None, 2),
                (5, None),
                (2, None),
                (None, 3),
                (None, None),
                (99, None),
                (5, 1),
            ]
        ),
        first=st.one_of(st.none(), st.integers(-1, 4)),
        last=st.one_of(st.none(), st.integers(-1, 4)),
        channel=st.sampled_from([31, 31, 1, 2, 16]),
        entitled=st.sampled_from([96, 96, 0, 32]),
        advance=ADVANCE,
        first_unit=FIRST_UNITS,
    )
    def count_free(self, who, first, last, channel, entitled, advance, first_unit):
        doctor, clinic = who
        first_day = None if first is None else self.day(first)
        last_day = None if last is None else self.day(last)
        kind, got = self.both(
            "count_free",
            doctor_id=doctor,
            clinic_id=clinic,
            first_day=first_day,
            last_day=last_day,
            channel=channel,
            entitled=entitled,
            now=self.clock(advance),
            first_unit=first_unit,
        )
        if kind != "ok":
            return
        lo = self.ref.start_day if first_day is None else first_day
        docs = [doctor] if doctor is not None else [d for d, v in DOCTORS.items() if v[0] == clinic]
        assert got == [
            sum(
                len(
                    brute_candidates(
                        self.ref, d, day, None, channel, entitled, first_unit if day == lo else 0
                    )
                )
                for d in docs
            )
            for day in range(lo, lo + len(got))
        ]

    # -- replicas and snapshots -------------------------------------------------------
    @rule(data=st.data())
    def apply(self, data):
        day = st.integers(-1, 4).map(self.day)
        unit = st.integers(0, 16)
        event = data.draw(
            st.one_of(
                st.builds(
                    events.SlotsOpened,
                    DOCTOR_IDS,
                    day,
                    unit,
                    st.integers(1, 4),
                    FLAGS,
                    st.integers(1, 3),
                ),
                st.builds(events.SlotsClosed, DOCTOR_IDS, day, unit, st.integers(1, 6)),
                st.builds(
                    events.SlotHeld,
                    TOKENS,
                    DOCTOR_IDS,
                    day,
                    unit,
                    st.integers(1, 6),
                    st.integers(-5, 40).map(lambda t: float(self.now + t)),
                ),
                st.builds(events.HoldConfirmed, TOKENS, DOCTOR_IDS, day, unit, st.integers(1, 6)),
                st.builds(events.HoldReleased, TOKENS),
                st.builds(events.SlotBooked, DOCTOR_IDS, day, unit, st.integers(1, 6)),
                st.builds(events.SlotReleased, DOCTOR_IDS, day, unit),
                st.builds(events.WindowShifted, st.integers(-1, 2).map(self.day)),
                st.builds(
                    events.DoctorAdded,
                    st.sampled_from([5, 7]),
                    st.sampled_from([1, 2]),
                    st.sampled_from([10, 20]),
                ),
            )
        )
        event = events.decode_event(events.encode_event(event))  # as it comes off the stream
        if isinstance(event, events.SlotReleased):
            key = (event.doctor_id, event.day, event.start)
            self.may_drop |= {a for a in self.appts if a[:3] == key}
        if isinstance(event, events.WindowShifted):
            self.may_drop |= {a for a in self.appts if a[1] < event.start_day}
        first = self.both("apply", event)
        if first[0] == "ok":
            assert self.both("apply", event) == ("ok", False), "re-applying must be a no-op"

    @precondition(lambda self: self.ref.doctor_count)
    @rule(direction=st.booleans())
    def swap_through_snapshot(self, direction):
        """Each side continues from the other's snapshot (cross-implementation restore)."""
        a, b = self.ref.snapshot(), self.eng.snapshot()
        assert a == b
        self.ref, self.eng = Reference.restore(b), Engine.restore(a)
        if direction:
            assert self.ref.snapshot() == a and self.eng.snapshot() == b

    # -- invariants --------------------------------------------------------------------
    @invariant()
    def same_state(self):
        assert self.ref.snapshot() == self.eng.snapshot()
        assert self.ref.clock == self.eng.clock

    @invariant()
    def no_unit_in_two_appointments(self):
        for d in DOCTORS:
            for day in range(self.ref.start_day, self.ref.last_day + 1):
                owners = [0] * self.ref.units_per_day
                for s, n in self.eng.appointments(d, day):
                    for u in range(s, s + n):
                        owners[u] += 1
                states = self.eng.day_states(d, day)
                for h in self.eng.holds():
                    if (h.doctor_id, h.day) == (d, day):
                        for u in range(h.start, h.start + h.length):
                            owners[u] += 1
                            assert states[u] == HELD
                assert max(owners) <= 1
                assert all(o == (st_ in (2, 3)) for o, st_ in zip(owners, states, strict=True))

    @invariant()
    def booked_stays_booked_until_released(self):
        now = self.appointments()
        lost = self.appts - now - self.may_drop
        assert not lost, f"appointments vanished without a release: {lost}"
        self.appts, self.may_drop = now, set()

    @invariant()
    def skipped_days_have_nothing_to_offer(self):
        """The engine skips doctor-days by a summary kept up to date by every operation; a
        filter that nothing (or little) satisfies must still give the reference's answer."""
        half = self.ref.units_per_day // 2
        for channel, entitled, first_unit in (
            (1, 0, 0),
            (8, 0, 0),
            (16, 32, 0),
            (2, 64, half),
            (4, 96, 0),
            (31, 96, half),
            (1, 0, half),
        ):
            kwargs = {"channel": channel, "entitled": entitled, "first_unit": first_unit}
            assert self.eng.earliest(100, **kwargs) == self.ref.earliest(100, **kwargs)
            assert self.eng.count_free(clinic_id=1, **kwargs) == self.ref.count_free(
                clinic_id=1, **kwargs
            )

    @invariant()
    def expired_holds_never_linger(self):
        assert all(h.expires_at > self.eng.clock for h in self.eng.holds())


TestDifferential = Differential.TestCase
