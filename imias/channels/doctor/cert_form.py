"""The visit page's certificate forms as the doctor filled them, and what the page makes
of them: the values to show again (a refusal, a checklist for other categories) or the
command to send (:class:`ehr.certificates.ConclusionIn`, ``CertificateIn``) or a
sentence saying what to correct. No I/O.

Field names: the conclusion's ``verdict`` and ``restriction-<code>`` (ticked); the
certificate's ``kind``, ``category-<code>`` (ticked), ``pe_group`` and ``action``
(``check``: the checklist for the ticked categories; ``issue``); a revocation's
``reason``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from ehr import certificates
from imias.channels.doctor.visit_form import FormError
from imias.channels.web.i18n import N_

rules = certificates.rules

VERDICTS = ("fit", "restricted", "unfit")
SCHOOL_KINDS = ("school", "pe_group", "pool")
#: The categories a driver's certificate is asked for when the doctor named none yet.
DEFAULT_CATEGORIES = ("B",)
REASON_MIN, REASON_MAX = 5, 500


@dataclass(slots=True)
class CertState:
    """The certificate sections as the page shows them: what was typed, and a sentence to
    correct beside the form it is about."""

    verdict: str = ""
    restrictions: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    kind: str = "school"
    pe_group: str = ""
    conclusion_error: str | None = None
    driver_error: str | None = None
    school_error: str | None = None
    revoke_error: str | None = None
    revoking: str = ""  # the number whose revocation was refused
    reason: str = ""


def ticked(form: Mapping[str, str], prefix: str, allowed: tuple[str, ...]) -> list[str]:
    """The ``<prefix><value>`` checkboxes ticked, in the order of ``allowed``."""
    return [v for v in allowed if form.get(prefix + v)]


def conclusion_of_form(form: Mapping[str, str]) -> CertState:
    verdict = form.get("verdict", "")
    return CertState(
        verdict=verdict if verdict in VERDICTS else "",
        restrictions=ticked(form, "restriction-", tuple(rules.RESTRICTIONS)),
    )


def conclusion_in(state: CertState) -> certificates.ConclusionIn:
    """The conclusion the form asks for (the rules judge it), or what to correct."""
    if not state.verdict:
        raise FormError(N_("Выберите заключение: годен, годен с ограничениями или не годен."))
    return msgspec.convert(
        {"verdict": state.verdict, "restrictions": state.restrictions}, certificates.ConclusionIn
    )


def certificate_of_form(form: Mapping[str, str]) -> CertState:
    kind = form.get("kind", "driver")
    pe_group = form.get("pe_group", "")
    return CertState(
        categories=ticked(form, "category-", rules.CATEGORIES),
        kind=kind if kind in SCHOOL_KINDS else "school",
        pe_group=pe_group if pe_group in rules.PE_GROUPS else "",
    )


def certificate_in(patient_id: int, kind: str, state: CertState) -> certificates.CertificateIn:
    """The certificate the form asks for, or what to correct."""
    if kind == "driver":
        if not state.categories:
            raise FormError(N_("Отметьте хотя бы одну категорию."))
        fields: dict[str, object] = {
            "patient_id": patient_id,
            "kind": "driver",
            "categories": state.categories,
        }
    else:
        if kind == "pe_group" and not state.pe_group:
            raise FormError(N_("Выберите группу для занятий физкультурой."))
        fields = {"patient_id": patient_id, "kind": kind}
        if kind == "pe_group":
            fields["pe_group"] = state.pe_group
    return msgspec.convert(fields, certificates.CertificateIn)


def revocation_reason(form: Mapping[str, str]) -> str:
    reason = form.get("reason", "").replace("\r\n", "\n").strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise FormError(
            N_("Укажите причину отзыва (от {least} до {most} знаков)."),
            least=REASON_MIN,
            most=REASON_MAX,
        )
    return reason
