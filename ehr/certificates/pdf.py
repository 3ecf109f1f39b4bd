"""A certificate to print: an A5 page with its form's heading, what it certifies and its
QR code, rendered from HTML and CSS by WeasyPrint (which draws text with Pango; fonts are
the system's, DejaVu or Liberation on Debian).

WeasyPrint is imported on the first PDF, not when the server starts: a machine without
Pango serves everything else, and the PDF answers 503 ``pdf_unavailable`` (saying what to
install) rather than failing. The page shows only what the certificate says (never who
examined the holder, never a diagnosis), and a QR code of 70 mm, about 0.8 mm a module,
which a phone reads from a printout.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import jinja2

from ehr.certificates.model import Certificate
from ehr.certificates.rules import KIND_TITLES, PE_GROUPS, RESTRICTIONS
from imias.platform import qr
from imias.platform.problems import ProblemError

log = logging.getLogger("imias.ehr.certificates")

#: The order each form was approved by (its heading, as printed forms carry it).
APPROVED_BY: dict[str, str] = {
    "003-В/у": "приказом Министерства здравоохранения Российской Федерации "
    "от 24 ноября 2021 г. № 1092н",
    "086/у": "приказом Министерства здравоохранения Российской Федерации "
    "от 15 декабря 2014 г. № 834н",
}
#: What follows the form's title (the driver's, in full), Russian and English.
HEADINGS: dict[str, tuple[str, str]] = {
    "driver": (
        "о наличии (об отсутствии) у водителей транспортных средств "
        "(кандидатов в водители транспортных средств) медицинских противопоказаний, "
        "медицинских показаний или медицинских ограничений к управлению транспортными "
        "средствами",
        "of (the absence of) contraindications, indications or restrictions for driving a vehicle",
    ),
}
UNAVAILABLE = (
    "The PDF cannot be made on this server: WeasyPrint needs the Pango library "
    "(Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0). The certificate and its "
    "QR code are shown on its page meanwhile."
)


class PdfUnavailable(ProblemError):
    """WeasyPrint (or the Pango it loads) is not there: 503 ``pdf_unavailable``."""

    def __init__(self, reason: str) -> None:
        super().__init__(503, "pdf_unavailable", UNAVAILABLE, extra={"reason": reason})


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ehr.certificates", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("certificate.html")


def context(certificate: Certificate, lang: str) -> dict[str, Any]:
    ru = lang == "ru"
    pick = 0 if ru else 1
    heading = HEADINGS.get(certificate.kind, KIND_TITLES[certificate.kind])[pick]
    return {
        "c": certificate,
        "ru": ru,
        "title": KIND_TITLES[certificate.kind][pick],
        "heading": heading,
        "approved": APPROVED_BY.get(certificate.form),
        "restrictions": [(code, RESTRICTIONS[code][pick]) for code in certificate.restrictions],
        "pe_group": None if certificate.pe_group is None else PE_GROUPS[certificate.pe_group][pick],
        "qr": qr.svg(certificate.qr, scale=2, title=certificate.number),
    }


def html(certificate: Certificate, lang: str = "ru") -> str:
    return _template().render(**context(certificate, lang))


def _weasyprint() -> Any:
    """The weasyprint module, or :class:`PdfUnavailable` when it (or Pango) cannot load."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: cffi finds no libpango/libgobject
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("certificate PDF unavailable: WeasyPrint cannot load (%s)", reason)
        raise PdfUnavailable(reason) from None
    return weasyprint


def render(certificate: Certificate, lang: str = "ru") -> bytes:
    """The certificate as a PDF (a second or so the first time, while fonts load);
    :class:`PdfUnavailable` (503) on a machine without Pango."""
    weasyprint = _weasyprint()
    return bytes(weasyprint.HTML(string=html(certificate, lang)).write_pdf())
