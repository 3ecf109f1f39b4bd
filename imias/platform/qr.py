"""QR codes of signed documents (a prescription at the pharmacy, a certificate at a traffic
stop), drawn by ``segno`` as SVG (no image library, prints sharp at any size)."""

from __future__ import annotations

import io

import segno


def svg(text: str, *, scale: int = 4, title: str | None = None) -> str:
    """The QR code of ``text`` (error correction M: a crumpled printout still reads)."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(
        out, kind="svg", scale=scale, border=4, xmldecl=False, title=title, svgclass="qr"
    )
    return out.getvalue().decode("utf-8")
