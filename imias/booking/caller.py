"""Who is calling, and for whom: the one place where the booking routes learn the caller.

The route's policy (:mod:`imias.identity.policies`) has already checked the
token and the role; this module decides whose data the caller reaches:

- A patient acts for themself, a linked child or the adult who gave a code. A request
  may omit ``patient_id`` (themself); any other patient answers 404, exactly like a
  patient that does not exist, so no one learns of someone else's data.
- A registrar acts for any patient she names, in her clinic only: its doctors, its
  appointments, holds and waiting entries (another clinic's answer 404; another
  clinic's doctor, public in the directory, 403).
- A doctor works in her clinic and reads, of the patients booked with it, the
  appointments at her clinic; another patient answers 403 ``break_glass_required``, and
  the rest of a patient's history stays out of the answer, until she breaks the glass
  with a reason (``POST /api/v1/break-glass``), after which she reads it all and her
  reads are flagged in the audit log.

It also records, for the audit log, whom the request acts for.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request

from imias.booking import repository as repo
from imias.booking.model import Channel
from imias.identity import Identity, Principal, principal_of
from imias.platform.audit.writer import access_var
from imias.platform.problems import ProblemError
from imias.registry import patients

log = logging.getLogger("imias.booking.access")

IDEMPOTENCY_HEADER = "Idempotency-Key"

PATIENT_CHANNELS: frozenset[str] = frozenset({"web", "app", "phone", "kiosk"})
REGISTRAR_CHANNELS: frozenset[str] = frozenset({"registrar", "phone"})


def caller(request: Request[Any, Any, Any]) -> Principal:
    return principal_of(request)


def _identity(request: Request[Any, Any, Any]) -> Identity:
    identity: Identity = request.app.state.identity
    return identity


def _pool(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.db


def not_found(what: str = "patient") -> ProblemError:
    return ProblemError(404, "not_found", f"There is no such {what}.")


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "forbidden", detail)


def _denied(principal: Principal, what: str) -> None:
    log.info(
        "refused: %s outside the caller's reach",
        what,
        extra={"role": principal.role, "subject": principal.sub, "org": principal.org},
    )


def acts_for(principal: Principal, patient_id: int) -> None:
    """Note, for the audit log, the patient this request acts on behalf of: a guardian's
    child, the adult who gave a code, a registrar's patient (a doctor acts for no one)."""
    who = access_var.get()
    if who is None or principal.role == "doctor":
        return
    if not (principal.role == "patient" and patient_id == principal.subject):
        who.acting_for = patient_id


async def acting_patient(request: Request[Any, Any, Any], claimed: int | None) -> int:
    """The patient on whose behalf a patient or a registrar acts."""
    principal = caller(request)
    if principal.role == "patient":
        patient = principal.subject if claimed is None else claimed
        if patient != principal.subject and not await _identity(request).accounts.may_act_for(
            principal, patient
        ):
            _denied(principal, "another patient")
            raise not_found()
    elif principal.role == "registrar":
        if claimed is None:
            raise ProblemError(
                400, "patient_id_required", "Name the patient you act for (patient_id)."
            )
        patient = claimed
    else:
        raise forbidden(f"A {principal.role} does not act for patients here.")
    acts_for(principal, patient)
    return patient


def channel_of(principal: Principal, given: Channel | None) -> Channel:
    """The booking channel: a patient's own (web by default), a registrar's desk or phone."""
    if principal.role == "registrar":
        channel = given or "registrar"
        allowed = REGISTRAR_CHANNELS
    else:
        channel = given or "web"
        allowed = PATIENT_CHANNELS
    if channel not in allowed:
        raise forbidden(f"A {principal.role} does not book on the {channel} channel.")
    return channel


def clinic_scope(request: Request[Any, Any, Any]) -> int | None:
    """The clinic a registrar or a doctor is bound to (None for a patient)."""
    principal = caller(request)
    if principal.role == "patient":
        return None
    if principal.org is None:
        raise forbidden("This account is not bound to a clinic.")
    return principal.org


def doctor_in_scope(request: Request[Any, Any, Any], doctor_id: int) -> None:
    """A registrar or a doctor reaches her own clinic's doctors only (the directory is
    public, so another clinic's doctor is a 403, not a 404). An unknown doctor is left
    to the service, which answers 404."""
    clinic = clinic_scope(request)
    if clinic is None:
        return
    doctor = request.app.state.engine.directory.doctors.get(doctor_id)
    if doctor is not None and doctor.clinic_id != clinic:
        _denied(caller(request), "another clinic's doctor")
        raise forbidden("That doctor works in another clinic.")


async def staff_appointment(
    request: Request[Any, Any, Any], appointment_id: int, claimed: int | None = None
) -> int:
    """A registrar's or a doctor's appointment, in her clinic (else 404); its patient."""
    principal = caller(request)
    clinic = clinic_scope(request)
    row = await repo.appointment_owner(_pool(request), appointment_id)
    if row is None or row["clinic_id"] != clinic or claimed not in (None, row["patient_id"]):
        _denied(principal, "another clinic's appointment")
        raise not_found("appointment")
    patient_id: int = row["patient_id"]
    acts_for(principal, patient_id)
    return patient_id


async def staff_hold(
    request: Request[Any, Any, Any], token: str, claimed: int | None = None
) -> int:
    """A registrar's hold, in her clinic (else 404); its patient."""
    principal = caller(request)
    row = await repo.hold_owner(_pool(request), token)
    if (
        row is None
        or row["clinic_id"] != clinic_scope(request)
        or claimed
        not in (
            None,
            row["patient_id"],
        )
    ):
        _denied(principal, "another clinic's hold")
        raise not_found("hold")
    patient_id: int = row["patient_id"]
    acts_for(principal, patient_id)
    return patient_id


async def staff_waitlist_entry(
    request: Request[Any, Any, Any], patient_id: int | None, entry_id: int
) -> int:
    """A registrar's waiting entry, for her clinic (else 404); its patient."""
    principal = caller(request)
    if patient_id is None:
        raise ProblemError(400, "patient_id_required", "Name the patient (patient_id).")
    row = await repo.waitlist_entry_clinic(_pool(request), patient_id, entry_id)
    if row is None or row["clinic_id"] != clinic_scope(request):
        _denied(principal, "another clinic's waiting entry")
        raise not_found("waiting entry")
    acts_for(principal, patient_id)
    return patient_id


async def readable_patient(request: Request[Any, Any, Any], patient_id: int) -> int | None:
    """May the caller read this patient's booking data? Returns the clinic the answer is
    limited to (a registrar's; a doctor's, for a patient booked with her clinic), or
    None for all of it (the patient, a guardian, a doctor under break-glass); raises
    404 / 403 otherwise."""
    principal = caller(request)
    if principal.role == "patient":
        await acting_patient(request, patient_id)
        return None
    clinic = clinic_scope(request)
    assert clinic is not None
    pool = _pool(request)
    if not await patients.exists(pool, patient_id):
        raise not_found()
    if principal.role == "registrar":
        return clinic
    if principal.role == "doctor":
        reason = await _identity(request).accounts.break_glass_reason(principal, patient_id)
        if reason is not None:  # all of it, each read flagged in the audit log
            who = access_var.get()
            if who is not None:
                who.break_glass_reason = reason
            return None
        if await repo.booked_with_clinic(pool, patient_id, clinic):
            return clinic  # her clinic's rows; the rest of the history needs break-glass
        _denied(principal, "a patient not booked with the clinic")
        raise ProblemError(
            403,
            "break_glass_required",
            "This patient is not booked with your clinic. To read their data anyway, "
            "break the glass with a reason (POST /api/v1/break-glass); it is audited.",
        )
    raise forbidden(f"A {principal.role} does not read booking data.")


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
