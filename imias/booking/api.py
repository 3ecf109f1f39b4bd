"""HTTP controllers of the booking domain: thin, decode, call, encode.

Each route declares its policy (``opt``); whose data a caller reaches is decided in
:mod:`imias.booking.caller`. Reads of personal data write their audit record here,
before the answer leaves; changes write theirs in the service's transaction.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

import scheduler_core
from imias.booking import search
from imias.booking.caller import (
    IDEMPOTENCY_HEADER,
    acting_patient,
    caller,
    channel_of,
    doctor_in_scope,
    idempotency_key,
    readable_patient,
    staff_appointment,
    staff_hold,
)
from imias.booking.engine import Engine
from imias.booking.model import CHANNEL_BITS, Channel, Id
from imias.booking.service import BookingService
from imias.booking.views import Appointment, Hold
from imias.identity import PUBLIC, allow
from imias.platform.audit.writer import record, record_many
from imias.platform.bounds import check_instant
from imias.platform.openapi import required_header
from imias.platform.problems import ProblemError
from imias.registry import Doctor, Specialty

# Ids are PostgreSQL bigints: a larger number is a 400 at the door, not a 500 in SQL.
MAX_ID = 2**63 - 1
IdPath = Annotated[int, PathParameter(ge=1, le=MAX_ID)]

Limit = Annotated[int, QueryParameter(ge=1, le=50, description="How many to return")]
FromDay = Annotated[date | None, QueryParameter(name="from", description="first local day")]
ToDay = Annotated[date | None, QueryParameter(name="to", description="last local day")]
ChannelParam = Annotated[Channel, QueryParameter(description="the caller's channel")]
NEAR = "a point as latitude,longitude in degrees, e.g. 55.75,37.62"
NEAR_PATTERN = r"^-?[0-9]{1,3}(\.[0-9]+)?,-?[0-9]{1,3}(\.[0-9]+)?$"
# Documented, not enforced by the framework: the handler's check answers invalid_near.
NEAR_PARAMETER = QueryParameter(description=NEAR, schema_extra={"pattern": NEAR_PATTERN})


class DoctorOut(msgspec.Struct, frozen=True):
    id: int
    clinic_id: int
    specialty: str
    name: str
    room: str | None
    slot_minutes: int


def _specialty(engine: NamedDependency[Engine], code: str) -> Specialty:
    specialty = engine.directory.by_code.get(code)
    if specialty is None:
        raise ProblemError(404, "unknown_specialty", f"There is no specialty {code!r}.")
    return specialty


def _point(near: str) -> tuple[float, float]:
    try:
        lat_text, lon_text = near.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise ProblemError(
            400, "invalid_near", "'near' is a point as 'latitude,longitude', e.g. 55.75,37.62."
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ProblemError(400, "invalid_near", "'near' is outside the range of coordinates.")
    return lat, lon


class DirectoryController(Controller):
    path = "/api/v1"
    tags = ["directory"]
    opt = PUBLIC

    @get("/specialties", operation_id="listSpecialties", summary="Specialties")
    async def specialties(self, engine: NamedDependency[Engine]) -> list[Specialty]:
        search.ready(engine)
        return list(engine.directory.specialties.values())

    @get("/clinics", operation_id="listClinicsNear", summary="Nearest clinics with free time")
    async def clinics(
        self,
        request: Request[Any, Any, Any],
        engine: NamedDependency[Engine],
        near: Annotated[str, NEAR_PARAMETER],
        specialty: Annotated[str, QueryParameter(description="specialty code, e.g. therapist")],
        channel: ChannelParam = "web",
        limit: Limit = 10,
        from_day: FromDay = None,
        to_day: ToDay = None,
    ) -> list[search.ClinicWithTime]:
        search.ready(engine)
        lat, lon = _point(near)
        first, last = search.window(engine, from_day, to_day)
        return search.nearest_clinics(
            engine,
            lat,
            lon,
            specialty_id=_specialty(engine, specialty).id,
            limit=limit,
            first=first,
            last=last,
            channel=CHANNEL_BITS[channel],
        )

    @get(
        "/clinics/{clinic_id:int}/doctors",
        operation_id="listClinicDoctors",
        summary="Doctors of a clinic",
    )
    async def doctors(
        self,
        request: Request[Any, Any, Any],
        engine: NamedDependency[Engine],
        clinic_id: IdPath,
    ) -> list[DoctorOut]:
        search.ready(engine)
        if clinic_id not in engine.directory.clinics:
            raise ProblemError(404, "unknown_clinic", f"There is no clinic {clinic_id}.")
        return [
            _doctor_out(engine, d) for d in engine.directory.doctors_of_clinic.get(clinic_id, [])
        ]


def _doctor_out(engine: NamedDependency[Engine], doctor: Doctor) -> DoctorOut:
    return DoctorOut(
        id=doctor.id,
        clinic_id=doctor.clinic_id,
        specialty=engine.directory.specialties[doctor.specialty_id].code,
        name=doctor.full_name,
        room=doctor.room,
        slot_minutes=doctor.slot_minutes,
    )


class SearchController(Controller):
    path = "/api/v1/slots"
    tags = ["search"]
    opt = PUBLIC

    @get(operation_id="searchSlots", summary="Free slots, earliest first")
    async def slots(
        self,
        request: Request[Any, Any, Any],
        engine: NamedDependency[Engine],
        specialty: Annotated[str | None, QueryParameter(description="specialty code")] = None,
        clinic: Annotated[list[int] | None, QueryParameter(description="clinic ids")] = None,
        doctor: Annotated[
            int | None, QueryParameter(description="doctor id", ge=1, le=MAX_ID)
        ] = None,
        near: Annotated[str | None, NEAR_PARAMETER] = None,
        channel: ChannelParam = "web",
        limit: Limit = 10,
        from_day: FromDay = None,
        to_day: ToDay = None,
    ) -> list[search.FreeSlot]:
        search.ready(engine)
        first, last = search.window(engine, from_day, to_day)
        bits = CHANNEL_BITS[channel]
        if doctor is not None:
            return search.doctor_slots(engine, doctor, limit, first=first, last=last, channel=bits)
        if specialty is None:
            raise ProblemError(400, "specialty_required", "Name a specialty or a doctor.")
        specialty_id = _specialty(engine, specialty).id
        clinics = clinic
        if near is not None and not clinics:
            lat, lon = _point(near)
            nearest = engine.directory.nearest_offering(lat, lon, specialty_id, search.NEAR_CLINICS)
            clinics = [clinic.id for _, clinic in nearest]
        return search.earliest(
            engine,
            limit,
            specialty_id=specialty_id,
            clinic_ids=clinics,
            first=first,
            last=last,
            channel=bits,
        )


# -- the booking flow -----------------------------------------------------------------

# Whose data each role reaches on these routes (the route table in the README).
PATIENT_DATA = "patient: own, a linked child's, the adult who gave a code"
REGISTRAR_DATA = "registrar: her clinic's"
BOOKERS = allow("patient", "registrar", data=f"{PATIENT_DATA}; {REGISTRAR_DATA}")
# Confirming, booking and moving are retried safely with the same key (checked in caller).
IDEMPOTENT = required_header(
    IDEMPOTENCY_HEADER,
    "A key of the client's choosing, new for each booking: a retried request with the same "
    "key gets the first answer, never a second booking",
    min_length=8,
    max_length=128,
)


class SlotRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A doctor's time asked for: held, booked, or moved to."""

    doctor_id: Id
    starts_at: datetime  # with its offset, between 1900 and 2199
    patient_id: Id | None = None  # a patient's own request may omit it
    channel: Channel | None = None  # default: web for a patient, registrar for a registrar

    def __post_init__(self) -> None:
        check_instant(self.starts_at, "starts_at")


class HoldRequest(SlotRequest, frozen=True, forbid_unknown_fields=True):
    pass


class PatientRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    patient_id: Id | None = None


class BookRequest(SlotRequest, frozen=True, forbid_unknown_fields=True):
    pass


class RescheduleRequest(SlotRequest, frozen=True, forbid_unknown_fields=True):
    pass


class ReferralRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    patient_id: Id
    specialty: str
    doctor_id: Id | None = None  # the issuing doctor: the signed-in one
    valid_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30


class ReferralCreated(msgspec.Struct, frozen=True):
    id: int


def patient_of(data: PatientRef | None) -> int | None:
    return None if data is None else data.patient_id


class BookingController(Controller):
    path = "/api/v1"
    tags = ["booking"]

    @post("/holds", operation_id="holdSlot", summary="Hold a slot for a few minutes", opt=BOOKERS)
    async def hold(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        data: JSONBody[HoldRequest],
    ) -> Hold:
        channel = channel_of(caller(request), data.channel)
        patient = await acting_patient(request, data.patient_id)
        doctor_in_scope(request, data.doctor_id)
        return await booking.hold(patient, data.doctor_id, data.starts_at, channel)

    @post(
        "/holds/{token:str}/confirm",
        operation_id="confirmHold",
        operation_class=IDEMPOTENT,
        summary="Confirm a hold into an appointment (needs Idempotency-Key)",
        opt=BOOKERS,
    )
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        token: FromPath[str],
        data: JSONBody[PatientRef | None] = None,
    ) -> Appointment:
        key = idempotency_key(request)
        patient = await self._hold_patient(request, token, patient_of(data))
        return await booking.confirm(patient, token, key)

    @post(
        "/holds/{token:str}/release",
        operation_id="releaseHold",
        status_code=204,
        summary="Let a hold go",
        opt=BOOKERS,
    )
    async def release(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        token: FromPath[str],
        data: JSONBody[PatientRef | None] = None,
    ) -> None:
        patient = await self._hold_patient(request, token, patient_of(data))
        await booking.release_hold(patient, token)

    @staticmethod
    async def _hold_patient(
        request: Request[Any, Any, Any], token: str, claimed: int | None
    ) -> int:
        if caller(request).role == "registrar":
            return await staff_hold(request, token, claimed)
        return await acting_patient(request, claimed)

    @staticmethod
    async def _appointment_patient(
        request: Request[Any, Any, Any], appointment_id: int, claimed: int | None
    ) -> int:
        if caller(request).role == "registrar":
            return await staff_appointment(request, appointment_id, claimed)
        return await acting_patient(request, claimed)

    @post(
        "/appointments",
        operation_id="bookSlot",
        operation_class=IDEMPOTENT,
        summary="Book directly (needs Idempotency-Key)",
        opt=BOOKERS,
    )
    async def book(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        data: JSONBody[BookRequest],
    ) -> Appointment:
        key = idempotency_key(request)
        channel = channel_of(caller(request), data.channel)
        patient = await acting_patient(request, data.patient_id)
        doctor_in_scope(request, data.doctor_id)
        return await booking.book(patient, data.doctor_id, data.starts_at, channel, key)

    @post(
        "/appointments/{appointment_id:int}/cancel",
        operation_id="cancelAppointment",
        status_code=200,
        summary="Cancel an appointment",
        opt=BOOKERS,
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        appointment_id: IdPath,
        data: JSONBody[PatientRef | None] = None,
    ) -> Appointment:
        patient = await self._appointment_patient(request, appointment_id, patient_of(data))
        by_clinic = caller(request).role != "patient"  # a registrar's: the patient is told
        return await booking.cancel(patient, appointment_id, by_clinic=by_clinic)

    @post(
        "/appointments/{appointment_id:int}/reschedule",
        operation_id="rescheduleAppointment",
        operation_class=IDEMPOTENT,
        summary="Move an appointment (needs Idempotency-Key)",
        opt=BOOKERS,
    )
    async def reschedule(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        appointment_id: IdPath,
        data: JSONBody[RescheduleRequest],
    ) -> Appointment:
        key = idempotency_key(request)
        channel = channel_of(caller(request), data.channel)
        patient = await self._appointment_patient(request, appointment_id, data.patient_id)
        doctor_in_scope(request, data.doctor_id)
        return await booking.reschedule(
            patient, appointment_id, data.doctor_id, data.starts_at, channel, key
        )

    @post(
        "/appointments/{appointment_id:int}/check-in",
        operation_id="checkIn",
        status_code=204,
        summary="The patient has arrived",
        opt=allow(
            "registrar",
            "patient",
            data=f"{REGISTRAR_DATA}; patient: own or a linked child's, from an hour before "
            "the appointment to its end (a kiosk)",
        ),
    )
    async def check_in(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        appointment_id: IdPath,
        data: JSONBody[PatientRef | None] = None,
    ) -> None:
        if caller(request).role == "patient":
            patient = await acting_patient(request, patient_of(data))
            await booking.patient_check_in(patient, appointment_id)
            return
        await staff_appointment(request, appointment_id)
        await booking.set_visit_status(appointment_id, "arrived", ("booked",))

    @post(
        "/appointments/{appointment_id:int}/complete",
        operation_id="completeVisit",
        status_code=204,
        summary="The visit is over",
        opt=allow("doctor", data="doctor: her clinic's"),
    )
    async def complete(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        appointment_id: IdPath,
    ) -> None:
        await staff_appointment(request, appointment_id)
        await booking.set_visit_status(appointment_id, "completed", ("arrived",))

    @post(
        "/appointments/{appointment_id:int}/no-show",
        operation_id="markNoShow",
        status_code=204,
        summary="The patient did not come (after the slot began)",
        opt=allow("doctor", data="doctor: her clinic's"),
    )
    async def no_show(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        appointment_id: IdPath,
    ) -> None:
        await staff_appointment(request, appointment_id)
        await booking.mark_no_show(appointment_id)

    @get(
        "/patients/{patient_id:int}/appointments",
        operation_id="listPatientAppointments",
        summary="A patient's appointments, newest first",
        opt=allow(
            "patient",
            "registrar",
            "doctor",
            data=f"{PATIENT_DATA}; {REGISTRAR_DATA}; doctor: patients booked with her clinic, "
            "others after break-glass",
        ),
    )
    async def patient_appointments(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        patient_id: IdPath,
    ) -> list[Appointment]:
        clinic = await readable_patient(request, patient_id)
        found = await booking.patient_appointments(patient_id)
        if clinic is not None:
            found = [a for a in found if a.clinic_id == clinic]
        await record(booking.pool, "read", "appointments", None, patient_id)
        return found

    @get(
        "/doctors/{doctor_id:int}/day",
        operation_id="doctorDay",
        summary="A doctor's day",
        opt=allow("doctor", "registrar", data="doctor, registrar: her clinic's doctors"),
    )
    async def doctor_day(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        doctor_id: IdPath,
        day: Annotated[date, QueryParameter(name="date")],
    ) -> list[dict[str, Any]]:
        doctor_in_scope(request, doctor_id)
        listing = await booking.doctor_day(doctor_id, day)
        patients = [entry["appointment"].patient_id for entry in listing]
        await record_many(booking.pool, "read", "doctor_day", doctor_id, patients)
        return listing

    @post(
        "/referrals",
        operation_id="issueReferral",
        summary="A doctor refers a patient",
        opt=allow(
            "doctor", data="doctor: patients booked with her clinic, others after break-glass"
        ),
    )
    async def referral(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        data: JSONBody[ReferralRequest],
    ) -> ReferralCreated:
        doctor = caller(request).doc
        if doctor is None or data.doctor_id not in (None, doctor):
            raise ProblemError(403, "forbidden", "A doctor issues referrals in her own name.")
        doctor_in_scope(request, doctor)
        await readable_patient(request, data.patient_id)
        return ReferralCreated(
            await booking.issue_referral(data.patient_id, data.specialty, doctor, data.valid_days)
        )


class EngineState(msgspec.Struct, frozen=True):
    pid: int
    implementation: str
    digest: str
    applied_events: int


@get(
    "/api/v1/engine/state",
    operation_id="engineState",
    tags=["operations"],
    summary="This worker's engine: a digest of its state, to see that workers agree",
    opt=allow("administrator", data="no personal data: a digest of the engine's state"),
)
async def engine_state(request: Request[Any, Any, Any]) -> EngineState:
    engine: Engine = request.app.state.engine
    search.ready(engine)
    digest, events = await engine.state_digest()
    return EngineState(os.getpid(), scheduler_core.IMPLEMENTATION, digest, events)
