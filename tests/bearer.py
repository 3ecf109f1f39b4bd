"""Tokens for tests, minted the way `imias token` does with the server's key. Imported by
tests as ``bearer`` (tests/ is on sys.path). Apps under test get ``TEST_SECRET`` as
their IMIAS_SECRET_KEY (``load_settings(..., secret_key=TEST_SECRET)``)."""

from __future__ import annotations

from imias.identity import tokens
from imias.identity.keys import Keys

TEST_SECRET = "imias-test-secret-key-not-for-production-0123456789"


def token(
    role: str,
    subject: int,
    *,
    org: int | None = None,
    doctor: int | None = None,
    acting_for: int | None = None,
    ttl: int = 900,
    secret: str = TEST_SECRET,
) -> str:
    claims = tokens.claims(
        role,  # type: ignore[arg-type]
        subject,
        org=org,
        doctor=doctor,
        acting_for=acting_for,
        ttl=ttl,
    )
    return tokens.mint(Keys.from_secret(secret).token, claims)


def bearer(role: str, subject: int, **kwargs: object) -> dict[str, str]:
    """The Authorization header of a fresh token."""
    return {"Authorization": "Bearer " + token(role, subject, **kwargs)}  # type: ignore[arg-type]


def patient(patient_id: int) -> dict[str, str]:
    return bearer("patient", patient_id)


def registrar(clinic_id: int, staff_id: int | None = None) -> dict[str, str]:
    return bearer("registrar", staff_id or 100_000 + clinic_id, org=clinic_id)


def doctor(doctor_id: int, clinic_id: int, staff_id: int | None = None) -> dict[str, str]:
    return bearer("doctor", staff_id or 200_000 + doctor_id, org=clinic_id, doctor=doctor_id)


def administrator(staff_id: int = 1) -> dict[str, str]:
    return bearer("administrator", staff_id)
