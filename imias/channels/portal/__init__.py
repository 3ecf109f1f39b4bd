"""The patient web portal ``/``: sign-in with the SMS code, nearest clinics with their
earliest time, booking with a hold and its countdown, my appointments (cancel,
reschedule), the waitlist, referrals, family members, the medical card, prescriptions
with their QR codes, medical certificates with theirs and the driver's checklist, how I
am told (SMS, e-mail, quiet hours) and who looked at my data (police checks of a
certificate included). The pages call the booking and identity services with the API's
rules, so every read and change is audited as it is for the API."""

from imias.channels.portal.account import PortalAccountController
from imias.channels.portal.booking import PortalBookingController
from imias.channels.portal.certificates import PortalCertificateController
from imias.channels.portal.notifications import PortalNotificationsController
from imias.channels.portal.pages import PortalController
from imias.channels.portal.prescriptions import PortalPrescriptionController
from imias.channels.portal.pwa import icon, manifest, service_worker
from imias.channels.portal.record import PortalRecordController
from imias.channels.portal.relocations import PortalRelocationController
from imias.channels.portal.schools import PortalSchoolController

__all__ = [
    "PortalAccountController",
    "PortalBookingController",
    "PortalCertificateController",
    "PortalController",
    "PortalNotificationsController",
    "PortalPrescriptionController",
    "PortalRecordController",
    "PortalRelocationController",
    "PortalSchoolController",
    "icon",
    "manifest",
    "service_worker",
]
