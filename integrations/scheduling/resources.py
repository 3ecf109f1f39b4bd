"""The FHIR R4 resources of scheduling as msgspec Structs (only the elements we fill or
read), on the record's base classes (:mod:`ehr.fhir_resources`): absent elements are
omitted, unknown ones refused."""

from __future__ import annotations

from ehr import fhir_resources as r


class Extension(r.Element, kw_only=True):
    url: str
    value_date_time: str | None = None
    value_string: str | None = None


class AppointmentParticipant(r.Element, kw_only=True):
    actor: r.Reference | None = None
    required: str | None = None
    status: str
    type: list[r.CodeableConcept] | None = None


class Appointment(r.Resource, tag="Appointment", kw_only=True):
    extension: list[Extension] | None = None
    identifier: list[r.Identifier] | None = None
    status: str
    service_type: list[r.CodeableConcept] | None = None
    specialty: list[r.CodeableConcept] | None = None
    appointment_type: r.CodeableConcept | None = None
    start: str | None = None
    end: str | None = None
    minutes_duration: int | None = None
    slot: list[r.Reference] | None = None
    created: str | None = None
    comment: str | None = None
    participant: list[AppointmentParticipant]


class Schedule(r.Resource, tag="Schedule", kw_only=True):
    active: bool | None = None
    service_type: list[r.CodeableConcept] | None = None
    specialty: list[r.CodeableConcept] | None = None
    actor: list[r.Reference]
    planning_horizon: r.Period | None = None
    comment: str | None = None


class Slot(r.Resource, tag="Slot", kw_only=True):
    service_type: list[r.CodeableConcept] | None = None
    specialty: list[r.CodeableConcept] | None = None
    schedule: r.Reference
    status: str
    start: str
    end: str


class Parameter(r.Element, kw_only=True):
    name: str
    value_string: str | None = None
    value_date: str | None = None
    value_date_time: str | None = None
    value_instant: str | None = None
    value_code: str | None = None
    value_integer: int | None = None
    value_positive_int: int | None = None
    value_coding: r.Coding | None = None
    value_codeable_concept: r.CodeableConcept | None = None
    value_reference: r.Reference | None = None
    value_identifier: r.Identifier | None = None
    resource: Appointment | None = None


class Parameters(r.Resource, tag="Parameters", kw_only=True):
    parameter: list[Parameter] | None = None
