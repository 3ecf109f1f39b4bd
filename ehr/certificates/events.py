"""The events certificates write to the outbox (topic :data:`TOPIC`) with each issue and
revocation, in the change's transaction: what the certificate says that its holder may
show others (kind, number, validity, the PE group), never a diagnosis, a conclusion or a
revocation's reason."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from ehr.certificates.rules import Kind, PeGroup

#: The outbox topic of certificates' events.
TOPIC = "ehr.certificate"


class CertificateIssued(msgspec.Struct, frozen=True, kw_only=True, tag="certificate_issued"):
    certificate_id: int
    patient_id: int
    number: str
    kind: Kind
    pe_group: PeGroup | None = None
    valid_from: date
    valid_until: date
    at: datetime


class CertificateRevoked(msgspec.Struct, frozen=True, kw_only=True, tag="certificate_revoked"):
    certificate_id: int
    patient_id: int
    number: str
    kind: Kind
    at: datetime


CertificateEvent = CertificateIssued | CertificateRevoked
