# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled engine: the same behaviour as ``scheduler_core.reference`` on flat C arrays.

Layout (doctor-major, ring position ``p = day % days``, row ``r = idx * days + p``):

* ``flags[r * U + u]``  slot flags per unit (0 closed, SLOT_START on a slot's first unit)
* ``busy / held / starts[r * B + (u >> 3)]``  bitmaps (held or booked / held / first unit
  of a hold or appointment), exactly the snapshot's arrays, so snapshot and restore are
  memcpy;
* ``meta[p * cap + idx]`` (day-major, so a scan of many doctors on one day reads it
  sequentially) a summary of row ``r``: ``first`` the first free slot start (U if none),
  ``count`` the number of free slot starts, so a day with nothing free is skipped in O(1),
  and ``summ`` the channel bits of the free slot starts by restriction class (bits 0-4:
  unrestricted slots, 5-9: REFERRAL slots, 10-14: URGENT slots; a slot needing both is in
  both groups) so a day with nothing the caller may take is skipped in O(1) too. ``summ``
  is exact or a superset marked DIRTY (taking a slot only sets DIRTY, to keep hold and book
  O(1)); a query recomputes a dirty row's summary before trusting a hit. A summary is
  about the whole row: on a query's first day with ``first_unit`` > 0 it can still skip
  a row (nothing bookable at all), but a hit may lie before ``first_unit``, so that row
  is scanned from ``first_unit`` (``count`` is used as is only when ``first`` >= it);
* ``htab`` doctor id -> internal index, an open-addressing hash table of C structs (the
  lookup on every call touches one cache line, not a dict, a key and a value object).

Every public method checks its arguments at the boundary (the inner loops run without
bounds checks) and raises the exceptions of ``scheduler_core.errors``. Rules, refusal
order and the clock are documented in ``scheduler_core.reference`` (the specification).
"""

from cpython cimport array
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.float cimport PyFloat_CheckExact
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.unicode cimport PyUnicode_CheckExact, PyUnicode_GET_LENGTH
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc, PyMem_RawRealloc
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memcpy, memset

import array as _pyarray
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

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define imias_ctz(x) __builtin_ctz(x)
    #define imias_prefetch(p) __builtin_prefetch((const void*)(p))
    #else
    static int imias_ctz(unsigned int x) { int n = 0; while (!(x & 1u)) { x >>= 1; ++n; } return n; }
    #define imias_prefetch(p) ((void)0)
    #endif
    """
    int imias_ctz(unsigned int x) noexcept nogil
    void imias_prefetch(const void* p) noexcept nogil
    bint PyUnicode_IS_ASCII(object o)

_HASH_MODULUS = sys.hash_info.modulus

if sys.byteorder != "little":  # pragma: no cover - the snapshot is little-endian memcpy
    raise ImportError("scheduler_core._engine needs a little-endian machine")

cdef enum:
    START = 0x80
    REF = 0x20
    URG = 0x40
    CH_MASK = 0x1F
    RESTRICT = 0x60

cdef enum:
    G_REF = 5       # shift of the REFERRAL group in Meta.summ
    G_URG = 10      # shift of the URGENT group
    DIRTY = 0x8000  # summ may be a superset: recompute before trusting a hit
    MAX_TOKEN = 1024

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

cdef struct Meta:
    uint16_t first   # first free slot start, U if none
    uint16_t count   # free slot starts
    uint16_t summ    # channel bits of free slot starts by restriction class, see above

cdef struct Expiry:
    double at
    PyObject* token  # a strong reference

cdef struct HEntry:
    int64_t key
    int64_t idx      # -1: empty

cdef inline uint16_t sbits(uint8_t f) noexcept nogil:
    """The summary bits of a free slot start with flags f."""
    cdef uint16_t c = f & CH_MASK
    if not (f & RESTRICT):
        return c
    return ((c << G_REF) if f & REF else 0) | ((c << G_URG) if f & URG else 0)

cdef inline uint16_t smask(int ch, int ent) noexcept nogil:
    """The summary bits any slot start the caller may take has one of."""
    cdef uint16_t c = ch & CH_MASK
    return c | ((c << G_REF) if ent & REF else 0) | ((c << G_URG) if ent & URG else 0)

cdef inline uint64_t hmix(int64_t key) noexcept nogil:
    cdef uint64_t h = <uint64_t>key * 0x9E3779B97F4A7C15ULL
    return h ^ (h >> 29)

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
    cdef Meta* meta
    cdef HEntry* htab
    cdef Py_ssize_t hmask, hcount
    cdef Expiry* heap      # min-heap on expires_at of live and stale holds (stale skipped)
    cdef Py_ssize_t heap_n, heap_cap
    cdef int64_t* ids
    cdef int64_t* clinics
    cdef int64_t* specs
    cdef dict by_spec      # specialty_id -> array('i') of indexes
    cdef dict by_clinic    # clinic_id -> array('i') of indexes
    cdef dict _holds       # token -> (idx, day, start, length, expires_at)

    def __cinit__(self, *args, **kwargs):
        self.flags = self.busy = self.held = self.starts = NULL
        self.meta = NULL
        self.htab = NULL
        self.hmask = self.hcount = 0
        self.heap = NULL
        self.heap_n = self.heap_cap = 0
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
        self.by_spec = {}
        self.by_clinic = {}
        self._holds = {}

    def __dealloc__(self):
        PyMem_RawFree(self.flags)
        PyMem_RawFree(self.busy)
        PyMem_RawFree(self.held)
        PyMem_RawFree(self.starts)
        PyMem_RawFree(self.meta)
        PyMem_RawFree(self.htab)
        cdef Py_ssize_t i
        for i in range(self.heap_n):
            Py_DECREF(<object>self.heap[i].token)
        PyMem_RawFree(self.heap)
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
        cdef Meta* meta = <Meta*>PyMem_RawMalloc(rows_new * sizeof(Meta))
        cdef Py_ssize_t p
        if meta == NULL:
            raise MemoryError()
        for r in range(rows_new):
            meta[r].first = self.U
            meta[r].count = 0
            meta[r].summ = 0
        for p in range(self.D):  # day-major: each day's block grows from cap to the new cap
            memcpy(meta + p * cap, self.meta + p * self.cap, self.cap * sizeof(Meta))
        PyMem_RawFree(self.meta)
        self.meta = meta
        self.ids = <int64_t*>_grow(self.ids, self.cap * 8, cap * 8, 0)
        self.clinics = <int64_t*>_grow(self.clinics, self.cap * 8, cap * 8, 0)
        self.specs = <int64_t*>_grow(self.specs, self.cap * 8, cap * 8, 0)
        self.cap = cap
        return 0

    cdef inline Py_ssize_t _row(self, Py_ssize_t idx, int64_t day) noexcept:
        cdef int64_t p = day % self.D
        if p < 0:
            p += self.D
        return idx * self.D + p

    cdef inline bint _in_window(self, int64_t day) noexcept:
        return self._start_day <= day < self._start_day + self.D

    # -- doctor id -> index (dict semantics: an equal key of another type finds it) ------
    cdef inline Py_ssize_t _find_id(self, int64_t key) noexcept:
        cdef uint64_t i
        cdef HEntry* e
        if self.htab == NULL:
            return -1
        i = hmix(key) & self.hmask
        while True:
            e = &self.htab[i]
            if e.idx < 0 or e.key == key:
                return e.idx
            i = (i + 1) & self.hmask

    cdef int _hreserve(self, Py_ssize_t want) except -1:
        """Room for ``want`` ids at a load factor of at most 1/2."""
        cdef Py_ssize_t cap = self.hmask + 1 if self.htab != NULL else 0, i, old_cap = cap
        cdef HEntry* old = self.htab
        cdef HEntry* new
        cdef uint64_t j
        if 2 * want <= cap:
            return 0
        cap = max(cap, 16)
        while 2 * want > cap:
            cap *= 2
        new = <HEntry*>PyMem_RawMalloc(cap * sizeof(HEntry))
        if new == NULL:
            raise MemoryError()
        for i in range(cap):
            new[i].idx = -1
        for i in range(old_cap):
            if old[i].idx >= 0:
                j = hmix(old[i].key) & (cap - 1)
                while new[j].idx >= 0:
                    j = (j + 1) & (cap - 1)
                new[j] = old[i]
        self.htab = new
        self.hmask = cap - 1
        PyMem_RawFree(old)
        return 0

    cdef int _insert_id(self, int64_t key, Py_ssize_t idx) except -1:
        cdef uint64_t j
        self._hreserve(self.hcount + 1)
        j = hmix(key) & self.hmask
        while self.htab[j].idx >= 0:
            j = (j + 1) & self.hmask
        self.htab[j].key = key
        self.htab[j].idx = idx
        self.hcount += 1
        return 0

    cdef inline Py_ssize_t _index_of(self, object doctor_id) except -2:
        """The internal index of a doctor id, -1 if unknown (as ``dict.get`` would find it)."""
        cdef int overflow = 0
        cdef long long key
        if PyLong_CheckExact(doctor_id):
            key = PyLong_AsLongLongAndOverflow(doctor_id, &overflow)
            if overflow:
                return -1  # every doctor id fits in 64 bits
            return self._find_id(key)
        return self._index_of_other(doctor_id)

    cdef Py_ssize_t _index_of_other(self, object key) except -2:
        """A key that is not an exact int: found when it equals (and hashes as) an id."""
        cdef Py_ssize_t i
        h = hash(key)  # TypeError for an unhashable key, as dict.get raises
        candidates = [h + k * _HASH_MODULUS for k in range(-4, 5)]
        if h == -2:
            candidates.append(-1)  # hash(-1) == -2
        for d in candidates:
            if chk.INT64_MIN <= d <= chk.INT64_MAX and hash(d) == h:
                i = self._find_id(d)
                if i >= 0 and d == key:
                    return i
        return -1

    cdef inline Py_ssize_t _doctor(self, object doctor_id) except -1:
        cdef Py_ssize_t idx = self._index_of(doctor_id)
        if idx < 0:
            raise UnknownDoctor(doctor_id)
        return idx

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

    cdef int _first_unit(self, object first_unit) except -1:
        """A query's ``first_unit`` checked (0..U, else InvalidUnit) as a C int."""
        cdef int overflow = 0
        cdef long long v
        if PyLong_CheckExact(first_unit):
            v = PyLong_AsLongLongAndOverflow(first_unit, &overflow)
            if not overflow and 0 <= v <= self.U:
                return <int>v
        chk.check_first_unit(first_unit, self.U)  # raises, or accepts an int subclass
        return first_unit

    cdef inline unsigned int _free8(self, Py_ssize_t r, int j) noexcept:
        """Bit i set: unit 8j+i is a free slot start (units past U read as closed)."""
        cdef const uint8_t* f = self.flags + r * self.U + 8 * j
        cdef uint64_t w = 0
        cdef int left = self.U - 8 * j
        memcpy(&w, f, 8 if left >= 8 else left)
        # gather bit 7 (START) of each of the 8 bytes into one byte (little-endian load)
        w = (((w >> 7) & 0x0101010101010101ULL) * 0x0102040810204080ULL) >> 56
        return <unsigned int>w & ~(<unsigned int>self.busy[r * self.B + j]) & 0xFF

    cdef int _next_free(self, Py_ssize_t r, int u) noexcept:
        """The first free slot start at or after unit u, U if none."""
        cdef int j
        cdef unsigned int m
        if u >= self.U:
            return self.U
        j = u >> 3
        m = self._free8(r, j) & (0xFF << (u & 7))
        while not m:
            j += 1
            if j >= self.B:
                return self.U
            m = self._free8(r, j)
        return 8 * j + imias_ctz(m)

    cdef inline Meta* _meta(self, Py_ssize_t r) noexcept:
        """The summary of row r (= idx * D + p), at p * cap + idx."""
        return &self.meta[(r % self.D) * self.cap + r // self.D]

    cdef void _summarize(self, Py_ssize_t r, Meta* m) noexcept:
        cdef const uint8_t* f = self.flags + r * self.U
        cdef int j, u, first = self.U, count = 0
        cdef unsigned int bits
        cdef uint16_t summ = 0
        for j in range(self.B):
            bits = self._free8(r, j)
            while bits:
                u = 8 * j + imias_ctz(bits)
                bits &= bits - 1
                count += 1
                if first == self.U:
                    first = u
                summ |= sbits(f[u])
        m.first = first
        m.count = count
        m.summ = summ

    cdef inline bint _may_offer(self, Py_ssize_t r, Meta* m, uint16_t mask) noexcept:
        """False if no free slot start of row r (summary m) has flags the caller may take."""
        if m.count == 0 or not (m.summ & mask):
            return False
        if m.summ & DIRTY:
            self._summarize(r, m)
            return (m.summ & mask) != 0
        return True

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

    cdef void _mark(self, Py_ssize_t r, Meta* m, int s, int length, bint as_held) noexcept:
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
        m.count -= nstarts
        if m.count == 0:
            m.first = self.U
            m.summ = 0
        else:
            m.summ |= DIRTY
            if s <= m.first < e:
                m.first = self._next_free(r, e)

    cdef void _unmark(self, Py_ssize_t r, int s, int length) noexcept:
        cdef uint8_t* b = self.busy + r * self.B
        cdef uint8_t* h = self.held + r * self.B
        cdef const uint8_t* f = self.flags + r * self.U
        cdef int u, nstarts = 0
        cdef uint16_t summ = 0
        for u in range(s, s + length):
            clear_bit(b, u)
            clear_bit(h, u)
            if f[u] & START:
                nstarts += 1
                summ |= sbits(f[u])
        clear_bit(self.starts + r * self.B, s)
        cdef Meta* m = self._meta(r)
        m.count += nstarts
        m.summ |= summ
        if s < m.first:
            m.first = s

    cdef int _take(self, Py_ssize_t idx, int64_t day, int start, int length, int ch,
                   int ent, bint as_held) except -1:
        cdef Py_ssize_t r, p
        cdef int code
        if not self._in_window(day):
            raise Refused(Reason.OUTSIDE_WINDOW, f"day {day}")
        p = day % self.D
        if p < 0:
            p += self.D
        r = idx * self.D + p
        cdef Meta* m = &self.meta[p * self.cap + idx]
        # the row's lines are cold (random doctors over the city): fetch them in parallel
        imias_prefetch(self.flags + r * self.U + start)
        imias_prefetch(self.flags + r * self.U + start + length)
        imias_prefetch(self.busy + r * self.B + (start >> 3))
        imias_prefetch(self.starts + r * self.B + (start >> 3))
        imias_prefetch(m)
        if as_held:
            imias_prefetch(self.held + r * self.B + (start >> 3))
        code = self._refusal(r, start, length, ch, ent)
        if code != R_OK:
            raise Refused(_REASONS[code],
                          f"doctor {self.ids[idx]} day {day} units {start}+{length}")
        self._mark(r, m, start, length, as_held)
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
        if self.heap_n and self.heap[0].at <= self._clock:
            return self._sweep()
        return 0

    cdef int _push_expiry(self, double at, object token) except -1:
        cdef Py_ssize_t i, parent
        if self.heap_n == self.heap_cap:
            self.heap = <Expiry*>_grow(self.heap, self.heap_cap * sizeof(Expiry),
                                       max(16, 2 * self.heap_cap) * sizeof(Expiry), 0)
            self.heap_cap = max(16, 2 * self.heap_cap)
        Py_INCREF(token)
        i = self.heap_n
        self.heap_n += 1
        while i > 0:
            parent = (i - 1) >> 1
            if self.heap[parent].at <= at:
                break
            self.heap[i] = self.heap[parent]
            i = parent
        self.heap[i].at = at
        self.heap[i].token = <PyObject*>token
        return 0

    cdef object _pop_expiry(self):
        """Remove the earliest entry; return its token."""
        cdef Expiry top = self.heap[0], last
        cdef Py_ssize_t i = 0, c, n
        self.heap_n -= 1
        n = self.heap_n
        if n:
            last = self.heap[n]
            while True:
                c = 2 * i + 1
                if c >= n:
                    break
                if c + 1 < n and self.heap[c + 1].at < self.heap[c].at:
                    c += 1
                if self.heap[c].at >= last.at:
                    break
                self.heap[i] = self.heap[c]
                i = c
            self.heap[i] = last
        token = <object>top.token
        Py_DECREF(token)  # the heap's reference; ``token`` holds its own
        return token

    cdef int _sweep(self) except -1:
        cdef int freed = 0
        cdef tuple h
        while self.heap_n and self.heap[0].at <= self._clock:
            token = self._pop_expiry()
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
        if self._index_of(doctor_id) >= 0:
            raise DuplicateDoctor(f"doctor {doctor_id} is already in the calendar")
        self._reserve(self.n + 1)
        self._register(self.n, doctor_id, clinic_id, specialty_id)
        self.n += 1

    cdef void _register(self, Py_ssize_t i, object doctor_id, object clinic_id,
                        object specialty_id) except *:
        self.ids[i] = doctor_id
        self.clinics[i] = clinic_id
        self.specs[i] = specialty_id
        self._insert_id(self.ids[i], i)
        lst = self.by_spec.get(specialty_id)
        if lst is None:
            lst = self.by_spec[specialty_id] = _pyarray.array("i")
        lst.append(i)
        lst = self.by_clinic.get(clinic_id)
        if lst is None:
            lst = self.by_clinic[clinic_id] = _pyarray.array("i")
        lst.append(i)

    def has_doctor(self, doctor_id):
        return self._index_of(doctor_id) >= 0

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
        cdef Meta* m = self._meta(r)
        m.count += count
        m.summ |= sbits(<uint8_t>flags | START)
        if start < m.first:
            m.first = start

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
        self._summarize(r, self._meta(r))

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
                self._meta(r).first = self.U
                self._meta(r).count = 0
                self._meta(r).summ = 0
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
        cdef uint16_t mask = smask(channel, entitled)
        cdef Meta* m
        for d in range(max(day, self._start_day), self._start_day + self.D):
            r = self._row(idx, d)
            m = self._meta(r)
            if not self._may_offer(r, m, mask):
                continue
            s = m.first
            if d == day and start > s:
                s = self._next_free(r, start)
            while s < self.U:
                got = self._candidate(r, s, want, channel, entitled)
                if got:
                    return Slot(d, s, doctor_id, got)
                s = self._next_free(r, s + 1)
        return None

    def earliest(self, long long k, *, specialty_id=None, clinic_ids=None, first_day=None,
                 last_day=None, length=None, int channel, int entitled=0, now=None,
                 first_unit=0):
        cdef array.array cand = None
        cdef int64_t first, last, spec = 0
        cdef bint by_spec = False
        cdef int fu
        if k < 1:
            raise InvalidArgument(f"k must be at least 1, got {k}")
        self._check_query(length, channel, entitled)
        fu = self._first_unit(first_unit)
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
        if first_day is not None and first_day < self._start_day:
            fu = 0  # first_unit is about first_day, which is before the window
        return self._earliest(k, cand, by_spec, spec, first, last,
                              0 if length is None else length, channel, entitled, fu)

    cdef list _earliest(self, Py_ssize_t k, array.array cand, bint by_spec, int64_t spec,
                        int64_t first, int64_t last, int length, int ch, int ent, int fu):
        """The k earliest slots of days first..last; on day ``first`` from unit ``fu``."""
        cdef Py_ssize_t ncand = self.n if cand is None else len(cand)
        cdef const int* cidx = NULL if cand is None else cand.data.as_ints
        cdef Py_ssize_t j, i, r, found = 0, m, need, pos
        cdef int64_t day, did
        cdef int s, got, U = self.U, lo
        cdef uint16_t mask = smask(ch, ent)
        cdef Py_ssize_t p, D = self.D
        cdef Meta* mday
        cdef Meta* mr
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
                lo = fu if day == first else 0  # no slot of this day starts before lo
                if lo >= U:
                    continue
                need = k - found
                m = 0
                p = day % D
                if p < 0:
                    p += D
                mday = self.meta + p * self.cap
                for j in range(ncand):
                    i = j if cidx == NULL else cidx[j]
                    if by_spec and self.specs[i] != spec:
                        continue
                    mr = &mday[i]
                    if mr.count == 0:
                        continue
                    s = mr.first if mr.first > lo else lo  # no candidate starts earlier
                    if m == need and s > bs[m - 1]:
                        continue
                    r = i * D + p
                    # a summary may skip the row, but its hit may lie before lo: scan from lo
                    if not self._may_offer(r, mr, mask):
                        continue
                    did = self.ids[i]
                    s = mr.first
                    if s < lo:
                        s = self._next_free(r, lo)
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
                        if m == need and (s > bs[m - 1] or (s == bs[m - 1] and did >= bid[m - 1])):
                            break  # nothing later in this row can enter the day's best
                        s = self._next_free(r, s)
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
                   int channel=CH_MASK, int entitled=RESTRICT, now=None, first_unit=0):
        cdef array.array docs
        cdef int64_t first, last, day
        cdef Py_ssize_t j, r
        cdef int s, s0, total, fu, lo
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
        fu = self._first_unit(first_unit)
        self._advance(now)
        plain = (channel & CH_MASK) == CH_MASK and (entitled & RESTRICT) == RESTRICT
        cdef uint16_t mask = smask(channel, entitled)
        cdef Meta* m
        out = []
        cdef Py_ssize_t p, i
        cdef int g
        cdef unsigned int bits
        for day in range(first, last + 1):
            total = 0
            lo = fu if day == first else 0  # count slot starts from unit lo
            p = day % self.D
            if p < 0:
                p += self.D
            for j in range(len(docs)):
                i = docs.data.as_ints[j]
                r = i * self.D + p
                m = &self.meta[p * self.cap + i]
                if (plain or m.count == 0) and lo <= m.first:
                    total += m.count  # every free slot start is at or after lo
                    continue
                if not plain and not self._may_offer(r, m, mask):
                    continue
                s0 = m.first if m.first > lo else lo
                for g in range(s0 >> 3, self.B):
                    bits = self._free8(r, g)
                    if g == s0 >> 3:
                        bits &= <unsigned int>0xFF << (s0 & 7)
                    while bits:
                        s = 8 * g + imias_ctz(bits)
                        bits &= bits - 1
                        if slot_ok(self.flags[r * self.U + s], channel, entitled):
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
        if not (PyUnicode_CheckExact(token) and PyUnicode_IS_ASCII(token)
                and 0 < PyUnicode_GET_LENGTH(token) <= MAX_TOKEN):
            chk.check_token(token)  # the general check (and its errors)
        exp = expires_at
        if exp != exp:
            raise InvalidArgument("expires_at is NaN")
        self._advance(now)
        if exp <= self._clock:
            raise InvalidArgument(f"expires_at {exp} is not after clock {self._clock}")
        if token in self._holds:
            raise DuplicateHold(f"token {token!r} already holds a slot")
        self._take(idx, day, start, length, channel, entitled, True)
        exp_obj = expires_at if PyFloat_CheckExact(expires_at) else exp
        self._holds[token] = (idx, day, <int>start, <int>length, exp_obj)
        self._push_expiry(exp, token)

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
        # Every live hold has its units marked in ``held``: an unmarked unit (the
        # common case when a replica applies a hold or a booking) is answered without
        # looking through the holds, which under a peak are thousands.
        cdef Py_ssize_t idx = self._index_of(doctor_id)
        if idx < 0 or not self._in_window(day) or not 0 <= unit < self.U:
            return None
        if not bit(self.held + self._row(idx, day) * self.B, <int>unit):
            return None
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
        cal._hreserve(n)
        for i in range(n):
            doctor_id = cal.ids[i]
            if cal._find_id(cal.ids[i]) >= 0:
                raise SnapshotError(f"duplicate doctor {doctor_id} in snapshot")
            cal._register(i, doctor_id, cal.clinics[i], cal.specs[i])
        cal.n = n
        for i in range(rows):
            cal._summarize(i, cal._meta(i))
        for token, idx, day, start, length, expires in holds:
            cal._holds[token] = (idx, day, start, length, expires)
            cal._push_expiry(expires, token)
        return cal
