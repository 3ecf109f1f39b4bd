"""HTTP controllers of the booking domain: thin, decode, call, encode.

So far the directory and the search (answered by the engine); holds, confirmation,
cancellation and rescheduling arrive with the rest of the booking issue.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath, QueryParameter

from imias.booking import search
from imias.booking.directory import Doctor, Specialty
from imias.booking.engine import Engine
from imias.booking.model import CHANNEL_BITS, Channel
from imias.platform.problems import ProblemError

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


def _engine(request: Request[Any, Any, Any]) -> Engine:
    return request.app.state.engine


def _specialty(engine: Engine, code: str) -> Specialty:
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

    @get("/specialties", operation_id="listSpecialties", summary="Specialties")
    async def specialties(self, request: Request[Any, Any, Any]) -> list[Specialty]:
        engine = _engine(request)
        search._ready(engine)
        return list(engine.directory.specialties.values())

    @get("/clinics", operation_id="listClinicsNear", summary="Nearest clinics with free time")
    async def clinics(
        self,
        request: Request[Any, Any, Any],
        near: Annotated[str, QueryParameter(description="latitude,longitude")],
        specialty: Annotated[str, QueryParameter(description="specialty code, e.g. therapist")],
        channel: ChannelParam = "web",
        limit: Limit = 10,
        from_day: FromDay = None,
        to_day: ToDay = None,
    ) -> list[search.ClinicWithTime]:
        engine = _engine(request)
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
        self, request: Request[Any, Any, Any], clinic_id: FromPath[int]
    ) -> list[DoctorOut]:
        engine = _engine(request)
        search._ready(engine)
        if clinic_id not in engine.directory.clinics:
            raise ProblemError(404, "unknown_clinic", f"There is no clinic {clinic_id}.")
        return [
            _doctor_out(engine, d) for d in engine.directory.doctors_of_clinic.get(clinic_id, [])
        ]


def _doctor_out(engine: Engine, doctor: Doctor) -> DoctorOut:
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

    @get(operation_id="searchSlots", summary="Free slots, earliest first")
    async def slots(
        self,
        request: Request[Any, Any, Any],
        specialty: Annotated[str | None, QueryParameter(description="specialty code")] = None,
        clinic: Annotated[list[int] | None, QueryParameter(description="clinic ids")] = None,
        doctor: Annotated[int | None, QueryParameter(description="doctor id")] = None,
        near: Annotated[str | None, QueryParameter(description="latitude,longitude")] = None,
        channel: ChannelParam = "web",
        limit: Limit = 10,
        from_day: FromDay = None,
        to_day: ToDay = None,
    ) -> list[search.FreeSlot]:
        engine = _engine(request)
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
