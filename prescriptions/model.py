"""Values of prescriptions: what the doctor sends, what the checks find, what the
patient and the pharmacist are shown. Plain msgspec Structs; no I/O."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from msgspec import Meta, Struct

from prescriptions.formulary import ProductCode, Severity

Schedule = Literal["once", "monthly", "quarterly"]
#: How a prescription stands for its reader (derived, never stored but ``cancelled``).
State = Literal["active", "dispensed", "expired", "cancelled"]
Reason = Annotated[str, Meta(min_length=10, max_length=500)]
Benefit = Annotated[str, Meta(pattern=r"^[0-9A-Z]{1,8}$")]
#: Stored with three decimals: 0.001 is the least that is not nothing.
Dose = Annotated[float, Meta(ge=0.001, le=100, description="dosage units an intake (0.5 tablet)")]
PerDay = Annotated[int, Meta(ge=1, le=24, description="intakes a day")]
Days = Annotated[int, Meta(ge=1, le=366, description="days of treatment")]
Quantity = Annotated[int, Meta(ge=1, le=10000, description="dosage units (a period's)")]
Months = Annotated[int, Meta(ge=1, le=12)]
#: What the QR code carries: ``RX1.<city>.<number>.<signature, base64url>``.
ScanCode = Annotated[str, Meta(min_length=8, max_length=200)]


class PrescriptionIn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A prescription as the doctor writes it in her visit.

    ``quantity`` is in dosage units (tablets, ml, doses) and, for a long-term
    prescription, per period; without it the quantity is what dose x per_day x days
    makes. A long-term prescription (``schedule`` monthly or quarterly, for a chronic
    patient) runs ``months`` months and is dispensed period by period. ``benefit`` asks
    for the drug free under the patient's benefit category. ``override_reason`` lets a
    contraindicated finding through (audited); ``acknowledged`` says the doctor saw the
    major warnings.
    """

    product: ProductCode
    dose: Dose
    per_day: PerDay
    days: Days
    quantity: Quantity | None = None
    schedule: Schedule = "once"
    months: Months | None = None
    benefit: Benefit | None = None
    instructions: Annotated[str, Meta(max_length=500)] | None = None
    override_reason: Reason | None = None


class Finding(Struct, frozen=True, kw_only=True):
    """One check's finding: ``contraindicated`` blocks unless overridden, ``major``
    warns, ``moderate`` informs."""

    check: Literal["allergy", "interaction", "duplicate", "max_daily_dose", "age"]
    severity: Severity
    message: str
    other: str | None = None  # the other drug (an interaction, a duplicate), by INN


class CheckOut(Struct, frozen=True, kw_only=True):
    findings: list[Finding]
    blocked: bool  # a contraindicated finding: signing needs an override_reason
    quantity: int  # what will be prescribed a period
    valid_until: date
    periods: int


class DrugOption(Struct, frozen=True, kw_only=True):
    """A type-ahead answer: a drug with its products."""

    atc: str
    inn: str
    name: str  # the INN in the caller's language
    matched: str  # the name it was found by (an INN or a trade name)
    trade_names: list[str]
    subsidised: bool
    products: list[ProductOption]


class ProductOption(Struct, frozen=True, kw_only=True):
    code: str
    form: str
    strength: str
    dosage_unit: str
    pack: int


class Period(Struct, frozen=True, kw_only=True):
    period: int
    starts: date
    ends: date
    quantity: int
    dispensed: int


class DispensingOut(Struct, frozen=True, kw_only=True):
    id: int
    prescription_id: int
    period: int
    pharmacy_id: int
    product_code: str
    quantity: int
    dispensed_at: datetime


class DispensingRecord(DispensingOut, frozen=True, kw_only=True):
    """A dispensing as the patient's record keeps it: whose, and where."""

    patient_id: int
    pharmacy_name: str


class Prescription(Struct, frozen=True, kw_only=True):
    id: int
    number: str  # printed under the QR; typed at the counter with the birth date
    patient_id: int
    encounter_id: int
    clinic_id: int
    doctor_id: int
    doctor_name: str
    atc: str
    inn: str
    drug: str  # name, form and strength
    product_code: str
    dose: float
    per_day: int
    days: int
    quantity: int
    schedule: Schedule
    benefit: str | None
    issued_on: date
    valid_until: date
    instructions: str | None
    state: State
    periods: list[Period]
    cancel_reason: str | None = None
    code: str | None = None  # the QR's text: for the patient only
    findings: list[Finding] = []  # at signing: what the checks said


class Verification(Struct, frozen=True, kw_only=True):
    """What the counter learns of a signature."""

    valid: bool
    key_id: str
    signer: str  # the doctor, as the key's certificate names her
    reason: str | None = None  # why not valid


class CounterView(Struct, frozen=True, kw_only=True):
    """A prescription at the pharmacy's counter: what is prescribed, what is left of
    the period due, whether the signature holds, and what may be handed out."""

    prescription: Prescription
    patient_name: str
    patient_birth_date: date
    signature: Verification
    due: Period | None  # the period dispensable today; None: nothing is due
    left: int
    alternatives: list[ProductOption]  # every product of the same INN
    dispensings: list[DispensingOut]
    dispensable: bool
    refusal: str | None = None  # the stable code of why not


class ScanIn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A scanned QR code, or a number typed with the holder's birth date."""

    code: ScanCode | None = None
    number: Annotated[str, Meta(pattern=r"^[0-9]{1,19}$")] | None = None
    birth_date: date | None = None


class DispenseIn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the counter hands out, with its proof of the prescription: the scanned
    code, or the holder's birth date (a typed number) or policy number (a subsidised
    pharmacy's search)."""

    quantity: Quantity
    period: Annotated[int, Meta(ge=1, le=12)]
    product: ProductCode | None = None  # a generic of the same INN; default: as prescribed
    request_id: UUID | None = None  # retried with the same id, dispensed once
    code: ScanCode | None = None
    birth_date: date | None = None
    policy_number: Annotated[str, Meta(pattern=r"^[0-9]{16}$")] | None = None


class CancelIn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Reason
