"""The visit page's prescription form as the doctor typed it, and what the page makes of
it: the values to show again (a check's findings, a refused signature) or the
prescription to check and sign (:class:`prescriptions.PrescriptionIn`) or a sentence
saying what to correct. No I/O.

Field names: ``rx-drug`` (the name searched), ``rx-product`` (a form and strength),
``rx-dose``, ``rx-per-day``, ``rx-days``, ``rx-quantity`` (empty: computed),
``rx-schedule``, ``rx-months``, ``rx-benefit``, ``rx-instructions``, ``rx-override``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from imias.channels.doctor.visit_form import FormError
from imias.channels.web.i18n import N_
from prescriptions import CheckOut, Finding, PrescriptionIn

SCHEDULES = ("once", "monthly", "quarterly")
FIELDS = {
    "drug": "rx-drug",
    "product": "rx-product",
    "dose": "rx-dose",
    "per_day": "rx-per-day",
    "days": "rx-days",
    "quantity": "rx-quantity",
    "schedule": "rx-schedule",
    "months": "rx-months",
    "benefit": "rx-benefit",
    "instructions": "rx-instructions",
    "override_reason": "rx-override",
}


@dataclass(slots=True)
class RxForm:
    """The prescription form's values as typed (strings)."""

    drug: str = ""
    product: str = ""
    dose: str = "1"
    per_day: str = "1"
    days: str = ""
    quantity: str = ""
    schedule: str = "once"
    months: str = ""
    benefit: str = ""
    instructions: str = ""
    override_reason: str = ""


@dataclass(slots=True)
class RxState:
    """The prescription section as the page shows it: the form, what the checks found,
    whether signing needs an override's reason, and a sentence to correct."""

    form: RxForm = field(default_factory=RxForm)
    check: CheckOut | None = None
    findings: list[Finding] = field(default_factory=list)
    blocked: bool = False
    error: str | None = None


def rx_of_form(form: Mapping[str, str]) -> RxForm:
    """The posted form as typed (for showing it again), without judging it."""
    typed = {k: form.get(name, "").replace("\r\n", "\n").strip() for k, name in FIELDS.items()}
    if typed["schedule"] not in SCHEDULES:
        typed["schedule"] = "once"
    return RxForm(**typed)


def _number(text: str, message: str, *, whole: bool = True) -> float | int:
    cleaned = text.strip().replace(",", ".")
    try:
        return int(cleaned) if whole else float(cleaned)
    except ValueError:
        raise FormError(message) from None


def prescription_in(rx: RxForm) -> PrescriptionIn:
    """The prescription the form asks for, or a :class:`FormError` saying what to fix."""
    if not rx.product:
        raise FormError(N_("Выберите препарат, его форму и дозировку."))
    fields: dict[str, object] = {
        "product": rx.product,
        "dose": _number(rx.dose, N_("Доза на приём: введите число."), whole=False),
        "per_day": _number(rx.per_day, N_("Приёмов в день: введите целое число.")),
        "days": _number(rx.days, N_("Дней лечения: введите целое число.")),
        "schedule": rx.schedule,
    }
    if rx.quantity:
        fields["quantity"] = _number(rx.quantity, N_("Количество: введите целое число."))
    if rx.schedule != "once":
        fields["months"] = _number(
            rx.months, N_("Для длительного рецепта укажите срок в месяцах (1–12).")
        )
    if rx.benefit:
        fields["benefit"] = rx.benefit
    if rx.instructions:
        fields["instructions"] = rx.instructions
    if rx.override_reason:
        fields["override_reason"] = rx.override_reason
    try:
        return msgspec.convert(fields, PrescriptionIn)
    except msgspec.ValidationError as exc:
        raise FormError(said_of(str(exc))) from None


def said_of(error: str) -> str:
    """The field a validation error is about, as the form names it."""
    for key, message in (
        ("$.product", N_("Выберите препарат из списка.")),
        ("$.dose", N_("Доза на приём: больше 0 и не больше 100.")),
        ("$.per_day", N_("Приёмов в день: от 1 до 24.")),
        ("$.days", N_("Дней лечения: от 1 до 366.")),
        ("$.quantity", N_("Количество: от 1 до 10000.")),
        ("$.months", N_("Срок длительного рецепта: от 1 до 12 месяцев.")),
        ("$.benefit", N_("Выберите льготную категорию из списка.")),
        ("$.instructions", N_("Указания длиннее 500 знаков.")),
        (
            "$.override_reason",
            N_("Причина назначения вопреки противопоказанию: от 10 до 500 знаков."),
        ),
    ):
        if key in error:
            return message
    return N_("Проверьте рецепт.")
