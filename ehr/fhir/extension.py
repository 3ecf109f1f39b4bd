"""Resource types another domain serves under ``/fhir/R4`` (prescriptions: Medication,
MedicationRequest, MedicationDispense).

A domain's plugin adds them to the app with :func:`add_fhir_types` when the app is
built; the FHIR controller then sends a read or a search of such a type to it, and the
CapabilityStatement lists it with its search parameters. The controller keeps what
every type shares: the routes and their policy (patient, doctor), the Bundle with its
``next`` link, the OperationOutcome of an error. Such a type is read and searched only
(no vread, history or write: 405).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from litestar import Request
from litestar.config.app import AppConfig

from ehr.fhir import resources as r
from ehr.fhir.capability import TYPES
from ehr.fhir.search import Param

#: ``app.state`` key of the added types, by resource type.
FHIR_TYPES = "fhir_types"

Page = tuple[list[r.Resource], list[object] | None]


class FhirType:
    """A resource type served by another domain: its read and its search (one page, and
    the keyset of the next one as a list of values, None on the last)."""

    kind: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    documentation: ClassVar[str] = ""
    #: Operations on the type (name, canonical definition, documentation), which the
    #: domain serves on its own routes (e.g. IHE ITI Scheduling's Appointment/$find).
    operations: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    async def read(self, request: Request[Any, Any, Any], key: str) -> r.Resource:
        raise NotImplementedError

    async def search(self, request: Request[Any, Any, Any], query: Mapping[str, list[str]]) -> Page:
        raise NotImplementedError


def add_fhir_types(app_config: AppConfig, *types: FhirType) -> None:
    """Serve ``types`` under ``/fhir/R4`` (a plugin's ``configure``)."""
    added: dict[str, FhirType] = app_config.state.setdefault(FHIR_TYPES, {})
    for kind in types:
        if kind.kind in added or kind.kind in TYPES:
            raise ValueError(f"FHIR type {kind.kind} is served already")
        added[kind.kind] = kind


def fhir_types(state: Any) -> dict[str, FhirType]:
    """The types added to an app (its ``app.state``)."""
    found: dict[str, FhirType] = state.get(FHIR_TYPES, {})
    return found
