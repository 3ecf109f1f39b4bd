"""Who is calling: the one place where the booking routes learn the caller.

Until the identity issue lands, the patient is named in the request (a body field or
the path) and taken as stated. The identity issue replaces :func:`acting_patient` with
the signed-in patient (or a guardian acting for a linked child) and refuses a patient
id that is not the caller's; no route reads the patient id anywhere else.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from imias.platform.problems import ProblemError

IDEMPOTENCY_HEADER = "Idempotency-Key"


def acting_patient(request: Request[Any, Any, Any], claimed: int) -> int:
    """The patient on whose behalf the request acts."""
    return claimed


def acting_staff(request: Request[Any, Any, Any], role: str) -> None:
    """The staff member (doctor, registrar) a staff-only request comes from.

    Until the identity issue lands this admits everyone; it then checks the signed-in
    staff member's role and organisation here, for every staff route at once.
    """
    return None


def idempotency_key(request: Request[Any, Any, Any]) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER, "")
    if not 8 <= len(key) <= 128 or not key.isprintable():
        raise ProblemError(
            400,
            "idempotency_key_required",
            f"Send an {IDEMPOTENCY_HEADER} header (8 to 128 characters) so that a retried "
            "request never books twice.",
        )
    return key
