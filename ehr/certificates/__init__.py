"""Medical certificates, documents of the record: the driver's (003-В/у) from the
specialists' conclusions, and the school's (086/у, the physical-education group, the
pool); signed by the issuing clinic's key into a QR that a police officer checks
offline, as the EU Digital COVID Certificate is (CBOR, COSE_Sign1, zlib, base45, a
signed trust list and revocation list).

Other packages use the names below and nothing else of this package.
"""

from ehr.certificates import cose, events, pdf, rules
from ehr.certificates.keys import CertificateKeys, anchor_of
from ehr.certificates.limits import CheckLimiter
from ehr.certificates.model import (
    Certificate,
    CertificateIn,
    Check,
    Checklist,
    ChecklistItem,
    Conclusion,
    ConclusionIn,
    PeGroupHeld,
    Shown,
    VerifyIn,
)
from ehr.certificates.service import Certificates, pe_groups
from ehr.certificates.trust import Revocations, TrustList, check_offline

__all__ = [
    "Certificate",
    "CertificateIn",
    "CertificateKeys",
    "Certificates",
    "Check",
    "CheckLimiter",
    "Checklist",
    "ChecklistItem",
    "Conclusion",
    "ConclusionIn",
    "PeGroupHeld",
    "Revocations",
    "Shown",
    "TrustList",
    "VerifyIn",
    "anchor_of",
    "check_offline",
    "cose",
    "events",
    "pdf",
    "pe_groups",
    "rules",
]
