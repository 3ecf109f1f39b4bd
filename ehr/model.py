"""Values of the medical record: what a doctor writes (requests, checked as they are
decoded) and what a reader gets (the same Structs are kept, version by version, in
``ehr_versions``). No I/O."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from msgspec import Meta, Struct, field

from ehr.templates import SECTION_MAX
from imias.platform.bounds import check_day, check_instant

Id = Annotated[int, Meta(ge=1, le=2**63 - 1)]
Text = Annotated[str, Meta(max_length=SECTION_MAX)]
Code = Annotated[str, Meta(min_length=1, max_length=16)]
Reason = Annotated[str, Meta(min_length=3, max_length=500)]
Instant = Annotated[datetime, Meta(tz=True)]

EncounterKind = Literal["outpatient", "home", "ambulance"]
EncounterStatus = Literal["in-progress", "finished", "entered-in-error"]
Rank = Literal["primary", "secondary"]
Course = Literal["acute", "chronic"]
ClinicalStatus = Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved"]
Verification = Literal["provisional", "confirmed", "refuted", "entered-in-error"]
Severity = Literal["mild", "moderate", "severe"]
Criticality = Literal["low", "high", "unable-to-assess"]
AllergyCategory = Literal["medication", "food", "environment", "biologic"]
AllergyStatus = Literal["active", "inactive", "resolved"]
AllergyVerification = Literal["unconfirmed", "confirmed", "refuted", "entered-in-error"]
ObservationStatus = Literal["final", "amended", "entered-in-error"]
ImmunizationStatus = Literal["completed", "not-done", "entered-in-error"]

#: The resources of the record, by their FHIR names (``ehr_versions.resource``).
Resource = Literal["Encounter", "Condition", "Observation", "AllergyIntolerance", "Immunization"]


class Protocol(Struct, frozen=True, forbid_unknown_fields=True):
    """The visit's protocol: the sections of the specialty's template."""

    complaints: Text = ""
    history: Text = ""
    examination: Text = ""
    conclusion: Text = ""
    recommendations: Text = ""


# -- what a doctor writes ------------------------------------------------------------


class DiagnosisIn(Struct, frozen=True, forbid_unknown_fields=True):
    code: Code
    rank: Rank = "secondary"
    course: Course = "acute"
    verification: Literal["provisional", "confirmed"] = "confirmed"
    onset: date | None = None
    note: Annotated[str, Meta(max_length=500)] | None = None

    def __post_init__(self) -> None:
        if self.onset is not None:
            check_day(self.onset, "onset")


class VitalIn(Struct, frozen=True, forbid_unknown_fields=True):
    """A measurement: LOINC code, value, and the unit (the code's own, if omitted). A
    laboratory's result may bring its own reference range."""

    code: Code
    value: Annotated[float, Meta(ge=-1e9, le=1e9)]
    unit: Annotated[str, Meta(max_length=20)] | None = None
    low: Annotated[float, Meta(ge=-1e9, le=1e9)] | None = None
    high: Annotated[float, Meta(ge=-1e9, le=1e9)] | None = None
    effective_at: Instant | None = None

    def __post_init__(self) -> None:
        if self.effective_at is not None:
            check_instant(self.effective_at, "effective_at")


class AmbulanceCall(Struct, frozen=True, kw_only=True):
    """An ambulance crew's finished call, as the dispatch system reports it: it becomes a
    finished encounter of kind ``ambulance`` (no doctor) at the patient's attached clinic,
    its diagnoses and vitals checked as a doctor's are."""

    patient_id: int
    clinic_id: int
    started_at: datetime
    ended_at: datetime
    protocol: Protocol
    diagnoses: list[DiagnosisIn] = field(default_factory=list)
    vitals: list[VitalIn] = field(default_factory=list)


class SignOff(Struct, frozen=True, forbid_unknown_fields=True):
    """Everything the visit's signature makes final, written in one transaction."""

    protocol: Protocol
    diagnoses: Annotated[list[DiagnosisIn], Meta(max_length=20)] = field(default_factory=list)
    vitals: Annotated[list[VitalIn], Meta(max_length=40)] = field(default_factory=list)


class Amendment(Struct, frozen=True, forbid_unknown_fields=True):
    """A signed visit's correction: the new protocol and, if given, its diagnoses (those
    left out are marked entered-in-error), with the reason."""

    reason: Reason
    protocol: Protocol
    diagnoses: Annotated[list[DiagnosisIn], Meta(max_length=20)] | None = None


class DraftDiagnosis(Struct, frozen=True, forbid_unknown_fields=True):
    code: Annotated[str, Meta(max_length=16)] = ""
    rank: Annotated[str, Meta(max_length=16)] = ""
    course: Annotated[str, Meta(max_length=16)] = ""
    verification: Annotated[str, Meta(max_length=16)] = ""


class VisitDraft(Struct, frozen=True, forbid_unknown_fields=True):
    """The visit's form as the doctor left it: kept as typed, checked at signing."""

    protocol: Protocol = Protocol()
    diagnoses: Annotated[list[DraftDiagnosis], Meta(max_length=20)] = field(default_factory=list)
    vitals: Annotated[
        dict[Annotated[str, Meta(max_length=16)], Annotated[str, Meta(max_length=20)]],
        Meta(max_length=40),
    ] = field(default_factory=dict)


class EncounterOpen(Struct, frozen=True, forbid_unknown_fields=True):
    """Open the visit of an appointment (the doctor's own), or a home visit."""

    appointment_id: Id | None = None
    patient_id: Id | None = None
    kind: Literal["outpatient", "home"] = "outpatient"


class AllergyIn(Struct, frozen=True, forbid_unknown_fields=True):
    substance: Code
    reaction: Annotated[str, Meta(max_length=500)] | None = None
    severity: Severity | None = None
    criticality: Criticality = "low"
    verification: Literal["unconfirmed", "confirmed"] = "confirmed"
    onset: date | None = None
    encounter_id: Id | None = None

    def __post_init__(self) -> None:
        if self.onset is not None:
            check_day(self.onset, "onset")


class ImmunizationIn(Struct, frozen=True, forbid_unknown_fields=True):
    vaccine: Code
    dose_number: Annotated[int, Meta(ge=1, le=20)]
    occurred_on: date
    lot: Annotated[str, Meta(max_length=40)] | None = None
    encounter_id: Id | None = None

    def __post_init__(self) -> None:
        check_day(self.occurred_on, "occurred_on")


class Measured(Struct, frozen=True):
    """An observation checked against its code, ready to insert."""

    code: str
    category: str
    value: Decimal
    unit: str
    low: Decimal | None
    high: Decimal | None
    interpretation: str | None
    effective_at: datetime


class EnteredInError(Struct, frozen=True, forbid_unknown_fields=True):
    reason: Reason


# -- what a reader gets --------------------------------------------------------------


class Condition(Struct, frozen=True, kw_only=True):
    id: int
    patient_id: int
    encounter_id: int | None
    clinic_id: int
    code: str | None  # None: a restricted entry the reader may not see
    title: str | None
    category: Literal["encounter-diagnosis", "problem-list-item"]
    rank: Rank
    course: Course
    clinical_status: ClinicalStatus
    verification_status: Verification
    onset: date | None
    abatement: date | None
    note: str | None
    recorded_at: datetime
    author_id: int
    version: int
    restricted: bool = False
    hidden: bool = False


class Observation(Struct, frozen=True, kw_only=True):
    id: int
    patient_id: int
    encounter_id: int | None
    clinic_id: int
    code: str | None
    name: str | None
    category: Literal["vital-signs", "laboratory"]
    value: float | None
    unit: str | None
    low: float | None
    high: float | None
    interpretation: Literal["L", "N", "H"] | None
    status: ObservationStatus
    effective_at: datetime
    author_id: int
    version: int
    hidden: bool = False


class Allergy(Struct, frozen=True, kw_only=True):
    id: int
    patient_id: int
    encounter_id: int | None
    clinic_id: int
    substance: str
    substance_name: str
    substance_system: str
    category: AllergyCategory
    criticality: Criticality
    reaction: str | None
    severity: Severity | None
    clinical_status: AllergyStatus
    verification_status: AllergyVerification
    onset: date | None
    recorded_at: datetime
    author_id: int
    version: int


class Immunization(Struct, frozen=True, kw_only=True):
    id: int
    patient_id: int
    encounter_id: int | None
    clinic_id: int
    vaccine: str
    vaccine_name: str
    atc: str
    dose_number: int
    occurred_on: date
    lot: str | None
    status: ImmunizationStatus
    recorded_at: datetime
    author_id: int
    version: int


class Encounter(Struct, frozen=True, kw_only=True):
    id: int
    patient_id: int
    clinic_id: int
    clinic_name: str
    doctor_id: int | None
    doctor_name: str | None
    specialty: str | None
    appointment_id: int | None
    kind: EncounterKind
    status: EncounterStatus
    started_at: datetime
    signed_at: datetime | None
    version: int
    protocol: Protocol | None  # None: unsigned, or restricted from this reader
    diagnoses: list[Condition] = []
    vitals: list[Observation] = []
    restricted: bool = False
    hidden: bool = False
    draft: VisitDraft | None = None  # the author's, while in progress
    draft_saved_at: datetime | None = None
    amended_reason: str | None = None


class EncounterBrief(Struct, frozen=True, kw_only=True):
    id: int
    clinic_name: str
    doctor_name: str | None
    specialty: str | None
    kind: EncounterKind
    status: EncounterStatus
    started_at: datetime
    version: int
    diagnoses: list[str]  # "J06.9 Острая инфекция..." (restricted: a placeholder)
    restricted: bool = False


class Trend(Struct, frozen=True, kw_only=True):
    """A measure's latest result and the ones before it, for the trend chart."""

    code: str
    name: str
    unit: str
    low: float | None
    high: float | None
    latest: Observation
    points: list[tuple[datetime, float]]  # oldest first


class PatientBrief(Struct, frozen=True, kw_only=True):
    id: int
    name: str
    birth_date: date
    attached_clinic_id: int | None


class CardSummary(Struct, frozen=True, kw_only=True):
    """The patient's card at a glance: the doctor's visit opens on it."""

    patient: PatientBrief
    problems: list[Condition]
    allergies: list[Allergy]
    medications: list[str]  # from prescriptions, when they exist
    visits: list[EncounterBrief]
    results: list[Trend]
    immunizations: list[Immunization]
    restricted_hidden: int = 0  # restricted entries shown to this reader only as existing


class PrescribingContext(Struct, frozen=True, kw_only=True):
    """What the prescribing checks read of a visit's record: whose visit it is, the
    patient's active allergies (substance code, name) and whether a chronic condition is
    active (it lengthens a subsidised prescription's validity). No diagnosis travels."""

    encounter_id: int
    patient_id: int
    clinic_id: int
    doctor_id: int
    allergies: list[tuple[str, str]]
    chronic: bool


class Version(Struct, frozen=True, kw_only=True):
    resource: Resource
    resource_id: int
    version: int
    written_by: int
    written_at: datetime
    reason: str | None


class DiagnosisOption(Struct, frozen=True):
    code: str
    title: str
    restricted: bool


class TemplateOut(Struct, frozen=True):
    specialty: str
    title: str
    sections: list[tuple[str, str]]  # (section, its title)
    start: Protocol
