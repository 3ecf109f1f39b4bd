"""Values of the ambulance adapter: a finished call as the dispatch system reports it
(over FHIR or HL7 v2, read into one shape), the active visit a call left at home asks
of the patient's clinic, and the notice the dispatch system is sent about it. No I/O."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec

from ehr import DiagnosisIn, VitalIn

Outcome = Literal["home", "hospital", "refused"]
OUTCOMES: tuple[Outcome, ...] = ("home", "hospital", "refused")
TaskStatus = Literal["new", "open", "booked", "done"]

#: The audience of the notice to the dispatch system (integrations.model.KIND_TOPICS).
ACTIVE_VISIT_AUDIENCE = "ambulance.active_visit"
#: What a message in is kept as (inbound_messages.kind).
CALL_KIND = "ambulance.call"
#: The identifier systems a call names its patient, call and station with.
POLICY_SYSTEM = "urn:imias:policy"
CALL_SYSTEM = "urn:imias:ambulance-call"
STATION_SYSTEM = "urn:imias:ambulance-station"
OUTCOME_SYSTEM = "urn:imias:ambulance-outcome"


class PatientRef(msgspec.Struct, frozen=True, kw_only=True):
    """Whom the call was for: a policy number, or a name and a birth date."""

    policy: str | None = None
    family: str | None = None
    given: str | None = None
    birth_date: date | None = None


class CallIn(msgspec.Struct, frozen=True, kw_only=True):
    """A finished call, read from a FHIR transaction or an HL7 v2 ADT message."""

    patient: PatientRef
    call_number: str
    station_id: int
    started_at: datetime
    ended_at: datetime
    outcome: Outcome
    reason: str = ""  # why the ambulance was called (the complaint)
    findings: list[str] = msgspec.field(default_factory=list)
    treatment: list[str] = msgspec.field(default_factory=list)
    diagnoses: list[DiagnosisIn] = msgspec.field(default_factory=list)
    vitals: list[VitalIn] = msgspec.field(default_factory=list)


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """What a call became: the call's row, the encounter, its facts' ids, the task."""

    call_id: int
    patient_id: int
    encounter_id: int
    condition_ids: list[int]
    observation_ids: list[int]
    active_visit_id: int | None = None


class ActiveVisit(msgspec.Struct, frozen=True, kw_only=True):
    """A clinic's task after a call left the patient at home: an appointment with the
    attached therapist (or paediatrician) within a day."""

    id: int
    clinic_id: int
    patient_id: int
    call_id: int
    call_number: str
    partner_id: str
    station_id: int
    author_id: int
    specialty: str
    due_by: datetime
    status: TaskStatus
    created_at: datetime
    appointment_id: int | None = None
    starts_at: datetime | None = None
    doctor_name: str | None = None
    booked_by: str | None = None
    note: str | None = None
    patient_name: str | None = None  # the registrar's page: filled when listed


class ArrangedVisit(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The notice to the dispatch system (audience ``ambulance.active_visit``): what was
    arranged for the patient it left at home."""

    kind: Literal["active_visit"] = "active_visit"
    call_number: str
    partner_id: str
    patient_id: int
    policy_number: str
    clinic_id: int
    clinic_name: str
    status: Literal["booked", "open"]
    specialty: str
    starts_at: datetime | None = None
    local_start: str | None = None  # the clinic's wall time
    doctor_name: str | None = None
    room: str | None = None
    note: str | None = None
