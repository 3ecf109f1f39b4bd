"""HTTP controller of moved patients (:mod:`imias.booking.relocation`): a patient's
offers, her answer (confirm, decline), and a clinic's list. Thin, as the other booking
controllers; whose data a caller reaches is decided in :mod:`.caller` and here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from imias.booking.api import PATIENT_DATA, REGISTRAR_DATA, IdPath
from imias.booking.caller import acting_patient, acts_for, caller, not_found, readable_patient
from imias.booking.relocation_views import ClinicRelocations, Relocation
from imias.booking.service import BookingService
from imias.identity import allow
from imias.platform.audit.writer import record, record_many
from imias.platform.problems import ProblemError

State = Literal["offered", "confirmed", "rebooked", "cancelled", "no_offer"]
Days = Annotated[int, QueryParameter(ge=1, le=90, description="how many days back")]
# "state" is Litestar's name for the app's state: the query parameter is read under it.
StateParam = Annotated[State | None, QueryParameter(query="state", description="only this state")]

ANSWERERS = allow(
    "patient",
    "registrar",
    data=f"{PATIENT_DATA}; registrar: a move by her clinic, or to it",
)
CLINIC_READERS = allow(
    "clinic_admin",
    "administrator",
    "registrar",
    data="clinic_admin and registrar: her own clinic's; administrator: any clinic's "
    "(patients' names: each read audited)",
)


async def answering_for(
    request: Request[Any, Any, Any], booking: BookingService, relocation_id: int
) -> int:
    """May the caller answer this offer? The patient herself (or for a linked child),
    or a registrar of the clinic that moved her or that holds the slot; another answers
    404, as a missing one."""
    row = await booking.relocations.row(relocation_id)
    principal = caller(request)
    if principal.role == "patient":
        await acting_patient(request, row["patient_id"])
    elif principal.org is None or principal.org not in (row["clinic_id"], row["offer_clinic_id"]):
        raise not_found("relocation")
    else:
        acts_for(principal, row["patient_id"])
    return relocation_id


class RelocationController(Controller):
    path = "/api/v1"
    tags = ["relocations"]

    @get(
        "/patients/{patient_id:int}/relocations",
        operation_id="listPatientRelocations",
        summary="A patient's appointments moved by the clinic, with the slot offered",
        opt=allow(
            "patient", "registrar", data=f"{PATIENT_DATA}; {REGISTRAR_DATA} (moved by or to it)"
        ),
    )
    async def for_patient(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        patient_id: IdPath,
    ) -> list[Relocation]:
        clinic = await readable_patient(request, patient_id)
        found = await booking.relocations.for_patient(patient_id)
        if clinic is not None:
            found = [
                r for r in found if clinic in (r.clinic_id, r.offer.clinic_id if r.offer else None)
            ]
        await record(booking.pool, "read", "relocations", None, patient_id)
        return found

    @post(
        "/relocations/{relocation_id:int}/confirm",
        operation_id="confirmRelocation",
        status_code=200,
        summary="Take the slot the clinic holds after moving an appointment (idempotent)",
        opt=ANSWERERS,
    )
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        relocation_id: IdPath,
    ) -> Relocation:
        await answering_for(request, booking, relocation_id)
        return await booking.relocations.confirm(relocation_id)

    @post(
        "/relocations/{relocation_id:int}/decline",
        operation_id="declineRelocation",
        status_code=200,
        summary="Let the held slot go: the patient chooses another time (idempotent)",
        opt=ANSWERERS,
    )
    async def decline(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        relocation_id: IdPath,
    ) -> Relocation:
        await answering_for(request, booking, relocation_id)
        return await booking.relocations.decline(relocation_id)

    @get(
        "/clinics/{clinic_id:int}/relocations",
        operation_id="listClinicRelocations",
        summary="The patients a clinic moved, with their offers and the count of each state",
        opt=CLINIC_READERS,
    )
    async def for_clinic(
        self,
        request: Request[Any, Any, Any],
        booking: NamedDependency[BookingService],
        clinic_id: IdPath,
        days: Days = 30,
        only: StateParam = None,
    ) -> ClinicRelocations:
        clinic_in_reach(request, booking, clinic_id)
        found = await booking.relocations.for_clinic(clinic_id, days=days, state=only)
        await record_many(
            booking.pool,
            "read",
            "relocations",
            clinic_id,
            [r.patient_id for r in found.relocations],
        )
        return found


def clinic_in_reach(
    request: Request[Any, Any, Any], booking: BookingService, clinic_id: int
) -> None:
    """A clinic's administrator and registrar reach their own clinic (another: 403); the
    city's administrator any clinic there is (else 404)."""
    principal = caller(request)
    if principal.role != "administrator":
        if principal.org != clinic_id:
            raise ProblemError(403, "forbidden", "That is another clinic's list.")
    elif clinic_id not in booking.engine.directory.clinics:
        raise ProblemError(404, "unknown_clinic", f"There is no clinic {clinic_id}.")
