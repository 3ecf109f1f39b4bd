"""What the portal's pages share: the session cookie and its policy, the patient a page
acts for (the signed-in one or a linked child), the districts to search near."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.response import Template

from imias.booking import BookingService, acting_patient
from imias.channels.web.pages import page
from imias.identity import allow, principal_of
from imias.platform.policy import POLICY, Policy
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
    booking: BookingService = request.app.state.booking
    return booking


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


# Words of an address that name no place (kinds of street, the city, house numbers).
_NOT_PLACES = frozenset(
    "г город москва ул улица ш шоссе пр просп проспект пер переулок наб набережная б бульвар "
    "пл площадь проезд туп тупик д дом корп корпус стр строение кв".split()
)


def address_point(request: Request[Any, Any, Any], text: str) -> tuple[float, float] | None:
    """A point for an address typed in, without an outside geocoder: the clinics whose
    own address names the same street (most words in common), at their middle. A
    deployment with a geocoding service would ask it instead."""
    words = {w for w in re.findall(r"[а-яёa-z0-9-]+", text.lower()) if w not in _NOT_PLACES}
    words = {w for w in words if len(w) >= 4 and not w.isdigit()}
    if not words:
        return None
    best, found = 0, []
    for clinic in request.app.state.engine.directory.clinics.values():
        have = set(re.findall(r"[а-яёa-z0-9-]+", clinic.address.lower()))
        score = len(words & have)
        if score > best:
            best, found = score, [clinic]
        elif score == best and score:
            found.append(clinic)
    if not found:
        return None
    return (
        round(sum(c.lat for c in found) / len(found), 5),
        round(sum(c.lon for c in found) / len(found), 5),
    )


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
