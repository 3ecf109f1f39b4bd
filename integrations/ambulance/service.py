"""The ambulance adapter's use cases: the crew's emergency summary (the patient found by
policy or by name and birth date), a finished call written in the patient's record
(once per message, in the inbound message's transaction), and the active visit a call
left at home asks of the attached clinic, booked by a worker after that transaction.

Who writes: each station has a system staff account (``ambulance-station-<id>``, role
``ambulance_crew``, disabled, no password; made on its first call), the author of its
calls' encounters, diagnoses and vitals, and the one in whose name the active visit is
booked: the patient's access log says the ambulance station wrote and booked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from ehr import AmbulanceCall, Records
from ehr import fhir_mapping as mapping
from imias.booking import CHANNEL_BITS, Appointment, BookingService, FreeSlot, search
from imias.identity import Principal, system_account
from imias.platform.audit import Access, access_var, record, record_many
from imias.platform.db import Connection, Executor
from imias.platform.notices import Notice, write_notice
from imias.platform.problems import ProblemError
from imias.registry import PatientCard, patients, station
from integrations.ambulance import repository as repo
from integrations.ambulance.fhir import DocumentBundle, summary_bundle
from integrations.ambulance.model import (
    ACTIVE_VISIT_AUDIENCE,
    ActiveVisit,
    ArrangedVisit,
    CallIn,
    PatientRef,
    Recorded,
)
from integrations.ambulance.rules import (
    due_by,
    protocol_of,
    specialty_for,
    station_account_name,
    station_username,
)
from integrations.model import Message
from integrations.routing import enqueue

log = logging.getLogger("imias.integrations.ambulance")

Clock = Callable[[], datetime]


@contextlib.contextmanager
def acting(access: Access) -> Iterator[None]:
    """Audit what runs inside as ``access`` (a station's system account)."""
    token = access_var.set(access)
    try:
        yield
    finally:
        access_var.reset(token)


def station_access(author_id: int, station_id: int) -> Access:
    return Access(actor_id=author_id, actor_role="ambulance_crew", actor_org=station_id)


async def find_patient(conn: Executor, ref: PatientRef, *, missing: ProblemError) -> PatientCard:
    """The one patient ``ref`` names (``missing`` if none; 409 ``ambiguous_patient`` if
    several share the name and birth date). Audited as a search of the register."""
    if ref.policy is not None:
        found = await patients.find(conn, policy_number=ref.policy)
    elif ref.family and ref.birth_date:
        found = await patients.find(conn, family_name=ref.family, birth_date=ref.birth_date)
        if ref.given:
            given = ref.given.strip().casefold()
            found = [p for p in found if (p.name.split(" ") + [""])[1].casefold() == given]
    else:
        raise ProblemError(
            400, "patient_required", "Name the patient: a policy number, or family, given "
            "name and birth date.",
        )  # fmt: skip
    if not found:
        raise missing
    if len(found) > 1:
        raise ProblemError(
            409,
            "ambiguous_patient",
            f"{len(found)} patients have this name and birth date: ask for the policy number "
            "(or the patient's id).",
        )
    return found[0]


class Ambulance:
    """The crew's summary and the calls in."""

    def __init__(self, pool: asyncpg.Pool, records: Records, time_zone: str) -> None:
        self.pool = pool
        self.records = records
        self.zone = ZoneInfo(time_zone)

    # -- the emergency summary ----------------------------------------------------------

    async def patient_of(self, ref: PatientRef) -> int:
        missing = ProblemError(404, "not_found", "There is no such patient.")
        return (await find_patient(self.pool, ref, missing=missing)).id

    async def summary(
        self,
        principal: Principal,
        patient_id: int,
        *,
        call: str,
        reason: str,
        emergency: bool,
        base: str,
        lang: str,
    ) -> DocumentBundle:
        card, entry = await self.records.emergency_summary(
            principal, patient_id, call=call, reason=reason, emergency=emergency, lang=lang
        )
        clinic = None
        if card.patient.attached_clinic_id is not None:
            found = await self.records.fhir_organizations(card.patient.attached_clinic_id, None, 1)
            clinic = mapping.organization(found[0]) if found else None
        return summary_bundle(
            card, mapping.patient(entry), clinic, base=base, now=self.records.clock(), lang=lang
        )

    # -- a call in ------------------------------------------------------------------------

    async def record_call(
        self, conn: Connection, partner_id: str, message_id: str, call: CallIn
    ) -> Recorded:
        """Write ``call`` in the patient's record, in the caller's transaction: the
        encounter (by the station's system account), the call's row, and the active visit
        when the patient was left at home. Any refusal leaves nothing written."""
        found = await station(conn, call.station_id)
        if found is None:
            raise ProblemError(422, "unknown_station", f"There is no station {call.station_id}.")
        try:
            author = await system_account(
                conn,
                station_username(found.id),
                "ambulance_crew",
                station_account_name(found.id, found.name),
                found.id,
            )
        except ValueError:  # a person's account has the station's name: the operator's
            log.error("the station %s's system account name is a person's", found.id)
            raise ProblemError(
                503, "station_account_unavailable", "The station's account is misconfigured."
            ) from None
        now = self.records.clock()
        with acting(station_access(author, found.id)):
            unknown = ProblemError(422, "unknown_patient", "No patient matches the call's.")
            patient = await find_patient(conn, call.patient, missing=unknown)
            if patient.attached_clinic_id is None:
                raise ProblemError(
                    422, "patient_not_attached", "The patient is attached to no clinic."
                )
            clinic = patient.attached_clinic_id
            encounter = await self.records.record_ambulance_call(
                conn,
                AmbulanceCall(
                    patient_id=patient.id,
                    clinic_id=clinic,
                    started_at=call.started_at,
                    ended_at=call.ended_at,
                    protocol=protocol_of(call, found.name, self.zone),
                    diagnoses=call.diagnoses,
                    vitals=call.vitals,
                ),
                author_id=author,
            )
            call_id: int = await conn.fetchval(
                repo.INSERT_CALL, patient.id, partner_id, message_id, call.call_number,
                found.id, encounter.id, clinic, call.outcome, call.started_at, call.ended_at, now,
            )  # fmt: skip
            task_id = None
            if call.outcome == "home":
                specialty = specialty_for(patient.birth_date, now.astimezone(self.zone).date())
                task_id = await conn.fetchval(
                    repo.INSERT_ACTIVE_VISIT, clinic, patient.id, call_id, call.call_number,
                    partner_id, found.id, author, specialty, due_by(now), now,
                )  # fmt: skip
                await conn.execute(repo.NOTIFY, str(task_id))
                await record(conn, "create", "active_visit", task_id, patient.id)
        return Recorded(
            call_id=call_id,
            patient_id=patient.id,
            encounter_id=encounter.id,
            condition_ids=[c.id for c in encounter.diagnoses],
            observation_ids=[o.id for o in encounter.vitals],
            active_visit_id=task_id,
        )


class ActiveVisits:
    """The active visits: booked by :meth:`book_next` (the worker, after the call's
    transaction: the task row is the queue, so nothing is lost on a crash), shown to the
    clinic's registrar while open, marked done by her."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        booking: BookingService,
        clock: Clock | None = None,
    ) -> None:
        self.pool = pool
        self.booking = booking
        self.clock = clock or booking.clock
        self.booked = 0
        self.opened = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- the worker -------------------------------------------------------------------

    def start(self, dsn: str, interval: float = 5.0) -> None:
        self._task = asyncio.create_task(self._run(dsn, interval), name="imias-active-visits")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        self._wake.set()

    async def _run(self, dsn: str, interval: float) -> None:
        listener: asyncpg.Connection | None = None
        while True:
            try:
                if listener is None or listener.is_closed():
                    listener = await asyncpg.connect(dsn)
                    await listener.add_listener(repo.NOTIFY_CHANNEL, lambda *_: self.wake())
                await self.book_all()
            except asyncio.CancelledError:
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await listener.close()
                raise
            except Exception:  # the database away, the engine loading: try again later
                log.exception("active visits: a round failed")
                listener = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()

    async def book_all(self) -> int:
        done = 0
        while await self.book_next() is not None:
            done += 1
        return done

    async def book_next(self) -> ActiveVisit | None:
        """Take the oldest new task, book it or leave it open for the registrar, tell the
        dispatch system, and the patient when booked; the task as it is now (None: no
        task was waiting)."""
        if self.booking.engine.calendar is None:
            return None  # the engine is loading: the next round books
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(repo.CLAIM_NEW)
            if row is None:
                return None
            task = repo.active_visit_of(row)
            with acting(station_access(task.author_id, task.station_id)):
                booked, note = await self._book(task)
            now = self.clock()
            if booked is not None:
                await conn.execute(
                    repo.MARK_BOOKED, task.clinic_id, task.id, booked.id, booked.starts_at,
                    booked.doctor_name, "system", now,
                )  # fmt: skip
                task = msgspec.structs.replace(
                    task, status="booked", appointment_id=booked.id,
                    starts_at=booked.starts_at, doctor_name=booked.doctor_name,
                    booked_by="system",
                )  # fmt: skip
                self.booked += 1
            else:
                await repo.mark_open(conn, task, note, now)
                task = msgspec.structs.replace(task, status="open", note=note)
                self.opened += 1
            card = await _card(conn, task.patient_id)
            await enqueue(
                conn,
                [_notice(task, booked, card, self.booking)],
                source=f"active_visit:{task.clinic_id}:{task.id}",
            )
            if booked is not None:  # the patient is told, with the task marked booked
                await write_notice(conn, _patient_notice(task, booked), clinic_id=task.clinic_id)
        return task

    async def _book(self, task: ActiveVisit) -> tuple[Appointment | None, str]:
        engine = self.booking.engine
        directory = engine.directory
        specialty = directory.by_code.get(task.specialty)
        clinic = directory.clinics.get(task.clinic_id)
        if specialty is None or clinic is None:
            return None, "Нет такой специальности или поликлиники в справочнике."
        now = self.clock()
        for a in await self.booking.patient_appointments(task.patient_id):
            if (
                a.status in ("booked", "arrived")
                and a.specialty == task.specialty
                and now < a.starts_at <= task.due_by
            ):
                return a, ""  # booked already (by a round that died before it wrote so)
        zone = ZoneInfo(clinic.time_zone)
        try:
            first, last = search.window(
                engine, now.astimezone(zone).date(), task.due_by.astimezone(zone).date()
            )
        except ProblemError:
            return None, "Расписание на ближайшие сутки ещё не открыто."
        slots: list[FreeSlot] = search.earliest(
            engine, 20, specialty_id=specialty.id, clinic_ids=[clinic.id], first=first,
            last=last, channel=CHANNEL_BITS["registrar"], now=now,
        )  # fmt: skip
        refusal = ""
        for slot in (s for s in slots if s.starts_at <= task.due_by):
            key = f"active-visit:{task.id}:{slot.doctor_id}:{int(slot.starts_at.timestamp())}"
            try:
                return (
                    await self.booking.book(
                        task.patient_id, slot.doctor_id, slot.starts_at, "registrar", key
                    ),
                    "",
                )
            except ProblemError as exc:  # taken meanwhile, or a rule: try the next one
                refusal = exc.code
        if refusal:
            return None, f"Записать не удалось ({refusal}): запишите пациента вручную."
        return None, f"Нет свободного времени ({specialty.name_ru}) в ближайшие сутки."

    # -- the registrar ----------------------------------------------------------------

    async def open_of_clinic(self, clinic_id: int) -> list[ActiveVisit]:
        """The clinic's tasks not booked yet (its registrar's page), audited as a read of
        each patient named."""
        async with self.pool.acquire() as conn:
            found = await repo.open_of_clinic(conn, clinic_id)
            await _record_many(conn, [t.patient_id for t in found])
        return found

    async def mark_done(self, principal: Principal, task_id: int, note: str | None) -> None:
        """The registrar arranged it herself (booked by hand, a home visit): done."""
        if principal.org is None:
            raise ProblemError(403, "forbidden", "This account is not bound to a clinic.")
        async with self.pool.acquire() as conn, conn.transaction():
            patient = await conn.fetchval(
                repo.MARK_DONE, principal.org, task_id, f"registrar:{principal.subject}", note,
                self.clock(),
            )  # fmt: skip
            if patient is None:
                raise ProblemError(404, "not_found", "There is no such open task.")
            await record(conn, "update", "active_visit", task_id, patient)


async def _record_many(conn: Executor, patient_ids: list[int]) -> None:
    await record_many(conn, "read", "active_visits", None, patient_ids)


async def _card(conn: Executor, patient_id: int) -> PatientCard | None:
    return await patients.card(conn, patient_id)


def _patient_notice(task: ActiveVisit, a: Appointment) -> Notice:
    """The patient's ``active_visit`` notice (the notification service texts it)."""
    return Notice(
        kind="active_visit",
        patient_id=task.patient_id,
        params={
            "appointment_id": a.id,
            "clinic_id": a.clinic_id,
            "doctor_id": a.doctor_id,
            "starts_at": a.starts_at.isoformat(),
        },
    )


def _notice(
    task: ActiveVisit, booked: Appointment | None, card: PatientCard | None,
    booking: BookingService,
) -> Message:  # fmt: skip
    clinic = booking.engine.directory.clinics.get(task.clinic_id)
    notice = ArrangedVisit(
        call_number=task.call_number,
        partner_id=task.partner_id,
        patient_id=task.patient_id,
        policy_number=card.policy_number if card else "",
        clinic_id=task.clinic_id,
        clinic_name=clinic.name if clinic else "",
        status="booked" if booked is not None else "open",
        specialty=task.specialty,
        starts_at=booked.starts_at if booked else None,
        local_start=booked.local_start if booked else None,
        doctor_name=booked.doctor_name if booked else None,
        room=booked.room if booked else None,
        note=task.note,
    )
    return Message(
        audience=ACTIVE_VISIT_AUDIENCE,
        kind="ambulance.active_visit",
        content_type="application/json",
        body=msgspec.json.encode(notice),
        patient_id=task.patient_id,
        key=str(task.id),
    )


__all__ = ["ActiveVisits", "Ambulance"]
