"""The decisions of prescribing and dispensing, pure: the checks a prescription meets
(allergy, interaction, duplicate therapy, maximum daily dose, age), how long it is valid
and in which periods it is dispensed, its signed content, and the QR code's text.
No I/O: the service gathers the facts and acts on the answers."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Literal

import msgspec

from ehr import codes
from imias.platform.dates import add_months
from prescriptions.formulary import Catalogue, Drug, Product
from prescriptions.model import Finding, PrescriptionIn, Schedule

REGULAR_DAYS = 60  # a prescription is valid 60 days, the day of issue the first
SUBSIDISED_DAYS = 30  # a subsidised one 30 ...
SUBSIDISED_CHRONIC_DAYS = 90  # ... and 90 for a chronic patient
MONTHS = {"monthly": 1, "quarterly": 3}
#: The QR code's text: a version, the city, the prescription's number, the signature.
CODE_PREFIX = "RX1"
NUMBER = re.compile(r"[0-9]{1,19}")  # ASCII digits only (str.isdigit takes "²")
SEVERITY_ORDER = {"contraindicated": 0, "major": 1, "moderate": 2}

Lang = Literal["ru", "en"]


def age_on(birth: date, day: date) -> int:
    """Full years on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def daily_amount(rx: PrescriptionIn, product: Product) -> float:
    """The drug's amount a day in its unit (mg...)."""
    return rx.dose * rx.per_day * product.strength


def _say(lang: Lang, ru: str, en: str) -> str:
    return en if lang == "en" else ru


def _num(value: float) -> str:
    return f"{value:g}"


def check(
    catalogue: Catalogue,
    drug: Drug,
    product: Product,
    rx: PrescriptionIn,
    *,
    age: int,
    allergies: Sequence[tuple[str, str]],
    active: Sequence[str],
    lang: Lang = "ru",
) -> list[Finding]:
    """What the checks find for ``rx`` of ``drug`` for a patient of ``age`` years with
    these allergies (substance code, name) and these other active prescriptions (ATC
    codes), the most severe first."""
    out: list[Finding] = []
    for substance, name in allergies:
        if codes.allergy_matches(substance, drug.atc):
            out.append(
                Finding(
                    check="allergy",
                    severity="contraindicated",
                    message=_say(
                        lang,
                        f"Аллергия пациента: {name}. {drug.inn_ru.capitalize()} "
                        "относится к этому веществу или классу.",
                        f"The patient is allergic to {name}; {drug.inn} is that substance "
                        "or of its class.",
                    ),
                    other=name,
                )
            )
    others = [a for a in active if a != drug.atc]
    for other, pair in catalogue.interactions_between(drug.atc, others):
        other_drug = catalogue.drugs.get(other)
        other_name = (
            other_drug.inn_ru
            if other_drug and lang == "ru"
            else (other_drug.inn if other_drug else other)
        )
        out.append(
            Finding(
                check="interaction",
                severity=pair.severity,
                message=_say(
                    lang,
                    f"Взаимодействие с {other_name}: {pair.effect_ru}",
                    f"Interaction with {other_name}: {pair.effect_en}",
                ),
                other=other_name,
            )
        )
    for other in active:
        if other[:5] == drug.atc[:5]:
            other_drug = catalogue.drugs.get(other)
            other_name = (
                (other_drug.inn_ru if lang == "ru" else other_drug.inn) if other_drug else other
            )
            same = other == drug.atc
            out.append(
                Finding(
                    check="duplicate",
                    severity="major",
                    message=_say(
                        lang,
                        f"Уже назначен {other_name}"
                        + (" (тот же препарат)." if same else " той же группы (АТХ 4-го уровня)."),
                        f"{other_name} is already prescribed"
                        + (" (the same drug)." if same else " of the same class (ATC level 4)."),
                    ),
                    other=other_name,
                )
            )
    daily = daily_amount(rx, product)
    if daily > drug.max_daily * (1 + 1e-9):
        out.append(
            Finding(
                check="max_daily_dose",
                severity="contraindicated",
                message=_say(
                    lang,
                    f"Суточная доза {_num(daily)} {drug.unit} выше максимальной "
                    f"({_num(drug.max_daily)} {drug.unit}).",
                    f"A daily dose of {_num(daily)} {drug.unit} is above the maximum "
                    f"({_num(drug.max_daily)} {drug.unit}).",
                ),
            )
        )
    if age < drug.min_age or (drug.max_age is not None and age > drug.max_age):
        limit = f"{drug.min_age}–{drug.max_age}" if drug.max_age is not None else f"{drug.min_age}+"
        out.append(
            Finding(
                check="age",
                severity="contraindicated",
                message=_say(
                    lang,
                    f"Возраст пациента {age} лет вне допустимого ({limit}).",
                    f"The patient's age, {age}, is outside the drug's limits ({limit}).",
                ),
            )
        )
    out.sort(key=lambda f: SEVERITY_ORDER[f.severity])
    return out


def blocked(findings: Sequence[Finding]) -> bool:
    return any(f.severity == "contraindicated" for f in findings)


class ValidityError(ValueError):
    """A schedule the rules do not allow: (code, sentence)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def periods(
    issued: date, schedule: Schedule, months: int | None, *, subsidised: bool, chronic: bool
) -> list[tuple[date, date]]:
    """The periods a prescription is dispensed in, (first day, last day) each; the last
    period's last day is the prescription's last valid day."""
    if schedule == "once":
        if subsidised:
            days = SUBSIDISED_CHRONIC_DAYS if chronic else SUBSIDISED_DAYS
        else:
            days = REGULAR_DAYS
        return [(issued, issued + timedelta(days=days - 1))]
    if not chronic:
        raise ValidityError(
            "not_chronic",
            "A long-term prescription is for a patient with an active chronic condition.",
        )
    step = MONTHS[schedule]
    total = months if months is not None else 12
    if total % step:
        raise ValidityError(
            "bad_schedule", f"A {schedule} schedule runs a whole number of {step}-month periods."
        )
    # A period ends the day before the same day some months on, counted from the eve of
    # issue so that a month without that day (30 February) does not lose one: issued on
    # 31 January, the first month ends on 28 February, the next starts on 1 March.
    eve = issued - timedelta(days=1)
    out = []
    first = issued
    for end in range(step, total + 1, step):
        last = add_months(eve, end)
        out.append((first, last))
        first = last + timedelta(days=1)
    return out


def quantity_of(rx: PrescriptionIn) -> int:
    """Dosage units a period: as given, else what dose x per_day x days makes."""
    if rx.quantity is not None:
        return rx.quantity
    return max(1, math.ceil(rx.dose * rx.per_day * rx.days - 1e-9))


def due_period(spans: Sequence[tuple[int, date, date]], today: date) -> int | None:
    """The period (number) whose days hold ``today``."""
    for number, starts, ends in spans:
        if starts <= today <= ends:
            return number
    return None


class Content(msgspec.Struct, frozen=True, kw_only=True):
    """What a prescription's signature covers, rebuilt from its row to be checked."""

    v: int = 1
    city: str
    number: int
    patient: int
    birth_date: date
    atc: str
    inn: str
    product: str
    drug: str
    dose: str  # three decimals, as stored
    per_day: int
    days: int
    quantity: int
    schedule: str
    periods: list[tuple[date, date, int]]
    benefit: str | None
    instructions: str | None
    issued_on: date
    valid_until: date
    doctor: int
    clinic: int
    key_id: str


def canonical(content: Content) -> bytes:
    """The signed bytes: JSON with sorted keys, no spaces (one form for one content)."""
    return msgspec.json.encode(content, order="sorted")


def stored_content(
    city: str, row: Mapping[str, Any], birth_date: date, periods: Sequence[tuple[date, date, int]]
) -> bytes:
    """The signed bytes of a prescription's row (its ``prescriptions`` columns) and its
    periods (first day, last day, quantity): what the counter rebuilds to check the
    signature, and what a bulk load (``imias seed``) signs."""
    return canonical(
        Content(
            city=city,
            number=row["id"],
            patient=row["patient_id"],
            birth_date=birth_date,
            atc=row["atc"],
            inn=row["inn"],
            product=row["product_code"],
            drug=row["drug_text"],
            dose=dose_text(row["dose"]),
            per_day=row["per_day"],
            days=row["days"],
            quantity=row["quantity"],
            schedule=row["schedule"],
            periods=list(periods),
            benefit=row["benefit"],
            instructions=row["instructions"],
            issued_on=row["issued_on"],
            valid_until=row["valid_until"],
            doctor=row["doctor_id"],
            clinic=row["clinic_id"],
            key_id=row["key_id"],
        )
    )


def dose_text(dose: float) -> str:
    return f"{float(dose):.3f}"


def code_of(city: str, number: int, signature: bytes) -> str:
    """The QR code's text: ``RX1.<city>.<number>.<signature, base64url unpadded>``."""
    sig = base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")
    return f"{CODE_PREFIX}.{city}.{number}.{sig}"


class CodeError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_code(text: str, city: str) -> tuple[int, bytes]:
    """(number, signature) of a QR code's text of this city."""
    parts = text.strip().split(".")
    if len(parts) != 4 or parts[0] != CODE_PREFIX or not NUMBER.fullmatch(parts[2]):
        raise CodeError("bad_code", "This is not a prescription's code.")
    if parts[1] != city:
        raise CodeError(
            "foreign_city", f"This prescription was issued in another city ({parts[1]})."
        )
    number = int(parts[2])
    if not 1 <= number < 2**63:
        raise CodeError("bad_code", "This is not a prescription's code.")
    sig = parts[3]
    try:
        signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except (binascii.Error, ValueError):
        raise CodeError("bad_code", "This is not a prescription's code.") from None
    if len(signature) != 64:
        raise CodeError("bad_code", "This is not a prescription's code.")
    return number, signature
