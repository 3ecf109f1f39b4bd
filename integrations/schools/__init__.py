"""The schools connected: a guardian's consent per child and school (or club), a child's
illness days ("Б" in the journal) and school certificates (086/у, the PE group, the pool)
sent to the consented schools' journals, the school nurse's list of her school's
children with a PE restriction, and ``imias simulate school``, the journal's other side.

Other packages use the names below and nothing else of this package."""

from integrations.schools.api import SchoolConsentController, SchoolNurseController
from integrations.schools.handlers import register
from integrations.schools.model import (
    AbsenceMessage,
    CertificateMessage,
    ConsentIn,
    RestrictedPupil,
    SchoolConsent,
    SchoolMessage,
)
from integrations.schools.service import SchoolConsents, SchoolNurse

__all__ = [
    "AbsenceMessage",
    "CertificateMessage",
    "ConsentIn",
    "RestrictedPupil",
    "SchoolConsent",
    "SchoolConsentController",
    "SchoolConsents",
    "SchoolMessage",
    "SchoolNurse",
    "SchoolNurseController",
    "register",
]
