"""The FHIR R4 resources IMIAS emits and accepts, as msgspec Structs: only the elements
we fill. Absent elements are omitted (``omit_defaults``), never ``null``; names are
FHIR's camelCase; a body with an element we do not know is refused
(``forbid_unknown_fields``), so that nothing a client sends is silently dropped.

``resourceType`` is the Struct's tag: encoded first, checked when decoding."""

from __future__ import annotations

from msgspec import Struct, field


class Element(Struct, omit_defaults=True, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """A FHIR datatype."""


class Coding(Element):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class CodeableConcept(Element):
    coding: list[Coding] | None = None
    text: str | None = None


class Reference(Element):
    reference: str | None = None
    type: str | None = None
    identifier: Identifier | None = None  # a logical reference (no resource here)
    display: str | None = None


class Identifier(Element):
    system: str | None = None
    value: str | None = None


class HumanName(Element):
    text: str | None = None
    family: str | None = None
    given: list[str] | None = None


class ContactPoint(Element):
    system: str | None = None
    value: str | None = None


class Address(Element):
    text: str | None = None
    district: str | None = None


class Period(Element):
    start: str | None = None
    end: str | None = None


class Quantity(Element):
    value: float | None = None
    unit: str | None = None
    system: str | None = None
    code: str | None = None


class Annotation(Element):
    text: str


class Attachment(Element):
    content_type: str | None = None
    language: str | None = None
    data: str | None = None
    title: str | None = None


class Meta(Element):
    version_id: str | None = None
    last_updated: str | None = None
    security: list[Coding] | None = None


class Resource(
    Struct,
    tag_field="resourceType",
    omit_defaults=True,
    rename="camel",
    kw_only=True,
    forbid_unknown_fields=True,
):
    id: str | None = None
    meta: Meta | None = None


# -- the registry ------------------------------------------------------------------


class Qualification(Element):
    code: CodeableConcept


class Patient(Resource, tag="Patient"):
    identifier: list[Identifier] | None = None
    active: bool | None = None
    name: list[HumanName] | None = None
    telecom: list[ContactPoint] | None = None
    gender: str | None = None
    birth_date: str | None = None
    managing_organization: Reference | None = None


class Practitioner(Resource, tag="Practitioner"):
    identifier: list[Identifier] | None = None
    active: bool | None = None
    name: list[HumanName] | None = None
    qualification: list[Qualification] | None = None


class Organization(Resource, tag="Organization"):
    active: bool | None = None
    type: list[CodeableConcept] | None = None
    name: str | None = None
    address: list[Address] | None = None


# -- the record ----------------------------------------------------------------------


class EncounterParticipant(Element):
    individual: Reference


class EncounterDiagnosis(Element):
    condition: Reference
    rank: int | None = None


class Encounter(Resource, tag="Encounter"):
    status: str | None = None
    class_: Coding | None = field(default=None, name="class")
    service_type: CodeableConcept | None = None
    subject: Reference | None = None
    participant: list[EncounterParticipant] | None = None
    period: Period | None = None
    diagnosis: list[EncounterDiagnosis] | None = None
    service_provider: Reference | None = None


class Condition(Resource, tag="Condition"):
    clinical_status: CodeableConcept | None = None
    verification_status: CodeableConcept | None = None
    category: list[CodeableConcept] | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    encounter: Reference | None = None
    onset_date_time: str | None = None
    abatement_date_time: str | None = None
    recorded_date: str | None = None
    recorder: Reference | None = None
    note: list[Annotation] | None = None


class ReferenceRange(Element):
    low: Quantity | None = None
    high: Quantity | None = None


class Observation(Resource, tag="Observation"):
    status: str | None = None
    category: list[CodeableConcept] | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    encounter: Reference | None = None
    effective_date_time: str | None = None
    performer: list[Reference] | None = None
    value_quantity: Quantity | None = None
    data_absent_reason: CodeableConcept | None = None
    interpretation: list[CodeableConcept] | None = None
    reference_range: list[ReferenceRange] | None = None


class AllergyReaction(Element):
    manifestation: list[CodeableConcept]
    severity: str | None = None


class AllergyIntolerance(Resource, tag="AllergyIntolerance"):
    clinical_status: CodeableConcept | None = None
    verification_status: CodeableConcept | None = None
    category: list[str] | None = None
    criticality: str | None = None
    code: CodeableConcept | None = None
    patient: Reference | None = None
    encounter: Reference | None = None
    onset_date_time: str | None = None
    recorded_date: str | None = None
    recorder: Reference | None = None
    reaction: list[AllergyReaction] | None = None


class ImmunizationPerformer(Element):
    actor: Reference


class ImmunizationProtocol(Element):
    dose_number_positive_int: int | None = None


class Immunization(Resource, tag="Immunization"):
    status: str | None = None
    vaccine_code: CodeableConcept | None = None
    patient: Reference | None = None
    encounter: Reference | None = None
    occurrence_date_time: str | None = None
    recorded: str | None = None
    lot_number: str | None = None
    performer: list[ImmunizationPerformer] | None = None
    protocol_applied: list[ImmunizationProtocol] | None = None


class DocumentContent(Element):
    attachment: Attachment


class DocumentContext(Element):
    encounter: list[Reference] | None = None
    period: Period | None = None


class DocumentReference(Resource, tag="DocumentReference"):
    status: str | None = None
    doc_status: str | None = None
    type: CodeableConcept | None = None
    subject: Reference | None = None
    date: str | None = None
    author: list[Reference] | None = None
    security_label: list[CodeableConcept] | None = None
    content: list[DocumentContent] | None = None
    context: DocumentContext | None = None


# -- interactions ------------------------------------------------------------------


class BundleLink(Element):
    relation: str
    url: str


class BundleSearch(Element):
    mode: str


class BundleRequest(Element):
    method: str
    url: str


class BundleResponse(Element):
    status: str
    etag: str | None = None
    last_modified: str | None = None


class BundleEntry(Element):
    full_url: str | None = None
    resource: Resource | None = None
    search: BundleSearch | None = None
    request: BundleRequest | None = None
    response: BundleResponse | None = None


class Bundle(Resource, tag="Bundle", kw_only=True):
    type: str
    total: int | None = None
    link: list[BundleLink] | None = None
    entry: list[BundleEntry] | None = None


class IssueDetails(Element):
    coding: list[Coding] | None = None
    text: str | None = None


class Issue(Element):
    severity: str
    code: str
    details: IssueDetails | None = None
    diagnostics: str | None = None


class OperationOutcome(Resource, tag="OperationOutcome", kw_only=True):
    issue: list[Issue]


class SearchParam(Element):
    name: str
    type: str
    documentation: str | None = None


class Interaction(Element):
    code: str


class Operation(Element):
    name: str
    definition: str
    documentation: str | None = None


class RestResource(Element):
    type: str
    interaction: list[Interaction]
    documentation: str | None = None
    versioning: str | None = None
    read_history: bool | None = None
    update_create: bool | None = None
    conditional_create: bool | None = None
    conditional_update: bool | None = None
    conditional_delete: str | None = None
    search_param: list[SearchParam] | None = None
    operation: list[Operation] | None = None


class Rest(Element):
    mode: str
    resource: list[RestResource]
    documentation: str | None = None


class Software(Element):
    name: str
    version: str | None = None


class Implementation(Element):
    description: str
    url: str | None = None


class CapabilityStatement(Resource, tag="CapabilityStatement", kw_only=True):
    status: str
    date: str
    publisher: str | None = None
    kind: str
    software: Software | None = None
    implementation: Implementation | None = None
    fhir_version: str
    format: list[str]
    rest: list[Rest]
