"""A certificate to print: an A5 page with its form, what it certifies and its QR code,
rendered from HTML and CSS by WeasyPrint (which draws text with Pango; fonts are the
system's, DejaVu or Liberation on Debian).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2

from ehr.certificates.model import Certificate
from ehr.certificates.rules import KIND_TITLES, PE_GROUPS, RESTRICTIONS
from imias.platform import qr


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
    return {
        "c": certificate,
        "ru": ru,
        "title": KIND_TITLES[certificate.kind][pick],
        "restrictions": [(code, RESTRICTIONS[code][pick]) for code in certificate.restrictions],
        "pe_group": None if certificate.pe_group is None else PE_GROUPS[certificate.pe_group][pick],
        "qr": qr.svg(certificate.qr, scale=2, title=certificate.number),
    }


def html(certificate: Certificate, lang: str = "ru") -> str:
    return _template().render(**context(certificate, lang))


def render(certificate: Certificate, lang: str = "ru") -> bytes:
    """The certificate as a PDF (a second or so the first time, while fonts load)."""
    import weasyprint  # imported on first use: it loads Pango and the fonts

    return bytes(weasyprint.HTML(string=html(certificate, lang)).write_pdf())
