"""The schools' adapter's values: a guardian's consent (what the API takes and answers),
what the school nurse sees, and the messages a school's journal is sent (format
``imias.school/1``, JSON). No I/O.

A message to a school holds what the journal needs and nothing else of the record: the
school, the child (IMIAS id, name, birth date), and either the absence (days, reason
"illness", the journal's mark "Б") or the certificate (kind, form, number, validity, the
PE group or the pool admission). Never a diagnosis."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Id = Annotated[int, Meta(ge=1, le=2**63 - 1)]
FORMAT = "imias.school/1"


class ConsentIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A guardian consents that ``school_id`` is sent the child's illness absences and/or
    certificates (replacing a consent in force for that school)."""

    school_id: Id
    absences: bool = False
    certificates: bool = False


class SchoolConsent(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    patient_id: int
    school_id: int
    school: str
    school_kind: Literal["school", "club"]
    absences: bool
    certificates: bool
    given_at: datetime
    withdrawn_at: datetime | None = None
    status: Literal["active", "withdrawn"]


class RestrictedPupil(msgspec.Struct, frozen=True, kw_only=True):
    """A child of the nurse's school with a physical-education restriction: who, the
    group, and until when (nothing else of the record)."""

    patient_id: int
    name: str
    birth_date: date
    pe_group: str
    certificate: str
    valid_until: date


# -- the messages to a school's journal --------------------------------------------------------


class SchoolRef(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    kind: str


class Pupil(msgspec.Struct, frozen=True, kw_only=True):
    """The child as the school knows them: ``id`` is the child's IMIAS id (stable; the
    same as the delivery's ``x-imias-order-key``)."""

    id: str
    name: str
    birth_date: date


class Absence(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # the illness episode's, stable: a closing replaces its opening
    reason: Literal["illness"] = "illness"
    mark: str = "Б"
    starts_on: date
    ends_on: date | None  # None: still ill (marked from starts_on on)
    status: Literal["open", "closed"]


class AbsenceMessage(msgspec.Struct, frozen=True, kw_only=True, tag="absence"):
    format: str = FORMAT
    school: SchoolRef
    pupil: Pupil
    absence: Absence
    sent_for: datetime  # when the change was made in the record


class SchoolCertificate(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    kind: Literal["school", "pe_group", "pool"]
    form: str
    status: Literal["valid", "revoked"]
    valid_from: date | None = None
    valid_until: date | None = None
    pe_group: str | None = None  # main, preparatory, special_a, special_b
    pool_admitted: bool | None = None  # a pool certificate admits to swimming


class CertificateMessage(msgspec.Struct, frozen=True, kw_only=True, tag="certificate"):
    format: str = FORMAT
    school: SchoolRef
    pupil: Pupil
    certificate: SchoolCertificate
    sent_for: datetime


SchoolMessage = AbsenceMessage | CertificateMessage
