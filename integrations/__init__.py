"""Adapters between IMIAS's domains and the outside: the ambulance service, the schools,
HL7 v2 feeds and FHIR scheduling; the delivery of every message out (queued with the
event it comes from, sent by a worker per partner, signed, retried, in order per
patient, dead-lettered), the inbound side (authenticated, deduplicated) and the
simulators of the other side (``imias simulate``).

Other packages use the names below and nothing else of this package.
"""

from integrations import admin
from integrations.admin import DeliveryLine, PartnersOverview, PartnerView
from integrations.ambulance import ActiveVisit, ActiveVisits
from integrations.delivery import DeliveryWorker
from integrations.model import Message, Partner
from integrations.notifications import (
    NoticeRouter,
    NotificationPreferences,
    Preference,
    PreferenceIn,
    QuietHours,
)
from integrations.plugin import IntegrationsPlugin
from integrations.repository import save_partner
from integrations.routing import Event, Router
from integrations.schools import (
    ConsentIn,
    RestrictedPupil,
    SchoolConsent,
    SchoolConsents,
    SchoolNurse,
)
from integrations.signing import partner_secret, signed_headers

__all__ = [
    "ActiveVisit",
    "ActiveVisits",
    "ConsentIn",
    "DeliveryLine",
    "DeliveryWorker",
    "Event",
    "IntegrationsPlugin",
    "Message",
    "NoticeRouter",
    "NotificationPreferences",
    "Partner",
    "PartnerView",
    "PartnersOverview",
    "Preference",
    "PreferenceIn",
    "QuietHours",
    "RestrictedPupil",
    "Router",
    "SchoolConsent",
    "SchoolConsents",
    "SchoolNurse",
    "admin",
    "partner_secret",
    "save_partner",
    "signed_headers",
]
