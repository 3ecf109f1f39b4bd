"""What the certificates' pages (the doctor's visit, the portal) share in their templates:
the names of kinds, verdicts, states, examiners, restrictions and PE groups in the page
language, a refusal's sentence (by the rules' and the service's codes) and the signed
QR code drawn inline, scalable to the screen it is shown on."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any

from litestar import Request, Response
from markupsafe import Markup

from ehr import certificates
from imias.channels.web.errors import sentence
from imias.channels.web.i18n import N_
from imias.channels.web.pages import lang_of, say
from imias.identity import principal_of
from imias.platform import qr
from imias.platform.problems import ProblemError

rules = certificates.rules
NUMBER = re.compile(r"\d{4}-\d{1,19}-[0-9A-Z]{8}")

#: A certificate's kind as a list names it (the printed title is the rules' KIND_TITLES).
KINDS = {
    "driver": N_("Медицинское заключение водителя"),
    "school": N_("Справка для образовательной организации"),
    "pe_group": N_("Справка о группе для занятий физкультурой"),
    "pool": N_("Справка для бассейна"),
}
LABELS = {
    # a conclusion's verdict
    "fit": N_("годен"),
    "restricted": N_("годен с ограничениями"),
    "unfit": N_("не годен"),
    # a certificate's state, and an officer's check's verdict
    "valid": N_("действительна"),
    "expired": N_("истекла"),
    "revoked": N_("отозвана"),
    "not_yet_valid": N_("ещё не действует"),
    "not_genuine": N_("подделана или повреждена"),
    "unknown_key": N_("подписана неизвестным ключом"),
    "key_withdrawn": N_("ключ поликлиники отозван"),
    "not_found": N_("не найдена"),
}

#: The rules' and the service's refusals as the pages say them (by code); ``{names}``
#: is filled with the examinations named in the refusal.
REFUSALS = {
    "not_an_examiner": N_(
        "Заключение для медицинского заключения водителя дают терапевт, офтальмолог, "
        "психиатр, психиатр-нарколог, невролог и оториноларинголог."
    ),
    "conclusion_yes_no": N_(
        "Психиатр и психиатр-нарколог дают заключение «годен» или «не годен», без ограничений."
    ),
    "restrictions_missing": N_("Для заключения «годен с ограничениями» отметьте ограничения."),
    "restrictions_not_allowed": N_(
        "Ограничения отмечают только при заключении «годен с ограничениями»."
    ),
    "unknown_restriction": N_("Такого ограничения нет: выберите из списка."),
    "restriction_not_yours": N_("Это ограничение устанавливает другой специалист."),
    "restriction_twice": N_("Ограничение отмечено дважды."),
    "no_categories": N_("Отметьте хотя бы одну категорию."),
    "unknown_category": N_("Такой категории нет: выберите из списка."),
    "conclusions_missing": N_("Справку выдать нельзя: нет заключений: {names}."),
    "unfit": N_(
        "Справку выдать нельзя: по заключению ({names}) пациент не годен к управлению "
        "транспортным средством этих категорий."
    ),
    "valid_until_past": N_("Справка не может закончиться раньше, чем выдана."),
    "valid_until_too_long": N_("Справка этого вида действует не дольше, чем до {longest}."),
    "pe_group_not_allowed": N_("У медицинского заключения водителя нет группы физкультуры."),
    "categories_not_allowed": N_("Категории есть только у медицинского заключения водителя."),
    "pe_group_missing": N_("Выберите группу для занятий физкультурой."),
    "not_the_chair": N_("Эту справку выдаёт терапевт, врач общей практики или педиатр."),
    "already_revoked": N_("Эта справка уже отозвана."),
    "visit_in_error": N_("Этот приём отмечен как ошибочный."),
    "forbidden": N_("Это приём другого врача."),
}

#: The reason a later unfit conclusion writes when it revokes a certificate.
_UNFIT_REASON = re.compile(r"^unfit: a later conclusion of the (\w+)$")
#: An officer's check as the audit log keeps it: "<place> (<verdict>)".
_CHECK_REASON = re.compile(r"^(?P<place>.*) \((?P<verdict>[a-z_]+)\)$", re.S)


def pick(pair: tuple[Any, ...], lang: str) -> str:
    """The Russian or the English of a (ru, en, ...) entry of the rules."""
    return str(pair[1] if lang == "en" else pair[0])


def examiner_title(code: str, lang: str) -> str:
    found = rules.EXAMINER_TITLES.get(code)
    return pick(found, lang) if found else code


def restriction_name(code: str, lang: str) -> str:
    found = rules.RESTRICTIONS.get(code)
    return pick(found, lang) if found else code


def certificate_sentence(exc: ProblemError, request: Request[Any, Any, Any]) -> str:
    """What a person reads of a certificates' refusal, in the page language (the
    examinations it names, by their titles)."""
    known = REFUSALS.get(exc.code)
    if known is None:
        return sentence(exc, request)
    lang = lang_of(request)
    named: Iterable[Any] = exc.extra.get("missing") or exc.extra.get("unfit") or ()
    names = ", ".join(examiner_title(str(e), lang) for e in named).lower()
    return say(request, known).format(names=names, longest=exc.extra.get("longest", ""))


def revoked_reason(reason: str | None, request: Request[Any, Any, Any]) -> str:
    """A revocation's reason as written by a doctor, or, for the one a later unfit
    conclusion writes, in the page's words."""
    if not reason:
        return ""
    found = _UNFIT_REASON.match(reason)
    if found is None:
        return reason
    return say(request, "по более позднему заключению: {examiner} — не годен").format(
        examiner=examiner_title(found.group(1), lang_of(request))
    )


def check_place(reason: str | None, request: Request[Any, Any, Any]) -> str:
    """An officer's check in the access log: the place, and the verdict in words."""
    found = _CHECK_REASON.match(reason or "")
    if found is None:
        return reason or ""
    verdict = found.group("verdict")
    word = say(request, LABELS[verdict]) if verdict in LABELS else verdict
    return f"{found.group('place')} ({word})"


def certificate_qr(text: str, label: str) -> Markup:
    """The signed QR code as inline SVG, an image named ``label`` that scales to the width
    it is given (a viewBox; no fixed size), each module a whole number of pixels at
    the sizes the pages give it."""
    drawn = qr.svg(text, scale=1, title=label)
    size = re.search(r'<svg\b[^>]*\bwidth="(\d+)"[^>]*\bheight="(\d+)"', drawn)
    assert size is not None, "segno draws an SVG with its size"
    width, height = size.groups()
    named = re.sub(
        r'<svg\b([^>]*?) width="\d+" height="\d+"',
        rf'<svg\1 viewBox="0 0 {width} {height}" role="img" focusable="false"'
        ' shape-rendering="crispEdges" preserveAspectRatio="xMidYMid meet"',
        drawn,
        count=1,
    )
    return Markup(named)  # noqa: S704 (segno's own drawing; the label is escaped by it)


def certificate_helpers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """What the certificates' templates use, in the page language."""
    lang = lang_of(request)
    return {
        "kind_name": lambda k: say(request, KINDS[k]) if k in KINDS else k,
        "form_of": lambda k: rules.FORMS.get(k, ""),
        "cert_label": lambda v: say(request, LABELS[v]) if v in LABELS else v,
        "examiner_title": lambda e: examiner_title(e, lang),
        "restriction_name": lambda r: restriction_name(r, lang),
        "pe_group_name": lambda g: pick(rules.PE_GROUPS[g], lang) if g in rules.PE_GROUPS else g,
        "revoked_reason": lambda r: revoked_reason(r, request),
        "certificate_qr": certificate_qr,
    }


def certificates_of(request: Request[Any, Any, Any]) -> certificates.Certificates:
    service: certificates.Certificates = request.app.state.certificates
    return service


async def certificate_pdf(request: Request[Any, Any, Any], number: str) -> Response[bytes]:
    """A certificate as a PDF to download in the page language, for whoever may read it
    (a holder, a guardian, a doctor who may read the record; 404 else)."""
    if not NUMBER.fullmatch(number):
        raise ProblemError(404, "not_found", say(request, "Такой справки нет."))
    found = await certificates_of(request).one(principal_of(request), number)
    lang = "en" if lang_of(request) == "en" else "ru"
    body = await asyncio.to_thread(certificates.pdf.render, found, lang)
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="certificate-{number}.pdf"',
            "Cache-Control": "no-store",
        },
    )
