"""Prescriptions' values as FHIR R4 resources (out only). No I/O.

- Medication: a product of the catalogue (its id is the product code), coded by the
  product and by the drug's ATC code; its one ingredient the drug (ATC, INN) with the
  strength of one dosage unit.
- MedicationRequest: a prescription as signed. Its medication is a CodeableConcept (the
  product and the ATC code, the signed text), not a reference: it stays what was signed
  when a newer catalogue drops the product. Status by :func:`request_status`.
- MedicationDispense: a dispensing (status completed), the pharmacy as a logical
  reference (``urn:imias:pharmacy``: pharmacies are not the clinics' Organizations).
"""

from __future__ import annotations

from typing import Literal

from ehr import codes
from ehr import fhir_mapping as fm
from ehr import fhir_resources as r
from prescriptions.fhir import resources as x
from prescriptions.formulary import Catalogue, Drug, Product
from prescriptions.model import DispensingRecord, Prescription

Lang = Literal["ru", "en"]

PRODUCT_SYSTEM = "urn:imias:drug-product"
PRESCRIPTION_SYSTEM = "urn:imias:prescription"
PHARMACY_SYSTEM = "urn:imias:pharmacy"
STATE_SYSTEM = "urn:imias:prescription-state"
REQUEST_STATUS = "http://hl7.org/fhir/CodeSystem/medicationrequest-status"
COURSE = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"
UCUM = fm.UCUM
#: The catalogue's dose units in UCUM.
UCUM_UNITS = {"mg": "mg", "mcg": "ug", "g": "g", "IU": "[iU]", "ml": "mL"}
#: FHIR's statuses a prescription may have (the search's ``status`` tokens).
STATUSES = ("active", "completed", "stopped", "cancelled")


def request_status(p: Prescription) -> str:
    """Our state as FHIR's MedicationRequest.status:

    - active -> active;
    - dispensed (every period) -> completed ("all actions implied have occurred");
    - expired -> stopped (halted before all was dispensed; statusReason says why);
    - cancelled -> cancelled when nothing was dispensed ("withdrawn before any
      administration"), stopped once something was.

    :data:`prescriptions.queries.FHIR_REQUESTS` filters by the same rule."""
    if p.state == "cancelled":
        return "stopped" if any(period.dispensed for period in p.periods) else "cancelled"
    return {"active": "active", "dispensed": "completed", "expired": "stopped"}[p.state]


def days(value: float) -> x.Duration:
    return x.Duration(value=value, unit="days", system=UCUM, code="d")


def product_text(drug: Drug, product: Product, lang: Lang) -> str:
    if lang == "en":
        return f"{drug.inn}, {product.form_en}, {product.strength_text}"
    return f"{drug.inn_ru}, {product.form_ru}, {product.strength_text}"


def dosage_unit(catalogue: Catalogue, code: str, lang: Lang) -> str | None:
    found = catalogue.product(code)
    if found is None:
        return None
    return found[1].dosage_unit_en if lang == "en" else found[1].dosage_unit_ru


def medication(drug: Drug, product: Product, lang: Lang) -> x.Medication:
    name = drug.inn if lang == "en" else drug.inn_ru
    text = product_text(drug, product, lang)
    return x.Medication(
        id=product.code,
        code=r.CodeableConcept(
            coding=[
                r.Coding(system=PRODUCT_SYSTEM, code=product.code, display=text),
                r.Coding(system=codes.ATC_SYSTEM, code=drug.atc, display=name),
            ],
            text=text,
        ),
        status="active",
        form=r.CodeableConcept(text=product.form_en if lang == "en" else product.form_ru),
        ingredient=[
            x.MedicationIngredient(
                item_codeable_concept=fm.concept(codes.ATC_SYSTEM, drug.atc, name),
                is_active=True,
                strength=x.Ratio(
                    numerator=r.Quantity(
                        value=product.strength,
                        unit=drug.unit,
                        system=UCUM,
                        code=UCUM_UNITS[drug.unit],
                    ),
                    denominator=r.Quantity(
                        value=1,
                        unit=product.dosage_unit_en if lang == "en" else product.dosage_unit_ru,
                    ),
                ),
            )
        ],
    )


def _medication_of(
    catalogue: Catalogue, code: str, atc: str, inn: str, text: str | None, lang: Lang
) -> r.CodeableConcept:
    found = catalogue.product(code)
    if text is None and found is not None:
        text = product_text(found[0], found[1], lang)
    name = inn if lang == "en" or found is None else found[0].inn_ru
    return r.CodeableConcept(
        coding=[
            r.Coding(system=PRODUCT_SYSTEM, code=code, display=text),
            r.Coding(system=codes.ATC_SYSTEM, code=atc, display=name),
        ],
        text=text,
    )


def request(p: Prescription, catalogue: Catalogue, lang: Lang) -> x.MedicationRequest:
    unit = dosage_unit(catalogue, p.product_code, lang)
    long_term = p.schedule != "once"
    reason = None
    if p.state == "expired":
        reason = r.CodeableConcept(
            coding=[r.Coding(system=STATE_SYSTEM, code="expired")],
            text="The validity period ended." if lang == "en" else "Срок действия истёк.",
        )
    elif p.state == "cancelled":
        reason = r.CodeableConcept(
            coding=[r.Coding(system=STATE_SYSTEM, code="cancelled")], text=p.cancel_reason
        )
    supply = p.days
    if long_term and p.periods:
        first = p.periods[0]
        supply = (first.ends - first.starts).days + 1
    return x.MedicationRequest(
        id=str(p.id),
        identifier=[r.Identifier(system=PRESCRIPTION_SYSTEM, value=p.number)],
        status=request_status(p),
        status_reason=reason,
        intent="order",
        # The text as signed (Russian), whatever the reader's language.
        medication_codeable_concept=_medication_of(
            catalogue, p.product_code, p.atc, p.inn, p.drug, lang
        ),
        subject=fm.ref("Patient", p.patient_id),
        encounter=fm.ref("Encounter", p.encounter_id),
        authored_on=fm.day(p.issued_on),
        requester=fm.ref(
            "Practitioner", fm.practitioner_id(p.clinic_id, p.doctor_id), p.doctor_name or None
        ),
        course_of_therapy_type=fm.concept(
            COURSE,
            "continuous" if long_term else "acute",
            "Continuous long term therapy" if long_term else "Short course (acute) therapy",
        ),
        dosage_instruction=[
            x.Dosage(
                sequence=1,
                text=p.instructions,
                timing=x.Timing(
                    repeat=x.TimingRepeat(
                        bounds_duration=days(p.days), frequency=p.per_day, period=1, period_unit="d"
                    )
                ),
                dose_and_rate=[x.DoseAndRate(dose_quantity=r.Quantity(value=p.dose, unit=unit))],
            )
        ],
        dispense_request=x.DispenseRequest(
            validity_period=r.Period(start=fm.day(p.issued_on), end=fm.day(p.valid_until)),
            number_of_repeats_allowed=len(p.periods) - 1 if long_term and p.periods else None,
            quantity=r.Quantity(value=p.quantity, unit=unit),
            expected_supply_duration=days(supply),
        ),
        # A pharmacy may hand out another product of the same INN.
        substitution=x.Substitution(allowed_boolean=True),
    )


def dispense(d: DispensingRecord, catalogue: Catalogue, lang: Lang) -> x.MedicationDispense:
    found = catalogue.product(d.product_code)
    atc, inn = (found[0].atc, found[0].inn) if found is not None else (None, None)
    concept = (
        _medication_of(catalogue, d.product_code, atc, inn, None, lang)
        if atc is not None and inn is not None
        else fm.concept(PRODUCT_SYSTEM, d.product_code)
    )
    return x.MedicationDispense(
        id=str(d.id),
        status="completed",
        medication_codeable_concept=concept,
        subject=fm.ref("Patient", d.patient_id),
        performer=[
            x.DispensePerformer(
                actor=r.Reference(
                    type="Organization",
                    identifier=r.Identifier(system=PHARMACY_SYSTEM, value=str(d.pharmacy_id)),
                    display=d.pharmacy_name,
                )
            )
        ],
        authorizing_prescription=[fm.ref("MedicationRequest", d.prescription_id)],
        quantity=r.Quantity(value=d.quantity, unit=dosage_unit(catalogue, d.product_code, lang)),
        when_handed_over=fm.instant(d.dispensed_at),
    )
