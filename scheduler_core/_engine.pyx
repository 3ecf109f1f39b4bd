# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled engine: the same behaviour as ``scheduler_core.reference`` on flat C arrays.

Layout (doctor-major, ring position ``p = day % days``, row ``r = idx * days + p``):

* ``flags[r * U + u]``  slot flags per unit (0 closed, SLOT_START on a slot's first unit)
* ``busy / held / starts[r * B + (u >> 3)]``  bitmaps (held or booked / held / first unit
  of a hold or appointment), exactly the snapshot's arrays, so snapshot and restore are
  memcpy;
* ``first_free[r]`` the first free slot start (U if none) and ``free_count[r]`` the number
  of free slot starts, kept up to date so a day with nothing free is skipped in O(1).

Every public method checks its arguments at the boundary (the inner loops run without
bounds checks) and raises the exceptions of ``scheduler_core.errors``. Rules, refusal
order and the clock are documented in ``scheduler_core.reference`` (the specification).
"""

from cpython cimport array
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc, PyMem_RawRealloc
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t
from libc.string cimport memcpy, memset

import array as _pyarray
import heapq
import math
import sys

from scheduler_core import _checks as chk
from scheduler_core import _snapshot
from scheduler_core.errors import (
    DayOutsideWindow,
    DuplicateDoctor,
    DuplicateHold,
    InvalidArgument,
    OverlappingOpen,
    Reason,
    Refused,
    SnapshotError,
    SplitSlot,
    UnknownDoctor,
)
from scheduler_core.values import HoldInfo, Slot

if sys.byteorder != "little":  # pragma: no cover - the snapshot is little-endian memcpy
    raise ImportError("scheduler_core._engine needs a little-endian machine")

cdef enum:
    START = 0x80
    REF = 0x20
    URG = 0x40
    CH_MASK = 0x1F
    RESTRICT = 0x60

cdef enum:
    R_OK = 0
    R_CLOSED = 1
    R_MISALIGNED = 2
    R_CHANNEL = 3
    R_REFERRAL = 4
    R_URGENT = 5
    R_TAKEN = 6

_REASONS = (None, Reason.CLOSED, Reason.MISALIGNED, Reason.CHANNEL_NOT_ALLOWED,
            Reason.REFERRAL_REQUIRED, Reason.URGENT_ONLY, Reason.TAKEN)

cdef inline bint bit(const uint8_t* m, int u) noexcept nogil:
    return (m[u >> 3] >> (u & 7)) & 1

cdef inline void set_bit(uint8_t* m, int u) noexcept nogil:
    m[u >> 3] |= <uint8_t>(1 << (u & 7))

cdef inline void clear_bit(uint8_t* m, int u) noexcept nogil:
    m[u >> 3] &= <uint8_t>~(1 << (u & 7))

cdef inline bint slot_ok(uint8_t f, int ch, int ent) noexcept nogil:
    """A free slot start the caller may take as a whole slot (busy checked apart)."""
    return (f & START) and (f & ch) and not (f & RESTRICT & ~ent)

cdef void* _grow(void* p, size_t old, size_t new, int fill) except NULL:
    cdef void* q = PyMem_RawRealloc(p, new if new else 1)
    if q == NULL:
        raise MemoryError()
    if new > old:
        memset(<char*>q + old, fill, new - old)
    return q


cdef class Calendar:
    cdef int64_t _start_day
    cdef int D, U, B, _unit_minutes, _day_begins
    cdef double _clock
    cdef Py_ssize_t n, cap
    cdef uint8_t* flags
    cdef uint8_t* busy
    cdef uint8_t* held
    cdef uint8_t* starts
    cdef uint16_t* first_free
    cdef uint16_t* free_count
    cdef int64_t* ids
    cdef int64_t* clinics
    cdef int64_t* specs
    cdef dict index        # doctor_id -> internal index
    cdef dict by_spec      # specialty_id -> array('i') of indexes
    cdef dict by_clinic    # clinic_id -> array('i') of indexes
    cdef dict _holds       # token -> (idx, day, start, length, expires_at)
    cdef list _expiries    # min-heap of (expires_at, token); stale entries skipped

    def __cinit__(self, *args, **kwargs):
        self.flags = self.busy = self.held = self.starts = NULL
        self.first_free = self.free_count = NULL
        self.ids = self.clinics = self.specs = NULL
        self.n = self.cap = 0

    def __init__(self, start_day, days=14, unit_minutes=5, day_begins=0, units_per_day=None):
        units = chk.check_geometry(start_day, days, unit_minutes, day_begins, units_per_day)
        self._start_day = start_day
        self.D = days
        self.U = units
        self.B = (units + 7) // 8
        self._unit_minutes = unit_minutes
        self._day_begins = day_begins
        self._clock = -math.inf
        self.index = {}
        self.by_spec = {}
        self.by_clinic = {}
        self._holds = {}
        self._expiries = []

    def __dealloc__(self):
        PyMem_RawFree(self.flags)
        PyMem_RawFree(self.busy)
        PyMem_RawFree(self.held)
        PyMem_RawFree(self.starts)
        PyMem_RawFree(self.first_free)
        PyMem_RawFree(self.free_count)
        PyMem_RawFree(self.ids)
        PyMem_RawFree(self.clinics)
        PyMem_RawFree(self.specs)

    # -- shape -------------------------------------------------------------------------
    @property
    def start_day(self):
        return self._start_day

    @property
    def days(self):
        return self.D

    @property
    def units_per_day(self):
        return self.U

    @property
    def unit_minutes(self):
        return self._unit_minutes

    @property
    def day_begins(self):
        return self._day_begins

    @property
    def clock(self):
        return self._clock

    @property
    def last_day(self):
        return self._start_day + self.D - 1

    @property
    def doctor_count(self):
        return self.n

    # -- storage -----------------------------------------------------------------------
    cdef int _reserve(self, Py_ssize_t want) except -1:
        cdef Py_ssize_t cap = self.cap, rows_old, rows_new, r
        if want <= cap:
            return 0
        cap = max(want, cap * 2, 16)
        rows_old = self.cap * self.D
        rows_new = cap * self.D
        self.flags = <uint8_t*>_grow(self.flags, rows_old * self.U, rows_new * self.U, 0)
        self.busy = <uint8_t*>_grow(self.busy, rows_old * self.B, rows_new * self.B, 0)
        self.held = <uint8_t*>_grow(self.held, rows_old * self.B, rows_new * self.B, 0)
        self.starts = <uint8_t*>_grow(self.starts, rows_old * self.B, rows_new * self.B, 0)
        self.first_free = <uint16_t*>_grow(self.first_free, rows_old * 2, rows_new * 2, 0)
        self.free_count = <uint16_t*>_grow(self.free_count, rows_old * 2, rows_new * 2, 0)
        self.ids = <int64_t*>_grow(self.ids, self.cap * 8, cap * 8, 0)
        self.clinics = <int64_t*>_grow(self.clinics, self.cap * 8, cap * 8, 0)
        self.specs = <int64_t*>_grow(self.specs, self.cap * 8, cap * 8, 0)
        for r in range(rows_old, rows_new):
            self.first_free[r] = self.U
        self.cap = cap
        return 0

    cdef inline Py_ssize_t _row(self, Py_ssize_t idx, int64_t day) noexcept:
        cdef int64_t p = day % self.D
        if p < 0:
            p += self.D
        return idx * self.D + p

    cdef inline bint _in_window(self, int64_t day) noexcept:
        return self._start_day <= day < self._start_day + self.D

    cdef Py_ssize_t _doctor(self, object doctor_id) except -1:
        cdef object idx = self.index.get(doctor_id)
        if idx is None:
            raise UnknownDoctor(doctor_id)
        return <Py_ssize_t>idx

    cdef int _check_day(self, int64_t day) except -1:
        if not self._in_window(day):
            raise DayOutsideWindow(
                f"day {day} is outside the window {self._start_day}..{self.last_day}")
        return 0

    cdef int _check_query(self, object length, int channel, int entitled) except -1:
        if length is not None:
            chk.check_span(0, length, self.U)
        if not 1 <= channel <= CH_MASK:
            chk.check_channel(channel)
        if entitled & ~RESTRICT or entitled < 0:
            chk.check_entitled(entitled)
        return 0

    cdef int _next_free(self, Py_ssize_t r, int u) noexcept:
        cdef const uint8_t* f = self.flags + r * self.U
        cdef const uint8_t* b = self.busy + r * self.B
        while u < self.U:
            if (f[u] & START) and not bit(b, u):
                return u
            u += 1
        return self.U

    cdef void _summarize(self, Py_ssize_t r) noexcept:
        cdef const uint8_t* f = self.flags + r * self.U
        cdef const uint8_t* b = self.busy + r * self.B
        cdef int u, first = self.U, count = 0
        for u in range(self.U):
            if (f[u] & START) and not bit(b, u):
                count += 1
                if first == self.U:
                    first = u
        self.first_free[r] = first
        self.free_count[r] = count

    cdef int _slot_length(self, Py_ssize_t r, int s) noexcept:
        cdef const uint8_t* f = self.flags + r * self.U
        cdef int e = s + 1
        while e < self.U and f[e] != 0 and not (f[e] & START):
            e += 1
        return e - s

    cdef inline bint _mid_slot(self, Py_ssize_t r, int u) noexcept:
        cdef uint8_t f
        if u >= self.U:
            return False
        f = self.flags[r * self.U + u]
        return f != 0 and not (f & START)

    cdef int _refusal(self, Py_ssize_t r, int s, int length, int ch, int ent) noexcept:
        cdef const uint8_t* f = self.flags + r * self.U
        cdef const uint8_t* b = self.busy + r * self.B
        cdef int u, e = s + length
        cdef uint8_t need = 0
        for u in range(s, e):
            if f[u] == 0:
                return R_CLOSED
        if not (f[s] & START) or self._mid_slot(r, e):
            return R_MISALIGNED
        for u in range(s, e):
            if not (f[u] & ch):
                return R_CHANNEL
            need |= f[u]
        if (need & REF) and not (ent & REF):
            return R_REFERRAL
        if (need & URG) and not (ent & URG):
            return R_URGENT
        for u in range(s, e):
            if bit(b, u):
                return R_TAKEN
        return R_OK

    cdef inline int _candidate(self, Py_ssize_t r, int s, int length, int ch, int ent) noexcept:
        """Length the caller could take from unit s (0: nothing); length 0 = one slot."""
        cdef uint8_t f = self.flags[r * self.U + s]
        if not (f & START) or bit(self.busy + r * self.B, s):
            return 0
        if length == 0:
            if (f & ch) and not (f & RESTRICT & ~ent):
                return self._slot_length(r, s)
            return 0
        if s + length > self.U or self._refusal(r, s, length, ch, ent) != R_OK:
            return 0
        return length

    cdef void _mark(self, Py_ssize_t r, int s, int length, bint as_held) noexcept:
        cdef uint8_t* b = self.busy + r * self.B
        cdef uint8_t* h = self.held + r * self.B
        cdef const uint8_t* f = self.flags + r * self.U
        cdef int u, e = s + length, nstarts = 0
        for u in range(s, e):
            set_bit(b, u)
            if as_held:
                set_bit(h, u)
            if f[u] & START:
                nstarts += 1
        set_bit(self.starts + r * self.B, s)
        self.free_count[r] -= nstarts
        if s <= self.first_free[r] < e:
            self.first_free[r] = self._next_free(r, e)

    cdef void _unmark(self, Py_ssize_t r, int s, int length) noexcept:
        cdef uint8_t* b = self.busy + r * self.B
        cdef uint8_t* h = self.held + r * self.B
        cdef const uint8_t* f = self.flags + r * self.U
        cdef int u, nstarts = 0
        for u in range(s, s + length):
            clear_bit(b, u)
            clear_bit(h, u)
            if f[u] & START:
                nstarts += 1
        clear_bit(self.starts + r * self.B, s)
        self.free_count[r] += nstarts
        if s < self.first_free[r]:
            self.first_free[r] = s

    cdef int _take(self, Py_ssize_t idx, int64_t day, int start, int length, int ch,
                   int ent, bint as_held) except -1:
        cdef Py_ssize_t r
        cdef int code
        if not self._in_window(day):
            raise Refused(Reason.OUTSIDE_WINDOW, f"day {day}")
        r = self._row(idx, day)
        code = self._refusal(r, start, length, ch, ent)
        if code != R_OK:
            raise Refused(_REASONS[code],
                          f"doctor {self.ids[idx]} day {day} units {start}+{length}")
        self._mark(r, start, length, as_held)
        return 0

    # -- time --------------------------------------------------------------------------
    cdef int _advance(self, object now) except -1:
        cdef double t
        if now is not None:
            t = now
            if t != t:
                raise InvalidArgument("now is NaN")
            if t > self._clock:
                self._clock = t
        if self._expiries and self._expiries[0][0] <= self._clock:
            return self._sweep()
        return 0

    cdef int _sweep(self) except -1:
        cdef int freed = 0
        cdef tuple h
        while self._expiries and self._expiries[0][0] <= self._clock:
            token = heapq.heappop(self._expiries)[1]
            h = self._holds.get(token)
            if h is not None and <double>h[4] <= self._clock:
                self._free_hold(token, h)
                freed += 1
        return freed

    cdef void _free_hold(self, object token, tuple h) except *:
        del self._holds[token]
        self._unmark(self._row(h[0], h[1]), h[2], h[3])

    cdef tuple _live_hold(self, object token, object now):
        chk.check_token(token)
        cdef tuple h = self._holds.get(token)
        self._advance(now)
        if h is not None and token not in self._holds:
            raise Refused(Reason.HOLD_EXPIRED, f"hold {token!r} expired at {h[4]}")
        return h

    cdef object _info(self, object token, tuple h):
        return HoldInfo(token, self.ids[<Py_ssize_t>h[0]], h[1], h[2], h[3], h[4])

    # -- doctors -----------------------------------------------------------------------
    def add_doctor(self, doctor_id, clinic_id, specialty_id):
        chk.check_id("doctor_id", doctor_id)
        chk.check_id("clinic_id", clinic_id)
        chk.check_id("specialty_id", specialty_id)
        if doctor_id in self.index:
            raise DuplicateDoctor(f"doctor {doctor_id} is already in the calendar")
        self._reserve(self.n + 1)
        self._register(self.n, doctor_id, clinic_id, specialty_id)
        self.n += 1

    cdef void _register(self, Py_ssize_t i, object doctor_id, object clinic_id,
                        object specialty_id) except *:
        self.ids[i] = doctor_id
        self.clinics[i] = clinic_id
        self.specs[i] = specialty_id
        self.index[doctor_id] = i
        lst = self.by_spec.get(specialty_id)
        if lst is None:
            lst = self.by_spec[specialty_id] = _pyarray.array("i")
        lst.append(i)
        lst = self.by_clinic.get(clinic_id)
        if lst is None:
            lst = self.by_clinic[clinic_id] = _pyarray.array("i")
        lst.append(i)

    def has_doctor(self, doctor_id):
        return doctor_id in self.index

    def doctor(self, doctor_id):
        cdef Py_ssize_t i = self._doctor(doctor_id)
        return self.clinics[i], self.specs[i]

    def doctors(self):
        return [self.ids[i] for i in range(self.n)]

    # -- building ----------------------------------------------------------------------
    def open(self, doctor_id, int64_t day, long long start, long long length, long long flags,
             long long count=1):
        cdef Py_ssize_t idx = self._doctor(doctor_id), r
        cdef int u, end
        if count < 1:
            raise InvalidArgument(f"count must be at least 1, got {count}")
        chk.check_span(start, length, self.U)
        chk.check_span(start, length * count, self.U)
        chk.check_slot_flags(flags)
        self._check_day(day)
        r = self._row(idx, day)
        end = start + length * count
        cdef uint8_t* f = self.flags + r * self.U
        for u in range(start, end):
            if f[u]:
                raise OverlappingOpen(f"units {start}..{end} of day {day} overlap open time")
        for u in range(start, end):
            f[u] = flags | (START if (u - start) % length == 0 else 0)
        self.free_count[r] += count
        if start < self.first_free[r]:
            self.first_free[r] = start

    def close(self, doctor_id, int64_t day, long long start, long long length, now=None):
        cdef Py_ssize_t idx = self._doctor(doctor_id), r
        cdef int u
        chk.check_span(start, length, self.U)
        self._check_day(day)
        r = self._row(idx, day)
        self._advance(now)
        if self._mid_slot(r, start) or self._mid_slot(r, start + length):
            raise SplitSlot(f"closing units {start}..{start + length} would cut a slot in two")
        for u in range(start, start + length):
            if bit(self.busy + r * self.B, u):
                raise Refused(Reason.TAKEN, f"units {start}..{start + length} hold appointments")
        memset(self.flags + r * self.U + start, 0, length)
        self._summarize(r)

    def shift_window(self, long long days=1):
        cdef int64_t day
        cdef Py_ssize_t i, r
        if days < 1:
            raise InvalidArgument(f"the window moves forward by at least 1 day, got {days}")
        for day in range(self._start_day, self._start_day + min(days, self.D)):
            for i in range(self.n):
                r = self._row(i, day)
                memset(self.flags + r * self.U, 0, self.U)
                memset(self.busy + r * self.B, 0, self.B)
                memset(self.held + r * self.B, 0, self.B)
                memset(self.starts + r * self.B, 0, self.B)
                self.first_free[r] = self.U
                self.free_count[r] = 0
        self._start_day += days
        for token, h in list(self._holds.items()):
            if h[1] < self._start_day:
                del self._holds[token]

    # -- queries -----------------------------------------------------------------------
    def find(self, doctor_id, int64_t day, long long start=0, length=None, *, int channel,
             int entitled=0, now=None):
        cdef Py_ssize_t idx = self._doctor(doctor_id), r
        cdef int64_t d
        cdef int s, got, want
        if not 0 <= start < self.U:
            chk.check_unit(start, self.U)
        self._check_query(length, channel, entitled)
        self._advance(now)
        want = 0 if length is None else length
        for d in range(max(day, self._start_day), self._start_day + self.D):
            r = self._row(idx, d)
            if self.free_count[r] == 0:
                continue
            s = self.first_free[r]
            if d == day and start > s:
                s = start
            while s < self.U:
                got = self._candidate(r, s, want, channel, entitled)
                if got:
                    return Slot(d, s, doctor_id, got)
                s += 1
        return None

    def earliest(self, long long k, *, specialty_id=None, clinic_ids=None, first_day=None,
                 last_day=None, length=None, int channel, int entitled=0, now=None):
        cdef array.array cand = None
        cdef int64_t first, last, spec = 0
        cdef bint by_spec = False
        if k < 1:
            raise InvalidArgument(f"k must be at least 1, got {k}")
        self._check_query(length, channel, entitled)
        if clinic_ids is not None:
            clinics = set(clinic_ids)
        self._advance(now)
        if clinic_ids is not None:
            cand = _pyarray.array("i")
            for c in clinics:
                lst = self.by_clinic.get(c)
                if lst is not None:
                    cand.extend(lst)
            if specialty_id is not None:
                if specialty_id not in self.by_spec:
                    return []
                by_spec = True
                spec = specialty_id
        elif specialty_id is not None:
            cand = self.by_spec.get(specialty_id)
            if cand is None:
                return []
        first = self._start_day if first_day is None else max(first_day, self._start_day)
        last = self.last_day if last_day is None else min(last_day, self.last_day)
        if first > last:
            return []
        return self._earliest(k, cand, by_spec, spec, first, last,
                              0 if length is None else length, channel, entitled)

    cdef list _earliest(self, Py_ssize_t k, array.array cand, bint by_spec, int64_t spec,
                        int64_t first, int64_t last, int length, int ch, int ent):
        cdef Py_ssize_t ncand = self.n if cand is None else len(cand)
        cdef const int* cidx = NULL if cand is None else cand.data.as_ints
        cdef Py_ssize_t j, i, r, found = 0, m, need, pos
        cdef int64_t day, did
        cdef int s, got, U = self.U
        cdef list out = []
        # the day's best candidates, sorted by (start, doctor id), at most `need` of them
        cdef int* bs = <int*>PyMem_RawMalloc(k * sizeof(int))
        cdef int* bl = <int*>PyMem_RawMalloc(k * sizeof(int))
        cdef int64_t* bid = <int64_t*>PyMem_RawMalloc(k * sizeof(int64_t))
        if bs == NULL or bl == NULL or bid == NULL:
            PyMem_RawFree(bs)
            PyMem_RawFree(bl)
            PyMem_RawFree(bid)
            raise MemoryError()
        try:
            for day in range(first, last + 1):
                need = k - found
                m = 0
                for j in range(ncand):
                    i = j if cidx == NULL else cidx[j]
                    if by_spec and self.specs[i] != spec:
                        continue
                    r = self._row(i, day)
                    if self.free_count[r] == 0:
                        continue
                    did = self.ids[i]
                    s = self.first_free[r]
                    while s < U:
                        if m == need and (s > bs[m - 1] or (s == bs[m - 1] and did >= bid[m - 1])):
                            break
                        got = self._candidate(r, s, length, ch, ent)
                        if got:
                            pos = m if m < need else need - 1
                            while pos > 0 and (bs[pos - 1] > s or
                                               (bs[pos - 1] == s and bid[pos - 1] > did)):
                                if pos < need:
                                    bs[pos] = bs[pos - 1]
                                    bl[pos] = bl[pos - 1]
                                    bid[pos] = bid[pos - 1]
                                pos -= 1
                            bs[pos] = s
                            bl[pos] = got
                            bid[pos] = did
                            if m < need:
                                m += 1
                        s += 1
                for j in range(m):
                    out.append(Slot(day, bs[j], bid[j], bl[j]))
                found += m
                if found >= k:
                    break
        finally:
            PyMem_RawFree(bs)
            PyMem_RawFree(bl)
            PyMem_RawFree(bid)
        return out

    def count_free(self, *, doctor_id=None, clinic_id=None, first_day=None, last_day=None,
                   int channel=CH_MASK, int entitled=RESTRICT, now=None):
        cdef array.array docs
        cdef int64_t first, last, day
        cdef Py_ssize_t j, i, r
        cdef int s, total
        cdef bint plain
        if (doctor_id is None) == (clinic_id is None):
            raise InvalidArgument("count_free takes exactly one of doctor_id, clinic_id")
        if doctor_id is not None:
            docs = _pyarray.array("i", [self._doctor(doctor_id)])
        else:
            docs = self.by_clinic.get(clinic_id)
            if docs is None:
                docs = _pyarray.array("i")
        first = self._start_day if first_day is None else first_day
        last = self.last_day if last_day is None else last_day
        self._check_day(first)
        self._check_day(last)
        if first > last:
            raise InvalidArgument(f"first_day {first} is after last_day {last}")
        self._check_query(None, channel, entitled)
        self._advance(now)
        plain = (channel & CH_MASK) == CH_MASK and (entitled & RESTRICT) == RESTRICT
        out = []
        for day in range(first, last + 1):
            total = 0
            for j in range(len(docs)):
                r = self._row(docs.data.as_ints[j], day)
                if plain or self.free_count[r] == 0:
                    total += self.free_count[r]
                    continue
                for s in range(self.first_free[r], self.U):
                    if slot_ok(self.flags[r * self.U + s], channel, entitled) and not bit(
                            self.busy + r * self.B, s):
                        total += 1
            out.append(total)
        return out

    # -- allocation --------------------------------------------------------------------
    def hold(self, doctor_id, int64_t day, long long start, long long length, token,
             expires_at, *, int channel, int entitled=0, now=None):
        cdef Py_ssize_t idx = self._doctor(doctor_id)
        cdef double exp
        if length < 1 or start < 0 or start + length > self.U:
            chk.check_span(start, length, self.U)
        self._check_query(None, channel, entitled)
        chk.check_token(token)
        exp = expires_at
        if exp != exp:
            raise InvalidArgument("expires_at is NaN")
        self._advance(now)
        if exp <= self._clock:
            raise InvalidArgument(f"expires_at {exp} is not after clock {self._clock}")
        if token in self._holds:
            raise DuplicateHold(f"token {token!r} already holds a slot")
        self._take(idx, day, start, length, channel, entitled, True)
        self._holds[token] = (idx, day, <int>start, <int>length, exp)
        heapq.heappush(self._expiries, (exp, token))

    def book(self, doctor_id, int64_t day, long long start, long long length, *, int channel,
             int entitled=0, now=None):
        cdef Py_ssize_t idx = self._doctor(doctor_id)
        if length < 1 or start < 0 or start + length > self.U:
            chk.check_span(start, length, self.U)
        self._check_query(None, channel, entitled)
        self._advance(now)
        self._take(idx, day, start, length, channel, entitled, False)

    def confirm(self, doctor_id, int64_t day, long long start, token, now=None):
        cdef Py_ssize_t idx = self._doctor(doctor_id), r
        cdef int u
        if not 0 <= start < self.U:
            chk.check_unit(start, self.U)
        cdef tuple h = self._live_hold(token, now)
        if not self._in_window(day):
            raise Refused(Reason.OUTSIDE_WINDOW, f"day {day}")
        r = self._row(idx, day)
        if h is None:
            if bit(self.held + r * self.B, start):
                raise Refused(Reason.WRONG_TOKEN, "the slot is held under another token")
            raise Refused(Reason.NOT_HELD, f"no hold {token!r}")
        if h[0] != idx or h[1] != day or h[2] != start:
            raise Refused(Reason.WRONG_TOKEN, f"token {token!r} holds another slot")
        del self._holds[token]
        for u in range(start, start + <int>h[3]):
            clear_bit(self.held + r * self.B, u)
        return h[3]

    def release_hold(self, token, now=None):
        cdef tuple h = self._live_hold(token, now)
        if h is None:
            raise Refused(Reason.NOT_HELD, f"no hold {token!r}")
        self._free_hold(token, h)
        return self._info(token, h)

    def release(self, doctor_id, int64_t day, long long start, now=None):
        cdef Py_ssize_t idx = self._doctor(doctor_id), r
        cdef int end
        if not 0 <= start < self.U:
            chk.check_unit(start, self.U)
        self._advance(now)
        if not self._in_window(day):
            raise Refused(Reason.OUTSIDE_WINDOW, f"day {day}")
        r = self._row(idx, day)
        cdef const uint8_t* b = self.busy + r * self.B
        cdef const uint8_t* h = self.held + r * self.B
        cdef const uint8_t* st = self.starts + r * self.B
        if not bit(b, start) or bit(h, start) or not bit(st, start):
            raise Refused(Reason.NOT_BOOKED, f"no appointment starts at unit {start}")
        end = start + 1
        while end < self.U and bit(b, end) and not bit(h, end) and not bit(st, end):
            end += 1
        self._unmark(r, start, end - start)
        return end - start

    def expire(self, now):
        return self._advance(chk.check_time("now", now))

    def apply(self, event):
        from scheduler_core._replica import apply_event

        return apply_event(self, event)

    # -- inspection --------------------------------------------------------------------
    def day_states(self, doctor_id, int64_t day):
        cdef Py_ssize_t idx = self._doctor(doctor_id), r
        cdef int u
        self._check_day(day)
        r = self._row(idx, day)
        out = bytearray(self.U)
        for u in range(self.U):
            if self.flags[r * self.U + u] == 0:
                out[u] = 0
            elif not bit(self.busy + r * self.B, u):
                out[u] = 1
            else:
                out[u] = 2 if bit(self.held + r * self.B, u) else 3
        return bytes(out)

    def day_flags(self, doctor_id, int64_t day):
        cdef Py_ssize_t idx = self._doctor(doctor_id), r
        self._check_day(day)
        r = self._row(idx, day)
        return PyBytes_FromStringAndSize(<char*>self.flags + r * self.U, self.U)

    def appointments(self, doctor_id, int64_t day):
        cdef Py_ssize_t idx = self._doctor(doctor_id), r
        cdef int u
        self._check_day(day)
        r = self._row(idx, day)
        cdef list out = []
        cdef int seg = -1, seg_end = -1
        for u in range(self.U):
            if bit(self.busy + r * self.B, u) and not bit(self.held + r * self.B, u):
                if bit(self.starts + r * self.B, u) or seg < 0 or seg_end != u:
                    if seg >= 0:
                        out.append((seg, seg_end - seg))
                    seg = u
                seg_end = u + 1
        if seg >= 0:
            out.append((seg, seg_end - seg))
        return out

    def holds(self):
        return [self._info(t, self._holds[t]) for t in sorted(self._holds)]

    def hold_info(self, token):
        h = self._holds.get(token)
        return None if h is None else self._info(token, h)

    def holder(self, doctor_id, int64_t day, long long unit):
        idx = self.index.get(doctor_id)
        for token, h in self._holds.items():
            if h[0] == idx and h[1] == day and h[2] <= unit < h[2] + h[3]:
                return token
        return None

    # -- snapshot ----------------------------------------------------------------------
    def snapshot(self):
        cdef Py_ssize_t rows = self.n * self.D, n = self.n
        header = _snapshot.Header(self._start_day, self.D, self.U, self._unit_minutes,
                                  self._day_begins, n, len(self._holds), self._clock)
        head = _snapshot.pack_header(header)
        tail = _snapshot.pack_holds(
            [(t, h[0], h[1], h[2], h[3], h[4]) for t, h in self._holds.items()])
        cdef Py_ssize_t total = len(head) + 24 * n + rows * (self.U + 3 * self.B) + len(tail)
        out = PyBytes_FromStringAndSize(NULL, total)
        cdef char* p = PyBytes_AS_STRING(out)
        memcpy(p, <char*>head, len(head))
        p += len(head)
        memcpy(p, self.ids, 8 * n)
        p += 8 * n
        memcpy(p, self.clinics, 8 * n)
        p += 8 * n
        memcpy(p, self.specs, 8 * n)
        p += 8 * n
        memcpy(p, self.flags, rows * self.U)
        p += rows * self.U
        memcpy(p, self.busy, rows * self.B)
        p += rows * self.B
        memcpy(p, self.held, rows * self.B)
        p += rows * self.B
        memcpy(p, self.starts, rows * self.B)
        p += rows * self.B
        memcpy(p, <char*>tail, len(tail))
        return out

    @classmethod
    def restore(cls, data):
        header, layout, holds = _snapshot.parse(data)
        cdef Calendar cal = cls(header.start_day, header.days, header.unit_minutes,
                                header.day_begins, header.units_per_day)
        cdef Py_ssize_t n = header.n_doctors, rows, i
        cdef Py_ssize_t at_doc = layout.doctors_at, at_flags = layout.flags_at
        cdef Py_ssize_t at_busy = layout.busy_at, at_held = layout.held_at
        cdef Py_ssize_t at_starts = layout.starts_at
        cdef const uint8_t[::1] buf = data
        cdef const uint8_t* p = &buf[0]
        cal._clock = header.clock
        cal._reserve(n)
        rows = n * cal.D
        memcpy(cal.ids, p + at_doc, 8 * n)
        memcpy(cal.clinics, p + at_doc + 8 * n, 8 * n)
        memcpy(cal.specs, p + at_doc + 16 * n, 8 * n)
        memcpy(cal.flags, p + at_flags, rows * cal.U)
        memcpy(cal.busy, p + at_busy, rows * cal.B)
        memcpy(cal.held, p + at_held, rows * cal.B)
        memcpy(cal.starts, p + at_starts, rows * cal.B)
        for i in range(n):
            doctor_id = cal.ids[i]
            if doctor_id in cal.index:
                raise SnapshotError(f"duplicate doctor {doctor_id} in snapshot")
            cal._register(i, doctor_id, cal.clinics[i], cal.specs[i])
        cal.n = n
        for i in range(rows):
            cal._summarize(i)
        for token, idx, day, start, length, expires in holds:
            cal._holds[token] = (idx, day, start, length, expires)
            cal._expiries.append((expires, token))
        heapq.heapify(cal._expiries)
        return cal
