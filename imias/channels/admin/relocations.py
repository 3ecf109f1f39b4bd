"""Moved patients ``/admin/relocations``: the appointments a clinic cancelled when it
took a doctor's time away, each patient's offer, its deadline and its state, with the
count of each state. A clinic's administrator sees her own clinic; the city's
administrator chooses a clinic. Patients' names are shown (the clinic works with its
patients), and each listing is written to the audit log as a read of each one's data."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get
from litestar.params import QueryParameter
from litestar.response import Template

from imias.booking import BookingService
from imias.channels.admin.pages import MANAGERS, PATH
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import page, say
from imias.identity import principal_of
from imias.platform.audit.writer import record_many
from imias.platform.problems import ProblemError

State = Literal["offered", "confirmed", "rebooked", "cancelled", "no_offer"]

#: What each state is called on the page, in the order the counts are shown.
STATES = {
    "offered": N_("ждёт ответа"),
    "confirmed": N_("подтвердил(а)"),
    "rebooked": N_("выбрал(а) другое время"),
    "cancelled": N_("отменена"),
    "no_offer": N_("нечего предложить"),
}
REASONS = {
    "sick": N_("болезнь"),
    "leave": N_("отпуск"),
    "holiday": N_("праздник"),
    "training": N_("учёба"),
    "schedule": N_("расписание"),
}


class AdminRelocationController(Controller):
    path = f"{PATH}/relocations"
    tags = ["admin"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get(opt=MANAGERS, operation_id="adminRelocations")
    async def relocations(
        self,
        request: Request[Any, Any, Any],
        clinic: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)] = None,
        only: Annotated[State | None, QueryParameter(query="state")] = None,
    ) -> Template:
        principal = principal_of(request)
        booking: BookingService = request.app.state.booking
        clinics = booking.engine.directory.clinics
        if principal.role == "clinic_admin":
            if clinic not in (None, principal.org):
                raise ProblemError(403, "forbidden", say(request, "Это список другой клиники."))
            clinic = principal.org
        elif clinic is not None and clinic not in clinics:
            raise ProblemError(404, "unknown_clinic", say(request, "Такой клиники нет."))
        found = None
        if clinic is not None:
            found = await booking.relocations.for_clinic(clinic, state=only)
            await record_many(
                booking.pool,
                "read",
                "relocations",
                clinic,
                [r.patient_id for r in found.relocations],
            )
        return page(
            request,
            "admin/relocations.html",
            found=found,
            clinic=clinics.get(clinic) if clinic is not None else None,
            clinic_id=clinic,
            clinics=sorted(clinics.values(), key=lambda c: c.name),
            choose=principal.role == "administrator",
            state=only,
            states=STATES,
            reasons=REASONS,
            wall=lambda local: f"{local[8:10]}.{local[5:7]}.{local[0:4]} {local[11:16]}",
        )
