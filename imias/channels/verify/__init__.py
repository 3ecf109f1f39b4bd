"""The police officer's page ``/verify``: she signs in, names the place, and checks a
medical certificate by its QR code (the camera, a photo, or the text a handheld scanner
types) or by its number with the holder's birth date. Online the server answers (and
writes the check to the holder's access log); with no network the page's own script
checks the QR's signature against the trust list and the revocation list it kept, both
signed by the city's trust anchor whose key the page carries."""

from imias.channels.verify.pages import (
    VerifyController,
    verify_qr_decoder,
    verify_script,
    verify_worker,
)

__all__ = ["VerifyController", "verify_qr_decoder", "verify_script", "verify_worker"]
