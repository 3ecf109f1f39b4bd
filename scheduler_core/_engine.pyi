"""Type stub of the compiled engine; the behaviour is scheduler_core.reference's."""

from collections.abc import Iterable

from scheduler_core.values import HoldInfo, Slot

class Calendar:
    def __init__(
        self,
        start_day: int,
        days: int = 14,
        unit_minutes: int = 5,
        day_begins: int = 0,
        units_per_day: int | None = None,
    ) -> None: ...
    @property
    def start_day(self) -> int: ...
    @property
    def days(self) -> int: ...
    @property
    def units_per_day(self) -> int: ...
    @property
    def unit_minutes(self) -> int: ...
    @property
    def day_begins(self) -> int: ...
    @property
    def clock(self) -> float: ...
    @property
    def last_day(self) -> int: ...
    @property
    def doctor_count(self) -> int: ...
    def add_doctor(self, doctor_id: int, clinic_id: int, specialty_id: int) -> None: ...
    def has_doctor(self, doctor_id: int) -> bool: ...
    def doctor(self, doctor_id: int) -> tuple[int, int]: ...
    def doctors(self) -> list[int]: ...
    def open(
        self, doctor_id: int, day: int, start: int, length: int, flags: int, count: int = 1
    ) -> None: ...
    def close(
        self, doctor_id: int, day: int, start: int, length: int, now: float | None = None
    ) -> None: ...
    def shift_window(self, days: int = 1) -> None: ...
    def find(
        self,
        doctor_id: int,
        day: int,
        start: int = 0,
        length: int | None = None,
        *,
        channel: int,
        entitled: int = 0,
        now: float | None = None,
    ) -> Slot | None: ...
    def earliest(
        self,
        k: int,
        *,
        specialty_id: int | None = None,
        clinic_ids: Iterable[int] | None = None,
        first_day: int | None = None,
        last_day: int | None = None,
        length: int | None = None,
        channel: int,
        entitled: int = 0,
        now: float | None = None,
        first_unit: int = 0,
    ) -> list[Slot]: ...
    def count_free(
        self,
        *,
        doctor_id: int | None = None,
        clinic_id: int | None = None,
        first_day: int | None = None,
        last_day: int | None = None,
        channel: int = 31,
        entitled: int = 96,
        now: float | None = None,
        first_unit: int = 0,
    ) -> list[int]: ...
    def hold(
        self,
        doctor_id: int,
        day: int,
        start: int,
        length: int,
        token: str,
        expires_at: float,
        *,
        channel: int,
        entitled: int = 0,
        now: float | None = None,
    ) -> None: ...
    def book(
        self,
        doctor_id: int,
        day: int,
        start: int,
        length: int,
        *,
        channel: int,
        entitled: int = 0,
        now: float | None = None,
    ) -> None: ...
    def confirm(
        self, doctor_id: int, day: int, start: int, token: str, now: float | None = None
    ) -> int: ...
    def release_hold(self, token: str, now: float | None = None) -> HoldInfo: ...
    def release(self, doctor_id: int, day: int, start: int, now: float | None = None) -> int: ...
    def expire(self, now: float) -> int: ...
    def apply(self, event: object) -> bool: ...
    def day_states(self, doctor_id: int, day: int) -> bytes: ...
    def day_flags(self, doctor_id: int, day: int) -> bytes: ...
    def appointments(self, doctor_id: int, day: int) -> list[tuple[int, int]]: ...
    def holds(self) -> list[HoldInfo]: ...
    def hold_info(self, token: str) -> HoldInfo | None: ...
    def holder(self, doctor_id: int, day: int, unit: int) -> str | None: ...
    def snapshot(self) -> bytes: ...
    @classmethod
    def restore(cls, data: bytes) -> Calendar: ...
