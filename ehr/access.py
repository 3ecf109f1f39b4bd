"""Who reads and writes a patient's record, and what of it.

- A patient reads their own card and a linked child's until the child is 18; anyone
  else answers 404, as if there were no such patient.
- A doctor reads the card of a patient attached to her clinic, booked with her, or
  whom she has seen; anyone else needs break-glass (403 ``break_glass_required``), and
  with it every read is flagged in the audit log. She writes only in her clinic's
  encounters, and only in her own.
- Restricted diagnoses (:func:`ehr.codes.restricted_class`) are read by the patient, their
  author and the doctors of the class's specialty group; other readers see that a
  restricted entry exists, not what it is, unless they break the glass.

The booking domain tells whether a patient is booked with a doctor and whose an
appointment is, through :class:`CareLinks` (set by the app as ``app.state.care_links``);
the record does not read the booking's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from ehr import codes
from ehr import repository as repo
from imias.identity import Identity, Principal
from imias.platform.audit import access_var
from imias.platform.db import Executor
from imias.platform.problems import ProblemError
from imias.registry import patients


class AppointmentParties(Protocol):
    """An appointment as the record needs it."""

    @property
    def patient_id(self) -> int: ...
    @property
    def clinic_id(self) -> int: ...
    @property
    def doctor_id(self) -> int: ...
    @property
    def status(self) -> str: ...


class CareLinks(Protocol):
    """What the record asks of the booking domain."""

    async def appointment(self, appointment_id: int) -> AppointmentParties | None: ...

    async def booked_with(self, patient_id: int, clinic_id: int, doctor_id: int) -> bool: ...


class Medications(Protocol):
    """What the card asks of the prescriptions: the patient's current medications, a
    line each (the drug, the dose, until when)."""

    async def current(self, patient_id: int, lang: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads, and with what reach."""

    role: Literal["patient", "doctor", "ambulance"]
    staff_id: int | None  # a doctor's (or crew's) staff account (the author column)
    doctor_id: int | None
    clinic_id: int | None
    specialty: str | None
    break_glass: bool = False

    def sees(self, restricted: str | None, author_id: int) -> bool:
        """Whether this reader sees a restricted entry of class ``restricted``."""
        if restricted is None or self.role == "patient" or self.break_glass:
            return True
        if author_id == self.staff_id:
            return True
        return self.specialty in codes.RESTRICTED_READERS.get(restricted, frozenset())


def not_found(what: str = "patient") -> ProblemError:
    return ProblemError(404, "not_found", f"There is no such {what}.")


BREAK_GLASS_REQUIRED = (
    "This patient is neither attached to your clinic nor booked with you. To read the "
    "record anyway, break the glass with a reason (POST /api/v1/break-glass); it is audited."
)


class RecordAccess:
    def __init__(self, pool: Executor, identity: Identity, care: CareLinks | None) -> None:
        self.pool = pool
        self.identity = identity
        self.care = care
        self._specialties: dict[tuple[int, int], str | None] = {}

    async def specialty(self, clinic_id: int, doctor_id: int) -> str | None:
        key = (clinic_id, doctor_id)
        if key not in self._specialties:
            self._specialties[key] = await repo.specialty_of(self.pool, clinic_id, doctor_id)
        return self._specialties[key]

    async def reader(self, principal: Principal, patient_id: int) -> Reader:
        """The caller's reach into ``patient_id``'s record (404 / 403 otherwise)."""
        if principal.role == "patient":
            if patient_id != principal.subject and not await self.identity.accounts.guardian_of(
                principal, patient_id
            ):
                raise not_found()
            who = access_var.get()
            if who is not None and patient_id != principal.subject:
                who.acting_for = patient_id
            return Reader("patient", None, None, None, None)
        if principal.role != "doctor":
            raise ProblemError(403, "forbidden", f"A {principal.role} does not read records here.")
        doctor, clinic = principal.doc, principal.org
        if doctor is None or clinic is None:
            raise ProblemError(403, "forbidden", "This account is not bound to a doctor.")
        if not await patients.exists(self.pool, patient_id):
            raise not_found()
        specialty = await self.specialty(clinic, doctor)
        reason = await self.identity.accounts.break_glass_reason(principal, patient_id)
        if reason is not None:
            who = access_var.get()
            if who is not None:
                who.break_glass_reason = reason
            return Reader("doctor", principal.subject, doctor, clinic, specialty, True)
        if (
            await patients.attached_clinic(self.pool, patient_id) == clinic
            or await repo.wrote_for(self.pool, patient_id, clinic, doctor)
            or (self.care is not None and await self.care.booked_with(patient_id, clinic, doctor))
        ):
            return Reader("doctor", principal.subject, doctor, clinic, specialty)
        raise ProblemError(403, "break_glass_required", BREAK_GLASS_REQUIRED)
