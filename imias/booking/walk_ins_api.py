"""HTTP controller of the walk-in queue (:mod:`.walk_ins`), under a clinic: the
registrar and the doctors of the clinic, and its administrator (reading). Thin; another
clinic is refused (403 ``forbidden``) before anything of it is read."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from imias.booking.api import IdPath
from imias.booking.caller import caller
from imias.booking.service import BookingService
from imias.booking.walk_ins import WalkIn, WalkInAdd, WalkInQueue
from imias.identity import allow
from imias.platform.problems import ProblemError

DATA = "their own clinic's walk-in queue: patients' names, complaints and waits"


def own_clinic(request: Request[Any, Any, Any], clinic_id: int) -> int:
    """The caller works at ``clinic_id`` (her token's clinic), else 403."""
    if caller(request).org != clinic_id:
        raise ProblemError(403, "forbidden", "This is another clinic's queue.")
    return clinic_id


class WalkInController(Controller):
    path = "/api/v1/clinics/{clinic_id:int}/walk-ins"
    tags = ["walk-ins"]

    @get(
        operation_id="listWalkIns",
        summary="Today's walk-in queue of the clinic (its day, in its zone), with each wait",
        opt=allow("registrar", "doctor", "clinic_admin", data=DATA),
    )
    async def queue(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        clinic_id: IdPath,
    ) -> WalkInQueue:
        return await booking.walk_ins.queue(own_clinic(request, clinic_id))

    @post(
        operation_id="addWalkIn",
        status_code=201,
        summary="Add a patient without an appointment to today's queue",
        opt=allow("registrar", data=DATA),
    )
    async def add(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        clinic_id: IdPath,
        data: JSONBody[WalkInAdd],
    ) -> WalkIn:
        clinic = own_clinic(request, clinic_id)
        return await booking.walk_ins.add(caller(request), clinic, data)

    @post(
        "/call",
        operation_id="callNextWalkIn",
        status_code=200,
        summary="The duty doctor calls the next (urgent first, then the longest waiting)",
        opt=allow("doctor", data=DATA),
    )
    async def call(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        clinic_id: IdPath,
    ) -> WalkIn:
        clinic = own_clinic(request, clinic_id)
        return await booking.walk_ins.call_next(caller(request), clinic)

    @post(
        "/{entry_id:int}/seen",
        operation_id="walkInSeen",
        status_code=200,
        summary="The doctor who called has seen the patient",
        opt=allow("doctor", data=DATA),
    )
    async def seen(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        clinic_id: IdPath,
        entry_id: IdPath,
    ) -> WalkIn:
        clinic = own_clinic(request, clinic_id)
        return await booking.walk_ins.end(caller(request), clinic, entry_id, "seen")

    @post(
        "/{entry_id:int}/left",
        operation_id="walkInLeft",
        status_code=200,
        summary="The patient went away (a registrar: waiting or called; a doctor: hers)",
        opt=allow("registrar", "doctor", data=DATA),
    )
    async def left(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        clinic_id: IdPath,
        entry_id: IdPath,
    ) -> WalkIn:
        clinic = own_clinic(request, clinic_id)
        return await booking.walk_ins.end(caller(request), clinic, entry_id, "left")
