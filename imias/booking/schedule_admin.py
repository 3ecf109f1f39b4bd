"""A clinic's schedules as its administrator runs them: a doctor's weekly templates
(with their visit length and the time kept for channels, referrals and urgent care),
exceptions (leave, sick, training, an extra shift), and the city's public holidays.

Each change is one transaction (:meth:`ScheduleAdmin._edit`): the doctors' appointments
over the engine's window are locked, the schedule is read, the rows are written, the
schedule is read again, and the difference of the two layouts of slots is planned
per doctor and day (:func:`imias.booking.slot_layout.plan_day`): appointments in time
taken away are displaced (:class:`imias.booking.relocation.Relocations`), holds on
changed time let go, and the engine's ``SlotsClosed`` / ``SlotsOpened`` events go to the
outbox with the rows, so every worker's engine applies the change from the stream a
moment after the commit, as it applies bookings. An edit that would move or cut a
booked appointment is refused whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg

from imias.booking import repository as repo
from imias.booking import schedule_repository as schedule_repo
from imias.booking.schedule_model import (
    ClinicDoctor,
    DoctorSchedule,
    ExceptionRequest,
    Holiday,
    HolidayRequest,
    ScheduleChange,
    ScheduleExceptionView,
    ScheduleTemplate,
    TemplateRequest,
    channel_names,
)
from imias.booking.schedule_rules import (
    bad,
    check_no_overlap,
    check_not_past,
    exception_of,
    hhmm,
    split_at,
    template_of,
)
from imias.booking.schedules import ScheduleException, Template, expand, to_local, to_utc
from imias.booking.slot_layout import Booked, DayPlan, Geometry, layout, plan_day, strays
from imias.booking.writes import Writes
from imias.platform import audit
from imias.platform.db import Connection
from imias.platform.problems import ProblemError
from imias.registry import full_name
from scheduler_core import events as ev

if TYPE_CHECKING:
    from imias.booking.service import BookingService

T = TypeVar("T")
log = logging.getLogger("imias.booking.schedules")
#: Seconds after an edit that took time away before its sweep for bookings that raced it
#: (placed by an engine that had not applied the edit yet: the stream brings it within a
#: second or so).
SWEEP_AFTER = 5.0


def not_found(what: str) -> ProblemError:
    return ProblemError(404, "not_found", f"There is no such {what}.")


@dataclass
class Window:
    first_day: date
    days: int

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)


class ScheduleAdmin:
    """The schedule use cases over the booking service's pool and engine."""

    def __init__(self, service: BookingService, sweep_after: float = SWEEP_AFTER) -> None:
        self.service = service
        self.pool = service.pool
        self.sweep_after = sweep_after
        self._sweeps: set[asyncio.Task[None]] = set()

    @property
    def geometry(self) -> Geometry:
        return self.service.engine.geometry

    def today(self, zone: str) -> date:
        return self.service.clock().astimezone(ZoneInfo(zone)).date()

    # -- reads ----------------------------------------------------------------------------

    async def clinic_today(self, conn: Any, clinic_id: int) -> date:
        zone = await schedule_repo.clinic_zone(conn, clinic_id)
        if zone is None:
            raise not_found("clinic")
        return self.today(zone)

    async def doctors(self, clinic_id: int) -> list[ClinicDoctor]:
        async with self.pool.acquire() as conn:
            await self.clinic_today(conn, clinic_id)
            return [_doctor(r) for r in await schedule_repo.clinic_doctors(conn, clinic_id)]

    async def _doctor(self, conn: Any, clinic_id: int, doctor_id: int) -> ClinicDoctor:
        rows = await schedule_repo.clinic_doctors(conn, clinic_id, doctor_id)
        if not rows:
            raise not_found("doctor at this clinic")
        return _doctor(rows[0])

    async def schedule(self, clinic_id: int, doctor_id: int) -> DoctorSchedule:
        async with self.pool.acquire() as conn:
            today = await self.clinic_today(conn, clinic_id)
            doctor = await self._doctor(conn, clinic_id, doctor_id)
            templates = await schedule_repo.doctor_templates(conn, clinic_id, doctor_id)
            exceptions = await schedule_repo.doctor_exceptions(conn, clinic_id, doctor_id, today)
        return DoctorSchedule(
            doctor=doctor,
            today=today,
            templates=[_template_view(r) for r in templates],
            exceptions=[_exception_view(r) for r in exceptions],
        )

    async def holidays(self, since: date | None = None) -> list[Holiday]:
        async with self.pool.acquire() as conn:
            rows = await schedule_repo.holidays_from(conn, since or date(2000, 1, 1))
        return [Holiday(day=r["day"], name=r["name"]) for r in rows]

    # -- templates ------------------------------------------------------------------------

    async def add_template(
        self, clinic_id: int, doctor_id: int, data: TemplateRequest, by: int | None
    ) -> ScheduleChange:
        async def write(conn: Connection, facts: dict[int, Any], today: date) -> int:
            template = template_of(
                doctor_id, data, today, facts[doctor_id]["slot_minutes"], self.geometry
            )
            check_no_overlap(template, await self._templates(conn, clinic_id, doctor_id))
            new_id = await schedule_repo.insert_template(conn, clinic_id, template)
            await audit.record(conn, "create", "schedule_template", new_id)
            return new_id

        new_id, change = await self._edit(clinic_id, [doctor_id], write, "template", by)
        return _with(change, id=new_id)

    async def change_template(
        self, clinic_id: int, template_id: int, data: TemplateRequest, by: int | None
    ) -> ScheduleChange:
        """The template as ``data`` says from ``data.from_day`` (default: today); the days
        before keep it as it was (its version up to the day before)."""
        doctor_id = await self._template_doctor(clinic_id, template_id)

        async def write(conn: Connection, facts: dict[int, Any], today: date) -> int:
            old = await self._locked_template(conn, clinic_id, template_id)
            since = data.from_day or today
            check_not_past(since, today, "The change's first day")
            keep, _ = split_at(old, since)
            if keep is not None and data.valid_from is not None and data.valid_from < since:
                raise bad("bad_dates", "valid_from comes before the change's first day.")
            # Dates not given keep the template's own (a change never widens it silently).
            valid_from = max(data.valid_from or max(since, old.valid_from), since)
            valid_to = data.valid_to if data.valid_to is not None else old.valid_to
            new = template_of(
                doctor_id, data, today, facts[doctor_id]["slot_minutes"], self.geometry
            )
            new = replace(new, valid_from=valid_from, valid_to=valid_to)
            if new.valid_to is not None and new.valid_to < new.valid_from:
                raise bad("bad_dates", "valid_to comes before the change's first day.")
            others = [
                t
                for i, t in await self._templates(conn, clinic_id, doctor_id, with_ids=True)
                if i != template_id
            ]
            check_no_overlap(new, others + ([keep] if keep is not None else []))
            if keep is None:
                await schedule_repo.update_template(conn, clinic_id, template_id, new)
                new_id = template_id
            else:
                await schedule_repo.update_template(conn, clinic_id, template_id, keep)
                new_id = await schedule_repo.insert_template(conn, clinic_id, new)
            await audit.record(conn, "change", "schedule_template", template_id)
            return new_id

        new_id, change = await self._edit(clinic_id, [doctor_id], write, "template", by)
        return _with(change, id=new_id)

    async def remove_template(
        self, clinic_id: int, template_id: int, since: date | None, by: int | None
    ) -> ScheduleChange:
        """No more of the template from ``since`` (default: today); the days before keep
        it."""
        doctor_id = await self._template_doctor(clinic_id, template_id)

        async def write(conn: Connection, facts: dict[int, Any], today: date) -> int:
            old = await self._locked_template(conn, clinic_id, template_id)
            first = since or today
            check_not_past(first, today, "The first day without it")
            keep, _ = split_at(old, first)
            if keep is None:
                await schedule_repo.delete_template(conn, clinic_id, template_id)
            else:
                await schedule_repo.update_template(conn, clinic_id, template_id, keep)
            await audit.record(conn, "delete", "schedule_template", template_id)
            return template_id

        removed, change = await self._edit(clinic_id, [doctor_id], write, "template", by)
        return _with(change, id=removed)

    # -- exceptions -----------------------------------------------------------------------

    async def add_exception(
        self, clinic_id: int, doctor_id: int, data: ExceptionRequest, by: int | None
    ) -> ScheduleChange:
        async def write(conn: Connection, facts: dict[int, Any], today: date) -> int:
            exception = exception_of(doctor_id, data, today, self.geometry)
            new_id = await schedule_repo.insert_exception(conn, clinic_id, exception)
            await audit.record(conn, "create", "schedule_exception", new_id)
            return new_id

        new_id, change = await self._edit(
            clinic_id, [doctor_id], write, data.kind, by, only_day=data.day
        )
        return _with(change, id=new_id, day=data.day)

    async def remove_exception(
        self, clinic_id: int, exception_id: int, by: int | None
    ) -> ScheduleChange:
        async with self.pool.acquire() as conn:
            row = await schedule_repo.exception_for_update(conn, clinic_id, exception_id)
        if row is None:
            raise not_found("exception")
        doctor_id = row["doctor_id"]

        async def write(conn: Connection, facts: dict[int, Any], today: date) -> int:
            locked = await schedule_repo.exception_for_update(conn, clinic_id, exception_id)
            if locked is None:
                raise not_found("exception")
            check_not_past(locked["day"], today)
            await schedule_repo.delete_exception(conn, clinic_id, exception_id)
            await audit.record(conn, "delete", "schedule_exception", exception_id)
            return exception_id

        removed, change = await self._edit(
            clinic_id, [doctor_id], write, "exception", by, only_day=row["day"]
        )
        return _with(change, id=removed, day=row["day"])

    # -- the city's public holidays ---------------------------------------------------------

    async def add_holiday(self, data: HolidayRequest, by: int | None) -> ScheduleChange:
        async def write(conn: Connection, facts: dict[int, Any], today: date) -> int:
            check_not_past(data.day, today)
            if not await schedule_repo.insert_holiday(conn, data.day, data.name):
                raise bad("holiday_exists", f"{data.day} is a public holiday already.", 409)
            await audit.record(conn, "create", "public_holiday", data.day.isoformat())
            return 0

        _, change = await self._edit(None, None, write, "holiday", by, only_day=data.day)
        return _with(change, day=data.day)

    async def remove_holiday(self, day: date, by: int | None) -> ScheduleChange:
        async def write(conn: Connection, facts: dict[int, Any], today: date) -> int:
            check_not_past(day, today)
            if not await schedule_repo.delete_holiday(conn, day):
                raise not_found("holiday")
            await audit.record(conn, "delete", "public_holiday", day.isoformat())
            return 0

        _, change = await self._edit(None, None, write, "holiday", by, only_day=day)
        return _with(change, day=day)

    # -- the edit, its difference and its events ---------------------------------------------

    async def _edit(
        self,
        clinic_id: int | None,
        doctor_ids: Sequence[int] | None,
        write: Callable[[Connection, dict[int, Any], date], Awaitable[T]],
        reason: str,
        by: int | None,
        only_day: date | None = None,
    ) -> tuple[T, ScheduleChange]:
        """Run ``write`` (the rows) in one transaction with its consequences: appointments
        displaced, holds let go, the engine's events (see the module's notes). With
        ``only_day`` the change touches that day only (an exception, a holiday): only it is
        compared, and only when it is in the engine's window."""
        service = self.service
        if service.engine.calendar is None:  # its directory places what is displaced
            raise ProblemError(
                503, "engine_loading", "The schedule is being loaded.", headers={"Retry-After": "2"}
            )
        now = service.clock()
        writes = service.writes()
        async with self.pool.acquire() as conn, conn.transaction():
            await schedule_repo.lock_schedules(conn, doctor_ids)
            rows = await schedule_repo.schedule_doctors(conn, doctor_ids)
            facts = {r["id"]: r for r in rows}
            if doctor_ids is not None and (
                not rows or any(r["clinic_id"] != clinic_id for r in rows)
            ):
                raise not_found("doctor at this clinic")
            zone = str(service.engine.zone)
            if clinic_id is not None:
                zone = await schedule_repo.clinic_zone(conn, clinic_id) or zone
            today = self.today(zone)
            window = self._window(today, only_day)
            if window is None:  # beyond the engine's window: the rows only
                return await write(conn, facts, today), ScheduleChange()
            appointments = await self._appointments(conn, window, zone, doctor_ids)
            before = await self._blocks(conn, window, doctor_ids)
            result = await write(conn, facts, today)
            after = await self._blocks(conn, window, doctor_ids)
            plans = self._plans(facts, before, after, appointments, now, window)
            _refuse_conflicts(plans)
            released = await self._let_holds_go(conn, plans, now, writes)
            displaced = [b.row for p in plans for b in p.displace] + _offered_holds(plans)
            count = 0
            if displaced:
                count = await service.relocations.displace(
                    conn, displaced, now=now, writes=writes, reason=reason, by=by
                )
            await self._emit(conn, plans, facts, writes)
        writes.applied()
        if any(p.closes for p in plans):
            self._sweep_later(doctor_ids, only_day)
        change = ScheduleChange(
            displaced=count, holds_released=released, engine_events=len(writes.events)
        )
        return result, change

    def _window(self, today: date, only_day: date | None) -> Window | None:
        """The engine's window from today, or only ``only_day`` (None: outside it)."""
        window = Window(today, self.geometry.days)
        if only_day is None:
            return window
        return Window(only_day, 1) if today <= only_day <= window.last_day else None

    async def _appointments(
        self, conn: Connection, window: Window, zone: str, doctor_ids: Sequence[int] | None
    ) -> list[asyncpg.Record]:
        """The live appointments and holds over the window, locked."""
        since = to_utc(window.first_day, 0, ZoneInfo(zone)) - timedelta(hours=12)
        until = to_utc(window.last_day, 24 * 60, ZoneInfo(zone)) + timedelta(hours=12)
        return await schedule_repo.active_appointments_of_doctors(conn, since, until, doctor_ids)

    async def _blocks(
        self, conn: Connection, window: Window, doctor_ids: Sequence[int] | None
    ) -> dict[int, list[Any]]:
        templates, exceptions, holidays = await schedule_repo.schedule_rows(
            conn, window.first_day, window.last_day, doctor_ids
        )
        return expand(
            [Template(**dict(r)) for r in templates],
            [ScheduleException(**dict(r)) for r in exceptions],
            window.first_day,
            window.days,
            holidays,
        )

    def _plans(
        self,
        facts: dict[int, Any],
        before: dict[int, list[Any]],
        after: dict[int, list[Any]],
        appointments: Sequence[asyncpg.Record],
        now: datetime,
        window: Window,
    ) -> list[DayPlan]:
        g = self.geometry
        first, last = window.first_day.toordinal(), window.last_day.toordinal()
        booked = self._booked(facts, appointments, now)
        plans: list[DayPlan] = []
        for doctor_id in sorted(set(before) | set(after)):
            doctor = facts.get(doctor_id)
            if doctor is None:
                continue
            shape = (doctor["slot_minutes"], g, not doctor["self_referral"])
            old = layout(before.get(doctor_id, ()), *shape)
            new = layout(after.get(doctor_id, ()), *shape)
            for day in sorted(set(old) | set(new)):
                if not first <= day <= last or old.get(day) == new.get(day):
                    continue
                plans.append(
                    plan_day(
                        day,
                        old.get(day, set()),
                        new.get(day, set()),
                        booked.get((doctor_id, day), []),
                        doctor_id,
                    )
                )
        return plans

    def _booked(
        self, facts: dict[int, Any], appointments: Sequence[asyncpg.Record], now: datetime
    ) -> dict[tuple[int, int], list[Booked]]:
        """The appointments in engine terms, by (doctor, engine day)."""
        g = self.geometry
        booked: dict[tuple[int, int], list[Booked]] = {}
        for row in appointments:
            doctor = facts.get(row["doctor_id"])
            if doctor is None:
                continue
            local_day, minute = to_local(row["starts_at"], ZoneInfo(doctor["time_zone"]))
            length = int((row["ends_at"] - row["starts_at"]).total_seconds()) // 60
            booked.setdefault((row["doctor_id"], local_day.toordinal()), []).append(
                Booked(
                    row=row,
                    start=g.unit_of(minute),
                    length=length // g.unit_minutes,
                    status=row["status"],
                    begun=row["starts_at"] <= now,
                )
            )
        return booked

    # -- what raced an edit ----------------------------------------------------------------

    async def displace_stragglers(
        self, doctor_ids: Sequence[int] | None, only_day: date | None = None
    ) -> int:
        """Displace the appointments (and let go the holds) found in time the doctors no
        longer work: a booking placed by a worker whose engine had not yet applied an edit
        can land there in the moment after the edit's commit (the database knows no
        schedule). Run a few seconds after each edit that took time away; how many."""
        service = self.service
        now = service.clock()
        writes = service.writes()
        async with self.pool.acquire() as conn, conn.transaction():
            await schedule_repo.lock_schedules(conn, doctor_ids)
            facts = {r["id"]: r for r in await schedule_repo.schedule_doctors(conn, doctor_ids)}
            zone = str(service.engine.zone)
            window = self._window(self.today(zone), only_day)
            if window is None or not facts:
                return 0
            appointments = await self._appointments(conn, window, zone, doctor_ids)
            blocks = await self._blocks(conn, window, doctor_ids)
            plans = []
            for (doctor_id, day), found in sorted(
                self._booked(facts, appointments, now).items(), key=lambda kv: kv[0]
            ):
                doctor = facts[doctor_id]
                if not window.first_day.toordinal() <= day <= window.last_day.toordinal():
                    continue
                shape = (doctor["slot_minutes"], self.geometry, not doctor["self_referral"])
                slots = layout(blocks.get(doctor_id, ()), *shape).get(day, set())
                plans.append(strays(day, slots, found, doctor_id))
            await self._let_holds_go(conn, plans, now, writes)
            displaced = [b.row for p in plans for b in p.displace] + _offered_holds(plans)
            count = 0
            if displaced:
                count = await service.relocations.displace(
                    conn, displaced, now=now, writes=writes, reason="schedule", by=None
                )
        writes.applied()
        if count:
            log.warning("%d appointments booked into time taken away were displaced", count)
        return count

    def _sweep_later(self, doctor_ids: Sequence[int] | None, only_day: date | None) -> None:
        async def sweep() -> None:
            await asyncio.sleep(self.sweep_after)
            try:
                await self.displace_stragglers(doctor_ids, only_day)
            except Exception:  # logged; the next edit or a worker's rebuild tells again
                log.exception("the sweep after a schedule edit failed")

        task = asyncio.create_task(sweep(), name="imias-schedule-sweep")
        self._sweeps.add(task)
        task.add_done_callback(self._sweeps.discard)

    async def stop(self) -> None:
        for task in list(self._sweeps):
            task.cancel()
        for task in list(self._sweeps):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _let_holds_go(
        self, conn: Connection, plans: list[DayPlan], now: datetime, writes: Writes
    ) -> int:
        """Holds on changed time end (as ``release_hold`` ends them); a waitlist offer's
        entry waits again."""
        count = 0
        for plan in plans:
            for b in plan.holds:
                row = b.row
                if row["relocation_id"] is not None:
                    continue  # a moved patient's offer: displaced, so offered anew
                if not await repo.end_hold(conn, row["clinic_id"], row["id"], now):
                    continue
                await writes.emit(conn, ev.HoldReleased(str(row["hold_token"])), row["clinic_id"])
                if row["waitlist_entry_id"] is not None:
                    await repo.set_waitlist_status(
                        conn, row["patient_id"], row["waitlist_entry_id"], "waiting", now
                    )
                count += 1
        return count

    async def _emit(
        self, conn: Connection, plans: list[DayPlan], facts: dict[int, Any], writes: Writes
    ) -> None:
        for plan in plans:
            doctor_id = plan.doctor_id
            clinic_id = facts[doctor_id]["clinic_id"]
            for b in plan.rebook:  # still worked, on new slots: let go, then booked again
                await writes.emit(conn, ev.SlotReleased(doctor_id, plan.day, b.start), clinic_id)
            for start, length in plan.closes:
                await writes.emit(
                    conn, ev.SlotsClosed(doctor_id, plan.day, start, length), clinic_id
                )
            for run in plan.opens:
                opened = ev.SlotsOpened(
                    doctor_id, plan.day, run.start, run.length, run.flags, run.count
                )
                await writes.emit(conn, opened, clinic_id)
            for b in plan.rebook:
                booked = ev.SlotBooked(doctor_id, plan.day, b.start, b.length)
                await writes.emit(conn, booked, clinic_id)

    # -- helpers --------------------------------------------------------------------------

    async def _templates(
        self, conn: Connection, clinic_id: int, doctor_id: int, with_ids: bool = False
    ) -> list[Any]:
        rows = await schedule_repo.doctor_templates(conn, clinic_id, doctor_id)
        templates = [(r["id"], _template(r)) for r in rows]
        return templates if with_ids else [t for _, t in templates]

    async def _locked_template(
        self, conn: Connection, clinic_id: int, template_id: int
    ) -> Template:
        row = await schedule_repo.template_for_update(conn, clinic_id, template_id)
        if row is None:
            raise not_found("template")
        return _template(row)

    async def _template_doctor(self, clinic_id: int, template_id: int) -> int:
        async with self.pool.acquire() as conn:
            row = await schedule_repo.template_for_update(conn, clinic_id, template_id)
        if row is None:
            raise not_found("template")
        doctor_id: int = row["doctor_id"]
        return doctor_id


def _refuse_conflicts(plans: list[DayPlan]) -> None:
    for plan in plans:
        day = date.fromordinal(plan.day)
        if plan.misfits:
            raise bad(
                "appointments_in_the_way",
                f"Appointments on {day} do not fit the new visits; let the change start "
                "after the doctor's last booked day (its 'from' day).",
                409,
            )
        if plan.arrived:
            raise bad(
                "patient_arrived",
                f"A patient has arrived for the time taken away on {day}; finish the visit first.",
                409,
            )


def _template(row: Any) -> Template:
    return Template(**{k: row[k] for k in Template.__slots__})


def _with(change: ScheduleChange, **fields: Any) -> ScheduleChange:
    return ScheduleChange(**{**{f: getattr(change, f) for f in change.__struct_fields__}, **fields})


def _doctor(row: Any) -> ClinicDoctor:
    return ClinicDoctor(
        id=row["id"],
        clinic_id=row["clinic_id"],
        name=full_name(row["family_name"], row["given_name"], row["patronymic"]),
        specialty=row["specialty"],
        room=row["room"],
        slot_minutes=row["slot_minutes"],
    )


def _template_view(row: Any) -> ScheduleTemplate:
    return ScheduleTemplate(
        id=row["id"],
        doctor_id=row["doctor_id"],
        weekday=row["weekday"],
        starts=hhmm(row["starts"]) or "",
        ends=hhmm(row["ends"]) or "",
        slot_minutes=row["slot_minutes"],
        channels=channel_names(row["channels"]),
        referral=row["referral"],
        urgent=row["urgent"],
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
    )


def _exception_view(row: Any) -> ScheduleExceptionView:
    return ScheduleExceptionView(
        id=row["id"],
        doctor_id=row["doctor_id"],
        day=row["day"],
        kind=row["kind"],
        starts=hhmm(row["starts"]),
        ends=hhmm(row["ends"]),
        channels=channel_names(row["channels"]),
    )


def _offered_holds(plans: list[DayPlan]) -> list[Any]:
    """Holds on changed time that a moved patient was offered: :meth:`Relocations.displace`
    ends them and offers the patient another time (letting them go would leave the
    relocation waiting on a hold that is gone)."""
    return [b.row for p in plans for b in p.holds if b.row["relocation_id"] is not None]
