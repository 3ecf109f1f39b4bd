"""What the FHIR server does: the resource types, their interactions and search
parameters, as the CapabilityStatement tells them (and nothing else)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ehr.fhir import resources as r
from ehr.fhir.search import PARAMS
from imias import __version__

if TYPE_CHECKING:
    from ehr.fhir.extension import FhirType

REGISTRY = ("Patient", "Practitioner", "Organization")
WRITABLE = ("Condition", "Observation", "AllergyIntolerance", "Immunization")
RECORD = ("Encounter", *WRITABLE)
TYPES = (*REGISTRY, *RECORD, "DocumentReference")

#: The elements of each resource an update may change (the rest must stay as read).
MUTABLE = {
    "Condition": ("clinical_status", "verification_status", "abatement_date_time", "note"),
    "Observation": ("status",),
    "AllergyIntolerance": ("clinical_status", "verification_status"),
    "Immunization": ("status",),
}


def capabilities(base: str, added: Iterable[FhirType] = ()) -> r.CapabilityStatement:
    """What this server does: exactly the interactions and search parameters above, and
    those of the types other domains add (read and search)."""
    resources = []
    for kind in TYPES:
        interactions = ["read", "vread", "history-instance", "search-type"]
        if kind in WRITABLE:
            interactions += ["create", "update"]
        resources.append(
            r.RestResource(
                type=kind,
                documentation=(
                    "Registry data: version 1, one history entry. "
                    if kind in REGISTRY
                    else "Searched per patient, newest first, keyset-paged. "
                )
                + (
                    f"Update: If-Match required (428 without, 412 stale); "
                    f"changes {', '.join(MUTABLE[kind])}."
                    if kind in WRITABLE
                    else ""
                ),
                interaction=[r.Interaction(code=c) for c in interactions],
                versioning="versioned-update" if kind in WRITABLE else "versioned",
                read_history=True,
                update_create=False if kind in WRITABLE else None,
                conditional_create=False if kind in WRITABLE else None,
                conditional_update=False if kind in WRITABLE else None,
                conditional_delete="not-supported" if kind in WRITABLE else None,
                search_param=[
                    r.SearchParam(name=p.name, type=p.type, documentation=p.documentation)
                    for p in PARAMS[kind]
                ],
            )
        )
    for extra in added:
        resources.append(
            r.RestResource(
                type=extra.kind,
                documentation=extra.documentation or None,
                interaction=[r.Interaction(code=c) for c in ("read", "search-type")],
                versioning="no-version",
                read_history=False,
                search_param=[
                    r.SearchParam(name=p.name, type=p.type, documentation=p.documentation)
                    for p in extra.params
                ],
                operation=[
                    r.Operation(name=name, definition=definition, documentation=words or None)
                    for name, definition, words in extra.operations
                ]
                or None,
            )
        )
    return r.CapabilityStatement(
        status="active",
        date=datetime.now(UTC).date().isoformat(),
        publisher="IMIAS",
        kind="instance",
        software=r.Software(name="IMIAS", version=__version__),
        implementation=r.Implementation(description="IMIAS FHIR R4 facade", url=base),
        fhir_version="4.0.1",
        format=["application/fhir+json", "json"],
        rest=[
            r.Rest(
                mode="server",
                documentation=(
                    "Signed in with the same bearer token as /api/v1 (patient or doctor); "
                    "the same access rule, masking and audit as the JSON API. Search: "
                    "_count (1-100, default 20), _sort=-date only (newest first), paging "
                    "by the Bundle's next link (an opaque _cursor); unknown parameters "
                    "are refused (400). Entries in error are not searched, but read. "
                    "Errors: OperationOutcome with the stable code in "
                    "issue.details.coding (urn:imias:problem)."
                ),
                resource=resources,
            )
        ],
    )
