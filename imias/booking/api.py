"""HTTP controllers of the booking domain: thin, decode, call, encode.

So far the directory and the search (answered by the engine); holds, confirmation,
cancellation and rescheduling arrive with the rest of the booking issue.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

from imias.booking import search
from imias.booking.caller import acting_patient, acting_staff, idempotency_key
from imias.booking.directory import Doctor, Specialty
from imias.booking.engine import Engine
from imias.booking.model import CHANNEL_BITS, Channel, Id
from imias.booking.service import BookingService
from imias.booking.views import Appointment, Hold
from imias.booking.waitlist import WaitlistEntry
from imias.platform.problems import ProblemError

# Ids are PostgreSQL bigints: a larger number is a 400 at the door, not a 500 in SQL.
MAX_ID = 2**63 - 1
IdPath = Annotated[int, PathParameter(ge=1, le=MAX_ID)]

NEAR_CLINICS = 10  # a search "near me" looks at this many nearest clinics
Limit = Annotated[int, QueryParameter(ge=1, le=50, description="How many to return")]
FromDay = Annotated[date | None, QueryParameter(name="from", description="first local day")]
ToDay = Annotated[date | None, QueryParameter(name="to", description="last local day")]
ChannelParam = Annotated[Channel, QueryParameter(description="the caller's channel")]


class DoctorOut(msgspec.Struct, frozen=True):
    id: int
    clinic_id: int
    specialty: str
    name: str
    room: str | None
    slot_minutes: int


def provide_engine(state: State) -> Engine:
    """The worker's engine, for controllers (Litestar dependency injection)."""
    return state.engine


def provide_booking(state: State) -> BookingService:
    """The worker's booking service, for controllers (Litestar dependency injection)."""
    return state.booking


ENGINE = {"engine": Provide(provide_engine, sync_to_thread=False)}
BOOKING = {"booking": Provide(provide_booking, sync_to_thread=False)}


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
    dependencies = ENGINE

    @get("/specialties", operation_id="listSpecialties", summary="Specialties")
    async def specialties(self, engine: NamedDependency[Engine]) -> list[Specialty]:
        search._ready(engine)
        return list(engine.directory.specialties.values())

    @get("/clinics", operation_id="listClinicsNear", summary="Nearest clinics with free time")
    async def clinics(
        self,
        request: Request[Any, Any, Any],
        engine: NamedDependency[Engine],
        near: Annotated[str, QueryParameter(description="latitude,longitude")],
        specialty: Annotated[str, QueryParameter(description="specialty code, e.g. therapist")],
        channel: ChannelParam = "web",
        limit: Limit = 10,
        from_day: FromDay = None,
        to_day: ToDay = None,
    ) -> list[search.ClinicWithTime]:
        search._ready(engine)
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
        search._ready(engine)
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
    dependencies = ENGINE

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
        near: Annotated[str | None, QueryParameter(description="latitude,longitude")] = None,
        channel: ChannelParam = "web",
        limit: Limit = 10,
        from_day: FromDay = None,
        to_day: ToDay = None,
    ) -> list[search.FreeSlot]:
        search._ready(engine)
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
            nearest = engine.directory.nearest_offering(lat, lon, specialty_id, NEAR_CLINICS)
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


class HoldRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    patient_id: Id
    doctor_id: Id
    starts_at: datetime
    channel: Channel = "web"


class PatientRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    patient_id: Id


class BookRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    patient_id: Id
    doctor_id: Id
    starts_at: datetime
    channel: Channel = "registrar"


class RescheduleRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    patient_id: Id
    doctor_id: Id
    starts_at: datetime
    channel: Channel = "web"


class ReferralRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    patient_id: Id
    specialty: str
    doctor_id: Id
    valid_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30


class ReferralCreated(msgspec.Struct, frozen=True):
    id: int


class BookingController(Controller):
    path = "/api/v1"
    tags = ["booking"]
    dependencies = BOOKING

    @post("/holds", operation_id="holdSlot", summary="Hold a slot for a few minutes")
    async def hold(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        data: JSONBody[HoldRequest],
    ) -> Hold:
        patient = acting_patient(request, data.patient_id)
        return await booking.hold(patient, data.doctor_id, data.starts_at, data.channel)

    @post(
        "/holds/{token:str}/confirm",
        operation_id="confirmHold",
        summary="Confirm a hold into an appointment (needs Idempotency-Key)",
    )
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        token: FromPath[str],
        data: JSONBody[PatientRef],
    ) -> Appointment:
        patient = acting_patient(request, data.patient_id)
        return await booking.confirm(patient, token, idempotency_key(request))

    @post(
        "/holds/{token:str}/release",
        operation_id="releaseHold",
        status_code=204,
        summary="Let a hold go",
    )
    async def release(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        token: FromPath[str],
        data: JSONBody[PatientRef],
    ) -> None:
        await booking.release_hold(acting_patient(request, data.patient_id), token)

    @post(
        "/appointments",
        operation_id="bookSlot",
        summary="Book directly (registrar; needs Idempotency-Key)",
    )
    async def book(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        data: JSONBody[BookRequest],
    ) -> Appointment:
        patient = acting_patient(request, data.patient_id)
        return await booking.book(
            patient, data.doctor_id, data.starts_at, data.channel, idempotency_key(request)
        )

    @post(
        "/appointments/{appointment_id:int}/cancel",
        operation_id="cancelAppointment",
        status_code=200,
        summary="Cancel an appointment",
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        appointment_id: IdPath,
        data: JSONBody[PatientRef],
    ) -> Appointment:
        patient = acting_patient(request, data.patient_id)
        return await booking.cancel(patient, appointment_id)

    @post(
        "/appointments/{appointment_id:int}/reschedule",
        operation_id="rescheduleAppointment",
        summary="Move an appointment (needs Idempotency-Key)",
    )
    async def reschedule(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        appointment_id: IdPath,
        data: JSONBody[RescheduleRequest],
    ) -> Appointment:
        patient = acting_patient(request, data.patient_id)
        return await booking.reschedule(
            patient,
            appointment_id,
            data.doctor_id,
            data.starts_at,
            data.channel,
            idempotency_key(request),
        )

    @post(
        "/appointments/{appointment_id:int}/check-in",
        operation_id="checkIn",
        status_code=204,
        summary="The patient has arrived",
    )
    async def check_in(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        appointment_id: IdPath,
    ) -> None:
        acting_staff(request, "registrar")
        await booking.set_visit_status(appointment_id, "arrived", ("booked",))

    @post(
        "/appointments/{appointment_id:int}/complete",
        operation_id="completeVisit",
        status_code=204,
        summary="The visit is over",
    )
    async def complete(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        appointment_id: IdPath,
    ) -> None:
        acting_staff(request, "doctor")
        await booking.set_visit_status(appointment_id, "completed", ("arrived",))

    @get(
        "/patients/{patient_id:int}/appointments",
        operation_id="listPatientAppointments",
        summary="A patient's appointments, newest first",
    )
    async def patient_appointments(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        patient_id: IdPath,
    ) -> list[Appointment]:
        return await booking.patient_appointments(acting_patient(request, patient_id))

    @get("/doctors/{doctor_id:int}/day", operation_id="doctorDay", summary="A doctor's day")
    async def doctor_day(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        doctor_id: IdPath,
        day: Annotated[date, QueryParameter(name="date")],
    ) -> list[dict[str, Any]]:
        acting_staff(request, "doctor")
        return await booking.doctor_day(doctor_id, day)

    @post("/referrals", operation_id="issueReferral", summary="A doctor refers a patient")
    async def referral(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        data: JSONBody[ReferralRequest],
    ) -> ReferralCreated:
        acting_staff(request, "doctor")
        service = booking
        return ReferralCreated(
            await service.issue_referral(
                data.patient_id, data.specialty, data.doctor_id, data.valid_days
            )
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
)
async def engine_state(request: Request[Any, Any, Any]) -> EngineState:
    import hashlib
    import os

    import scheduler_core
    from scheduler_core._snapshot import HEADER

    engine = request.app.state.engine
    cal = search._ready(engine)
    data = cal.snapshot()  # type: ignore[attr-defined]
    # Leave out the header's clock (the last field): replicas differ only in when they
    # last looked at the time, not in what they hold.
    digest = hashlib.sha256(data[: HEADER.size - 8] + data[HEADER.size :]).hexdigest()
    return EngineState(os.getpid(), scheduler_core.IMPLEMENTATION, digest, engine.applied_events)


class WaitlistRequest(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    rename={"from_day": "from", "to_day": "to"},
):
    patient_id: Id
    specialty: str
    from_day: date
    to_day: date
    clinic_id: Id | None = None
    doctor_id: Id | None = None


class WaitlistController(Controller):
    path = "/api/v1"
    tags = ["waitlist"]
    dependencies = BOOKING

    @post(
        "/waitlist",
        operation_id="joinWaitlist",
        summary="Wait for a freed slot of a specialty (optionally a clinic or a doctor)",
    )
    async def join(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        data: JSONBody[WaitlistRequest],
    ) -> WaitlistEntry:
        patient = acting_patient(request, data.patient_id)
        return await booking.waitlist.join(
            patient, data.specialty, data.clinic_id, data.doctor_id, data.from_day, data.to_day
        )

    @get(
        "/patients/{patient_id:int}/waitlist",
        operation_id="listWaitlist",
        summary="A patient's waiting entries, with any open offer",
    )
    async def entries(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        patient_id: IdPath,
    ) -> list[WaitlistEntry]:
        return await booking.waitlist.entries(acting_patient(request, patient_id))

    @post(
        "/waitlist/{entry_id:int}/cancel",
        operation_id="leaveWaitlist",
        status_code=204,
        summary="Stop waiting",
    )
    async def leave(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        entry_id: IdPath,
        data: JSONBody[PatientRef],
    ) -> None:
        await booking.waitlist.leave(acting_patient(request, data.patient_id), entry_id)
