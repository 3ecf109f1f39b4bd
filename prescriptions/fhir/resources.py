"""The FHIR R4 resources of prescriptions as msgspec Structs, in the manner of the
record's (:data:`ehr.fhir_resources`): only the elements we fill, camelCase, absent
elements omitted, ``resourceType`` the tag."""

from __future__ import annotations

from ehr import fhir_resources as r


class Ratio(r.Element):
    numerator: r.Quantity | None = None
    denominator: r.Quantity | None = None


class MedicationIngredient(r.Element):
    item_codeable_concept: r.CodeableConcept
    is_active: bool | None = None
    strength: Ratio | None = None


class Medication(r.Resource, tag="Medication"):
    code: r.CodeableConcept | None = None
    status: str | None = None
    form: r.CodeableConcept | None = None
    ingredient: list[MedicationIngredient] | None = None


class Duration(r.Element):
    value: float | None = None
    unit: str | None = None
    system: str | None = None
    code: str | None = None


class TimingRepeat(r.Element):
    bounds_duration: Duration | None = None
    frequency: int | None = None
    period: float | None = None
    period_unit: str | None = None


class Timing(r.Element):
    repeat: TimingRepeat | None = None


class DoseAndRate(r.Element):
    dose_quantity: r.Quantity | None = None


class Dosage(r.Element):
    sequence: int | None = None
    text: str | None = None
    patient_instruction: str | None = None
    timing: Timing | None = None
    dose_and_rate: list[DoseAndRate] | None = None


class DispenseRequest(r.Element):
    validity_period: r.Period | None = None
    number_of_repeats_allowed: int | None = None
    quantity: r.Quantity | None = None
    expected_supply_duration: Duration | None = None


class Substitution(r.Element):
    allowed_boolean: bool


class MedicationRequest(r.Resource, tag="MedicationRequest"):
    identifier: list[r.Identifier] | None = None
    status: str | None = None
    status_reason: r.CodeableConcept | None = None
    intent: str | None = None
    medication_codeable_concept: r.CodeableConcept | None = None
    subject: r.Reference | None = None
    encounter: r.Reference | None = None
    authored_on: str | None = None
    requester: r.Reference | None = None
    course_of_therapy_type: r.CodeableConcept | None = None
    dosage_instruction: list[Dosage] | None = None
    dispense_request: DispenseRequest | None = None
    substitution: Substitution | None = None


class DispensePerformer(r.Element):
    actor: r.Reference


class MedicationDispense(r.Resource, tag="MedicationDispense"):
    status: str | None = None
    medication_codeable_concept: r.CodeableConcept | None = None
    subject: r.Reference | None = None
    performer: list[DispensePerformer] | None = None
    authorizing_prescription: list[r.Reference] | None = None
    quantity: r.Quantity | None = None
    when_handed_over: str | None = None
