"""HTTP controller of the waitlist: join, the patient's entries, leave. Thin, as the
other booking controllers (:mod:`.api`); whose data a caller reaches is decided in
:mod:`.caller`."""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from imias.booking.api import PATIENT_DATA, REGISTRAR_DATA, IdPath, PatientRef, patient_of
from imias.booking.caller import (
    acting_patient,
    caller,
    clinic_scope,
    doctor_in_scope,
    readable_patient,
    staff_waitlist_entry,
)
from imias.booking.model import Id
from imias.booking.service import BookingService
from imias.booking.waitlist import WaitlistEntry
from imias.identity import allow
from imias.platform.audit.writer import record
from imias.platform.bounds import check_day
from imias.platform.problems import ProblemError


class WaitlistRequest(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    rename={"from_day": "from", "to_day": "to"},
):
    specialty: str
    from_day: date
    to_day: date
    patient_id: Id | None = None
    clinic_id: Id | None = None
    doctor_id: Id | None = None

    def __post_init__(self) -> None:
        check_day(self.from_day, "from")
        check_day(self.to_day, "to")


class WaitlistController(Controller):
    path = "/api/v1"
    tags = ["waitlist"]

    @post(
        "/waitlist",
        operation_id="joinWaitlist",
        summary="Wait for a freed slot of a specialty (optionally a clinic or a doctor)",
        opt=allow("patient", "registrar", data=f"{PATIENT_DATA}; registrar: for her clinic"),
    )
    async def join(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        data: JSONBody[WaitlistRequest],
    ) -> WaitlistEntry:
        patient = await acting_patient(request, data.patient_id)
        clinic = clinic_scope(request)
        clinic_id = data.clinic_id
        if clinic is not None:  # a registrar puts patients on her clinic's list
            if clinic_id not in (None, clinic):
                raise ProblemError(403, "forbidden", "A registrar works for her own clinic.")
            clinic_id = clinic
            if data.doctor_id is not None:
                doctor_in_scope(request, data.doctor_id)
        return await booking.waitlist.join(
            patient, data.specialty, clinic_id, data.doctor_id, data.from_day, data.to_day
        )

    @get(
        "/patients/{patient_id:int}/waitlist",
        operation_id="listWaitlist",
        summary="A patient's waiting entries, with any open offer",
        opt=allow("patient", "registrar", data=f"{PATIENT_DATA}; {REGISTRAR_DATA}"),
    )
    async def entries(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        patient_id: IdPath,
    ) -> list[WaitlistEntry]:
        clinic = await readable_patient(request, patient_id)
        found = await booking.waitlist.entries(patient_id)
        if clinic is not None:
            found = [e for e in found if e.clinic_id == clinic]
        await record(booking.pool, "read", "waitlist", None, patient_id)
        return found

    @post(
        "/waitlist/{entry_id:int}/cancel",
        operation_id="leaveWaitlist",
        status_code=204,
        summary="Stop waiting",
        opt=allow("patient", "registrar", data=f"{PATIENT_DATA}; {REGISTRAR_DATA}"),
    )
    async def leave(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        entry_id: IdPath,
        data: JSONBody[PatientRef | None] = None,
    ) -> None:
        claimed = patient_of(data)
        if caller(request).role == "registrar":
            patient = await staff_waitlist_entry(request, claimed, entry_id)
        else:
            patient = await acting_patient(request, claimed)
        await booking.waitlist.leave(patient, entry_id)
