"""Adapters between IMIAS's domains and the outside: the ambulance service, the schools,
HL7 v2 feeds and FHIR scheduling; the delivery of every message out (queued with the
event it comes from, sent by a worker per partner, signed, retried, in order per
patient, dead-lettered), the inbound side (authenticated, deduplicated) and the
simulators of the other side (``imias simulate``).

Other packages use the names below and nothing else of this package.
"""

from integrations.ambulance import ActiveVisit, ActiveVisits
from integrations.model import Message, Partner
from integrations.plugin import IntegrationsPlugin
from integrations.schools import (
    ConsentIn,
    RestrictedPupil,
    SchoolConsent,
    SchoolConsents,
    SchoolNurse,
)

__all__ = [
    "ActiveVisit",
    "ActiveVisits",
    "ConsentIn",
    "IntegrationsPlugin",
    "Message",
    "Partner",
    "RestrictedPupil",
    "SchoolConsent",
    "SchoolConsents",
    "SchoolNurse",
]
