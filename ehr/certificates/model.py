"""Certificates' values: what the API takes and answers (msgspec Structs, no I/O)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from ehr.certificates.rules import Kind, PeGroup, Verdict

Id = Annotated[int, Meta(ge=1, le=2**63 - 1)]
Reason = Annotated[str, Meta(min_length=5, max_length=500)]
Place = Annotated[str, Meta(min_length=2, max_length=200, description="where the check is made")]
Number = Annotated[str, Meta(pattern=r"^\d{4}-\d{1,19}-[0-9A-Z]{8}$", max_length=40)]
QrText = Annotated[str, Meta(min_length=1, max_length=4096)]

#: What an officer's check answers (its own verdict for each failure, never "valid").
CheckVerdict = Literal[
    "valid",
    "expired",
    "not_yet_valid",
    "revoked",
    "not_genuine",
    "unknown_key",
    "key_withdrawn",
    "not_found",
]


class ConclusionIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A specialist's conclusion in her visit, for the driver's examination."""

    verdict: Verdict
    restrictions: list[str] = []


class Conclusion(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    encounter_id: int
    patient_id: int
    clinic_id: int
    examiner: str
    verdict: Verdict
    restrictions: list[str]
    recorded_at: datetime
    revoked: list[str] = []  # numbers of certificates this conclusion revoked


class ChecklistItem(msgspec.Struct, frozen=True, kw_only=True):
    examiner: str
    specialty: str  # the directory's specialty code to book
    title: str
    verdict: Verdict | None = None
    restrictions: list[str] = []
    recorded_on: date | None = None
    counts_until: date | None = None  # the day the conclusion stops counting


class Checklist(msgspec.Struct, frozen=True, kw_only=True):
    patient_id: int
    categories: list[str]
    items: list[ChecklistItem]
    complete: bool  # every examination concluded, none unfit
    unfit: list[str] = []


class CertificateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The chair issues a certificate (driver: from the conclusions on record)."""

    patient_id: Id
    kind: Kind = "driver"
    categories: list[str] = []
    pe_group: PeGroup | None = None
    valid_until: date | None = None  # a shorter term than the longest


class RevokeIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Reason


class Certificate(msgspec.Struct, frozen=True, kw_only=True):
    """A certificate as its holder and the clinic see it (with its QR's text)."""

    id: int
    number: str
    kind: Kind
    form: str
    patient_id: int
    clinic_id: int
    clinic: str
    holder: str
    birth_date: date
    categories: list[str]
    restrictions: list[str]
    pe_group: PeGroup | None = None
    valid_from: date
    valid_until: date
    issued_at: datetime
    status: Literal["valid", "expired", "revoked"]
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    qr: str
    key_id: str


class VerifyIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An officer's check: the QR's text, or the number with the holder's birth date."""

    place: Place
    qr: QrText | None = None
    number: str | None = None
    birth_date: date | None = None

    def __post_init__(self) -> None:
        if (self.qr is None) == (self.number is None):
            raise ValueError("give either the QR's text or the number with the birth date")
        if self.number is not None and self.birth_date is None:
            raise ValueError("a number is checked with the holder's birth date")


class Shown(msgspec.Struct, frozen=True, kw_only=True):
    """What a traffic stop needs and nothing more (never a diagnosis, never who examined)."""

    number: str
    kind: Kind
    holder: str
    birth_date: date
    categories: list[str]
    restrictions: list[str]
    pe_group: PeGroup | None = None
    valid_from: date
    valid_until: date
    clinic: str


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """An officer's answer: the verdict, and what the certificate says when it is genuine."""

    verdict: CheckVerdict
    certificate: Shown | None = None
    checked: Literal["online", "offline"] = "online"
    revocations_as_of: datetime | None = None


class PeGroupHeld(msgspec.Struct, frozen=True, kw_only=True):
    """A child's current physical-education group, as its certificate says."""

    patient_id: int
    number: str
    pe_group: PeGroup
    valid_from: date
    valid_until: date
