"""FHIR R4 scheduling for outside booking apps (IHE ITI Scheduling: $find, $hold, $book,
the search of appointments; Schedule and Slot), served by the booking engine and its
use cases on the channel ``fhir`` (:mod:`.api`). The types are added to the record's
FHIR server (:func:`ehr.add_fhir_types`) so that its CapabilityStatement lists them,
their search parameters and the operations; their routes are this package's own (the
policy differs: a registrar books too, Schedule and Slot are public like
``/api/v1/slots``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request

from ehr import FhirType, fhir_search
from ehr import fhir_resources as r
from imias.platform.problems import ProblemError
from integrations.scheduling.api import SchedulingController

Param = fhir_search.Param
IHE = "https://profiles.ihe.net/ITI/Scheduling/OperationDefinition"


class _Served(FhirType):
    """A type whose read and search are :class:`SchedulingController`'s routes (which
    take precedence over the record's generic ones)."""

    async def read(self, request: Request[Any, Any, Any], key: str) -> r.Resource:
        raise ProblemError(404, "not_found", f"{self.kind} is read at /fhir/R4/{self.kind}/<id>.")

    async def search(
        self, request: Request[Any, Any, Any], query: Mapping[str, list[str]]
    ) -> tuple[list[r.Resource], list[object] | None]:
        raise ProblemError(404, "not_found", f"{self.kind} is searched at /fhir/R4/{self.kind}.")


class AppointmentType(_Served):
    kind = "Appointment"
    documentation = (
        "IHE ITI Scheduling (ITI-115 to ITI-118) over the booking engine and its rules, "
        "channel fhir; a refusal is an OperationOutcome with the booking rule's code."
    )
    params = (
        Param("patient", "reference", "Patient/<id>; a patient's own by default"),
        Param("date", "date", "the start: a day, or ge/gt/le/lt a day or dateTime"),
        Param("status", "token", "proposed|pending|booked|arrived|fulfilled|cancelled|noshow"),
    )
    operations = (
        ("find", f"{IHE}/appointment-find", "ITI-115: a Bundle of proposed appointments"),
        ("hold", f"{IHE}/appointment-hold", "ITI-116: hold one (status pending)"),
        ("book", f"{IHE}/appointment-book", "ITI-117: book a held or found one"),
    )


class ScheduleType(_Served):
    kind = "Schedule"
    documentation = "One per doctor (<clinic>-<doctor>, like Practitioner); public."
    params = (
        Param("actor", "reference", "Practitioner/<clinic>-<doctor> or Organization/<id>"),
        Param("specialty", "token", "a specialty code (urn:imias:specialty)"),
        Param("_id", "token", "<clinic>-<doctor>"),
    )


class SlotType(_Served):
    kind = "Slot"
    documentation = "A doctor's free time open to apps, from the engine; public."
    params = (
        Param("schedule", "reference", "Schedule/<clinic>-<doctor>; required"),
        Param("start", "date", "ge/gt/lt/le a day or dateTime"),
        Param("status", "token", "free (the only one searched)"),
    )


def fhir_types() -> tuple[FhirType, ...]:
    return (AppointmentType(), ScheduleType(), SlotType())


__all__ = ["SchedulingController", "fhir_types"]
