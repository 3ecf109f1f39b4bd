"""A moved appointment on the portal: when the clinic took the doctor's time away, "my
appointments" shows the slot held for the patient until a deadline, to confirm, to let
go, or to choose another time (booking anything of the specialty settles it). The same
service calls as the API's (``/api/v1/relocations/{id}/...``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, post
from litestar.params import FromPath

from imias.booking import Appointment, Relocation
from imias.channels.portal.common import (
    PORTAL,
    acting_for,
    appointments_url,
    booking_of,
    claimed_patient,
)
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, redirect
from imias.platform.problems import ProblemError

#: Why the clinic took the time away, as the patient reads it.
REASONS = {
    "sick": N_("врач заболел"),
    "leave": N_("врач в отпуске"),
    "holiday": N_("праздничный день"),
    "training": N_("врач на учёбе"),
    "schedule": N_("изменилось расписание врача"),
}
DEFAULT_REASON = N_("изменилось расписание врача")


@dataclass(frozen=True)
class MoveCard:
    """A moved appointment as "my appointments" shows it (times in the clinic's zone)."""

    move: Relocation
    reason: str
    old_when: str
    offer_when: str | None
    deadline: str | None


def _shown(a: Appointment) -> str:
    return _wall(a.local_start) or ""


def _wall(local: str | None) -> str | None:
    """A wall time "2026-12-05T09:00" as the portal shows it: 05.12.2026 09:00."""
    if local is None:
        return None
    return f"{local[8:10]}.{local[5:7]}.{local[0:4]} {local[11:16]}"


async def move_cards(request: Request[Any, Any, Any], patient: int) -> list[MoveCard]:
    """The patient's open offers and the moves the clinic could offer nothing for (the
    newest of each), for "my appointments"."""
    booking = booking_of(request)
    now = booking.clock()
    cards = []
    for m in await booking.relocations.for_patient(patient, limit=20):
        live = m.state == "offered" and m.offer is not None and m.offer.status == "held"
        if not (live or (m.state == "no_offer" and m.old.starts_at > now)):
            continue
        cards.append(
            MoveCard(
                move=m,
                reason=REASONS.get(m.reason, DEFAULT_REASON),
                old_when=_shown(m.old),
                offer_when=_shown(m.offer) if m.offer else None,
                deadline=_wall(m.deadline_local),
            )
        )
    return cards


class PortalRelocationController(Controller):
    path = "/relocations"
    tags = ["portal"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @post(
        "/{relocation_id:int}/confirm",
        opt=PORTAL,
        operation_id="portalConfirmMove",
        status_code=303,
    )
    async def confirm(self, request: Request[Any, Any, Any], relocation_id: FromPath[int]) -> Any:
        claimed = await self._mine(request, relocation_id)
        moved = await booking_of(request).relocations.confirm(relocation_id)
        url = appointments_url(claimed)
        booked = moved.offer.id if moved.offer else 0
        return redirect(url + ("&" if "?" in url else "?") + f"booked={booked}")

    @post(
        "/{relocation_id:int}/decline",
        opt=PORTAL,
        operation_id="portalDeclineMove",
        status_code=303,
    )
    async def decline(self, request: Request[Any, Any, Any], relocation_id: FromPath[int]) -> Any:
        claimed = await self._mine(request, relocation_id)
        moved = await booking_of(request).relocations.decline(relocation_id)
        query = f"specialty={moved.specialty}" + (f"&patient_id={claimed}" if claimed else "")
        return redirect("/book?" + query)

    @staticmethod
    async def _mine(request: Request[Any, Any, Any], relocation_id: int) -> int | None:
        """The patient's own move (or a linked child's); another answers 404."""
        form = await form_of(request)
        claimed = claimed_patient(form)
        patient = await acting_for(request, claimed)
        row = await booking_of(request).relocations.row(relocation_id)
        if row["patient_id"] != patient:
            raise ProblemError(404, "not_found", N_("Такой записи нет."))
        return claimed
