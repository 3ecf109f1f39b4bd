"""The dashboard's figures as JSON under ``/api/v1/insights``: each figure of the page, for
the city's administrator (any scope) and a clinic administrator (her clinic's; asking for
another clinic is 403). Aggregates only: no figure names a patient."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import Parameter

from imias.identity import allow, principal_of
from insights.model import (
    ChannelShare,
    ClinicOnMap,
    Dashboard,
    EarliestBySpecialty,
    EarliestDay,
    LoadDay,
    LoadRow,
    RefusalRow,
    Scope,
    ServedDay,
    WaitRow,
)
from insights.service import Insights

INSIGHTS = allow(
    "administrator",
    "clinic_admin",
    data="aggregates, no personal data: administrator: the city, any clinic; "
    "clinic_admin: her own clinic (and the city's refusals and districts' earliest slots)",
)

FromDay = Annotated[
    date | None,
    Parameter(query="from", description="first local day (default: 29 days before 'to')"),
]
ToDay = Annotated[date | None, Parameter(query="to", description="last local day (default: today)")]
ClinicParam = Annotated[
    int | None, Parameter(query="clinic", ge=1, description="one clinic (a clinic admin: hers)")
]
DistrictParam = Annotated[
    str | None, Parameter(query="district", max_length=100, description="one district, by name")
]
SpecialtyParam = Annotated[
    str | None, Parameter(query="specialty", max_length=64, description="a specialty's code")
]


class Waits(msgspec.Struct, frozen=True):
    clinics: list[WaitRow]
    total: WaitRow


async def scope_of(
    request: Request[Any, Any, Any],
    insights: Insights,
    first: date | None,
    last: date | None,
    clinic: int | None,
    district: str | None,
    specialty: str | None,
) -> Scope:
    """The asked scope; a clinic administrator is held to her own clinic."""
    principal = principal_of(request)
    bound = principal.org if principal.role == "clinic_admin" else None
    if principal.role == "clinic_admin" and bound is None:
        bound = -1  # a clinic role without a clinic sees nothing
    return await insights.scope(
        first=first,
        last=last,
        clinic_id=clinic,
        district=district,
        specialty=specialty,
        bound_to=bound,
    )


class InsightsController(Controller):
    path = "/api/v1/insights"
    tags = ["insights"]
    opt = INSIGHTS

    @get(operation_id="getInsights", summary="Every figure of the dashboard at once")
    async def everything(
        self,
        request: Request[Any, Any, Any],
        insights: Insights,
        from_day: FromDay = None,
        to_day: ToDay = None,
        clinic: ClinicParam = None,
        district: DistrictParam = None,
        specialty: SpecialtyParam = None,
    ) -> Dashboard:
        s = await scope_of(request, insights, from_day, to_day, clinic, district, specialty)
        return await insights.dashboard(s)

    @get(
        "/earliest",
        operation_id="getInsightsEarliest",
        summary="Days to the earliest free slot, per day",
    )
    async def earliest(
        self,
        request: Request[Any, Any, Any],
        insights: Insights,
        from_day: FromDay = None,
        to_day: ToDay = None,
        clinic: ClinicParam = None,
        district: DistrictParam = None,
        specialty: SpecialtyParam = None,
    ) -> list[EarliestDay]:
        s = await scope_of(request, insights, from_day, to_day, clinic, district, specialty)
        return await insights.earliest(s)

    @get(
        "/earliest/specialties",
        operation_id="getInsightsEarliestBySpecialty",
        summary="Days to the earliest free slot, per specialty",
    )
    async def earliest_by_specialty(
        self,
        request: Request[Any, Any, Any],
        insights: Insights,
        from_day: FromDay = None,
        to_day: ToDay = None,
        clinic: ClinicParam = None,
        district: DistrictParam = None,
    ) -> list[EarliestBySpecialty]:
        s = await scope_of(request, insights, from_day, to_day, clinic, district, None)
        return await insights.earliest_by_specialty(s)

    @get(
        "/served",
        operation_id="getInsightsServed",
        summary="Share of bookings for the same or next day",
    )
    async def served(
        self,
        request: Request[Any, Any, Any],
        insights: Insights,
        from_day: FromDay = None,
        to_day: ToDay = None,
        clinic: ClinicParam = None,
        district: DistrictParam = None,
        specialty: SpecialtyParam = None,
    ) -> list[ServedDay]:
        s = await scope_of(request, insights, from_day, to_day, clinic, district, specialty)
        return await insights.served(s)

    @get(
        "/load",
        operation_id="getInsightsLoad",
        summary="Booked against offered time per clinic and specialty",
    )
    async def load(
        self,
        request: Request[Any, Any, Any],
        insights: Insights,
        from_day: FromDay = None,
        to_day: ToDay = None,
        clinic: ClinicParam = None,
        district: DistrictParam = None,
        specialty: SpecialtyParam = None,
    ) -> list[LoadRow]:
        s = await scope_of(request, insights, from_day, to_day, clinic, district, specialty)
        return await insights.load_by_clinic(s)

    @get(
        "/load/days",
        operation_id="getInsightsLoadDays",
        summary="Booked against offered time per day",
    )
    async def load_days(
        self,
        request: Request[Any, Any, Any],
        insights: Insights,
        from_day: FromDay = None,
        to_day: ToDay = None,
        clinic: ClinicParam = None,
        district: DistrictParam = None,
        specialty: SpecialtyParam = None,
    ) -> list[LoadDay]:
        s = await scope_of(request, insights, from_day, to_day, clinic, district, specialty)
        return await insights.load_days(s)

    @get("/channels", operation_id="getInsightsChannels", summary="Bookings made per channel")
    async def channels(
        self,
        request: Request[Any, Any, Any],
        insights: Insights,
        from_day: FromDay = None,
        to_day: ToDay = None,
        clinic: ClinicParam = None,
        district: DistrictParam = None,
    ) -> list[ChannelShare]:
        s = await scope_of(request, insights, from_day, to_day, clinic, district, None)
        return await insights.channels(s)

    @get(
        "/waits",
        operation_id="getInsightsWaits",
        summary="The wait in the clinic against the 20-minute mark",
    )
    async def waits(
        self,
        request: Request[Any, Any, Any],
        insights: Insights,
        from_day: FromDay = None,
        to_day: ToDay = None,
        clinic: ClinicParam = None,
        district: DistrictParam = None,
    ) -> Waits:
        s = await scope_of(request, insights, from_day, to_day, clinic, district, None)
        clinics, total = await insights.waits(s)
        return Waits(clinics=clinics, total=total)

    @get(
        "/refusals",
        operation_id="getInsightsRefusals",
        summary="Bookings refused, by rule code (the city's)",
    )
    async def refusals(
        self,
        request: Request[Any, Any, Any],
        insights: Insights,
        from_day: FromDay = None,
        to_day: ToDay = None,
    ) -> list[RefusalRow]:
        s = await scope_of(request, insights, from_day, to_day, None, None, None)
        return await insights.refusals(s)

    @get(
        "/map",
        operation_id="getInsightsMap",
        summary="The clinics with their earliest slot and wait",
    )
    async def map(
        self,
        request: Request[Any, Any, Any],
        insights: Insights,
        from_day: FromDay = None,
        to_day: ToDay = None,
        clinic: ClinicParam = None,
        district: DistrictParam = None,
        specialty: SpecialtyParam = None,
    ) -> list[ClinicOnMap]:
        s = await scope_of(request, insights, from_day, to_day, clinic, district, specialty)
        return await insights.map(s)
