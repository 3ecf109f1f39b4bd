"""What the portal's pages share: the session cookie and its policy, the patient a page
acts for (the signed-in one or a linked child), the districts to search near."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.response import Template

from imias.booking.caller import acting_patient
from imias.booking.service import BookingService
from imias.channels.web.pages import page
from imias.platform.identity import allow, principal_of
from imias.platform.identity.policies import POLICY, Policy
from imias.platform.problems import ProblemError

COOKIE = "imias_portal"
PORTAL = allow(
    "patient",
    data="patient: own, a linked child's (the portal's signed-in patient)",
    cookie=COOKIE,
    sign_in="/",
)
PORTAL_PUBLIC = {POLICY: Policy(public=True, data="no personal data (the portal's sign-in)")}


def booking_of(request: Request[Any, Any, Any]) -> BookingService:
    return request.app.state.booking


async def acting_for(request: Request[Any, Any, Any], claimed: int | None) -> int:
    """The patient this page acts for: the signed-in one, or a linked child (``for``);
    anyone else is 404, as on the API."""
    return await acting_patient(request, claimed)


def claimed_patient(form: dict[str, str]) -> int | None:
    """A form's ``patient_id`` (a linked child), or None for the signed-in patient."""
    value = form.get("patient_id", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def appointments_url(patient: int | None) -> str:
    return "/appointments" + (f"?patient_id={patient}" if patient else "")


def portal_page(
    request: Request[Any, Any, Any], name: str, status_code: int = 200, **context: Any
) -> Template:
    try:
        signed_in = principal_of(request).role == "patient"
    except ProblemError:  # a public page (sign-in)
        signed_in = False
    return page(request, name, status_code=status_code, signed_in=signed_in, **context)


@dataclass(frozen=True)
class District:
    name: str
    lat: float
    lon: float


def districts(request: Request[Any, Any, Any]) -> list[District]:
    """The city's districts, each at the middle of its clinics (a point to search near
    for a patient who does not share their location)."""
    points: dict[str, list[tuple[float, float]]] = {}
    for clinic in request.app.state.engine.directory.clinics.values():
        points.setdefault(clinic.district, []).append((clinic.lat, clinic.lon))
    return [
        District(
            name,
            round(sum(p[0] for p in pts) / len(pts), 5),
            round(sum(p[1] for p in pts) / len(pts), 5),
        )
        for name, pts in sorted(points.items())
    ]
