"""The visit page's form as the doctor typed it, and what the page makes of it: the
values to show again (a draft, a refused signature), the record's command (a
:class:`~ehr.SignOff` or :class:`~ehr.Amendment`) or a sentence saying what to correct.

Field names: the protocol's sections by name, ``vital-<LOINC>``, and each diagnosis row
as ``dx-<n>-code``, ``dx-<n>-rank``, ``dx-<n>-course``, ``dx-<n>-verification``. No I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ehr import (
    SECTION_MAX,
    SECTIONS,
    Amendment,
    DiagnosisIn,
    Protocol,
    SignOff,
    VisitDraft,
    VitalIn,
    codes,
    template_for,
)
from imias.channels.web.chart import number
from imias.channels.web.i18n import N_

#: The vitals the visit's form asks for (LOINC), in the order they are shown.
VITALS = ("8480-6", "8462-4", "8867-4", "9279-1", "8310-5", "59408-5", "29463-7", "8302-2")
#: Diagnosis rows the form shows at least (one more than are filled, up to the most).
DX_ROWS = 3
DX_MOST = 20

RANKS = ("primary", "secondary")
COURSES = ("acute", "chronic")
VERIFICATIONS = ("confirmed", "provisional")


class FormError(Exception):
    """What the doctor should correct: a sentence (a msgid with its ``{}`` values)."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message)
        self.message = message
        self.values = values

    def sentence(self, say: Callable[[str], str]) -> str:
        return say(self.message).format(**self.values)


@dataclass(frozen=True, slots=True)
class DxRow:
    code: str = ""
    rank: str = "secondary"
    course: str = "acute"
    verification: str = "confirmed"

    def title_in(self, lang: str) -> str:
        found = codes.diagnosis(self.code) if self.code else None
        return found.title(lang) if found else ""


@dataclass(slots=True)
class VisitForm:
    protocol: dict[str, str]
    diagnoses: list[DxRow] = field(default_factory=list)
    vitals: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[DxRow]:
        """The diagnosis rows to show: the filled ones and empty ones after them."""
        filled = [d for d in self.diagnoses if d.code]
        wanted = min(max(DX_ROWS, len(filled) + 1), DX_MOST)
        return filled + [DxRow() for _ in range(wanted - len(filled))]


def started(specialty: str | None) -> VisitForm:
    return VisitForm(protocol=template_for(specialty or "").start())


def of_draft(draft: VisitDraft) -> VisitForm:
    return VisitForm(
        protocol={s: getattr(draft.protocol, s) for s in SECTIONS},
        diagnoses=[
            DxRow(
                d.code,
                d.rank if d.rank in RANKS else "secondary",
                d.course if d.course in COURSES else "acute",
                d.verification if d.verification in VERIFICATIONS else "confirmed",
            )
            for d in draft.diagnoses
        ],
        vitals=dict(draft.vitals),
    )


def of_signed(protocol: Protocol | None, diagnoses: list[tuple[str, str, str, str]]) -> VisitForm:
    """A signed visit's protocol and diagnoses (code, rank, course, verification), to
    amend them."""
    return VisitForm(
        protocol={s: getattr(protocol, s) if protocol else "" for s in SECTIONS},
        diagnoses=[DxRow(*d) for d in diagnoses],
    )


def _code(text: str) -> str:
    """What a code field holds: the code, also when the title was typed after it."""
    head = text.strip().split(" ", 1)[0] if text.strip() else ""
    return head.upper().replace(",", ".")[:16]


def of_form(form: Mapping[str, str]) -> VisitForm:
    """The posted form as typed (for showing it again), without judging it."""
    rows = []
    for n in range(DX_MOST):
        if f"dx-{n}-code" not in form:
            continue
        rows.append(
            DxRow(
                _code(form.get(f"dx-{n}-code", "")),
                _pick(form.get(f"dx-{n}-rank", ""), RANKS, "secondary"),
                _pick(form.get(f"dx-{n}-course", ""), COURSES, "acute"),
                _pick(form.get(f"dx-{n}-verification", ""), VERIFICATIONS, "confirmed"),
            )
        )
    return VisitForm(
        protocol={s: form.get(s, "").replace("\r\n", "\n") for s in SECTIONS},
        diagnoses=rows,
        vitals={c: form.get(f"vital-{c}", "").strip() for c in VITALS if form.get(f"vital-{c}")},
    )


def _pick(value: str, allowed: tuple[str, ...], default: str) -> str:
    return value if value in allowed else default


def protocol_of(form: VisitForm) -> Protocol:
    for s in SECTIONS:
        if len(form.protocol.get(s, "")) > SECTION_MAX:
            raise FormError(N_("Раздел протокола длиннее {most} знаков."), most=SECTION_MAX)
    return Protocol(**{s: form.protocol.get(s, "") for s in SECTIONS})


def diagnoses_of(form: VisitForm, lang: str) -> list[DiagnosisIn]:
    found = []
    for d in form.diagnoses:
        if not d.code:
            continue
        if codes.diagnosis(d.code) is None:
            raise FormError(
                N_("Кода «{code}» нет в МКБ-10: выберите диагноз из подсказки."), code=d.code
            )
        found.append(
            DiagnosisIn(
                code=d.code,
                rank="primary" if d.rank == "primary" else "secondary",
                course="chronic" if d.course == "chronic" else "acute",
                verification="provisional" if d.verification == "provisional" else "confirmed",
            )
        )
    if sum(d.rank == "primary" for d in found) > 1:
        raise FormError(N_("Основной диагноз может быть только один."))
    if len({(d.code, d.rank) for d in found}) < len(found):
        raise FormError(N_("Один и тот же диагноз указан дважды."))
    return found


def vitals_of(form: VisitForm, lang: str) -> list[VitalIn]:
    found = []
    for code in VITALS:
        text = form.vitals.get(code, "").strip().replace(",", ".")
        if not text:
            continue
        m = codes.measure(code)
        assert m is not None, code
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise FormError(N_("{name}: введите число."), name=m.name(lang)) from None
        if not value.is_finite() or not m.plausible_min <= value <= m.plausible_max:
            raise FormError(
                N_("{name}: {value} — такого значения не бывает (возможно от {low} до {high})."),
                name=m.name(lang),
                value=text,
                low=number(float(m.plausible_min)),
                high=number(float(m.plausible_max)),
            )
        found.append(VitalIn(code=code, value=float(value)))
    return found


def signoff_of(form: VisitForm, lang: str) -> SignOff:
    return SignOff(
        protocol=protocol_of(form),
        diagnoses=diagnoses_of(form, lang),
        vitals=vitals_of(form, lang),
    )


def amendment_of(reason: str, form: VisitForm, lang: str) -> Amendment:
    reason = reason.strip()
    if len(reason) < 3:
        raise FormError(N_("Укажите причину исправления (не короче 3 знаков)."))
    if len(reason) > 500:
        raise FormError(N_("Причина исправления длиннее 500 знаков."))
    return Amendment(reason=reason, protocol=protocol_of(form), diagnoses=diagnoses_of(form, lang))
