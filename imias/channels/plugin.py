"""The channels as the app assembles them: the patient portal (and its installable
app's manifest and service worker), the kiosk, the phone's webhook, the registrar's
desk, the doctor's day and visit, the pharmacy's counter, the police officer's certificate
check, their templates and languages."""

from __future__ import annotations

from collections.abc import Sequence

from litestar.config.app import AppConfig
from litestar.types import ControllerRouterHandler

from imias.channels.admin import AdminController
from imias.channels.admin.dashboard import DashboardController
from imias.channels.admin.relocations import AdminRelocationController
from imias.channels.admin.schedules import ScheduleAdminPages
from imias.channels.admin.staff import StaffPagesController
from imias.channels.commands import phone
from imias.channels.doctor import (
    DoctorCertificateController,
    DoctorController,
    DoctorIllnessController,
    DoctorPrescriptionController,
    DoctorVisitController,
    DoctorWalkInController,
)
from imias.channels.kiosk import KioskController
from imias.channels.pharmacy import PharmacyController
from imias.channels.phone import PhoneController
from imias.channels.portal import (
    PortalAccountController,
    PortalBookingController,
    PortalCertificateController,
    PortalController,
    PortalNotificationsController,
    PortalPrescriptionController,
    PortalRecordController,
    PortalRelocationController,
    PortalSchoolController,
    icon,
    manifest,
    service_worker,
)
from imias.channels.registrar import (
    ActiveVisitsController,
    RegistrarController,
    RegistrarWalkInController,
)
from imias.channels.school import SchoolNurseController
from imias.channels.verify import (
    VerifyController,
    verify_qr_decoder,
    verify_script,
    verify_worker,
)
from imias.channels.web.language import switch_language
from imias.channels.web.pages import template_config
from imias.platform.plugin import DomainPlugin


class ChannelsPlugin(DomainPlugin):
    name = "channels"
    commands = (phone,)

    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return [
            PhoneController,
            KioskController,
            RegistrarController,
            ActiveVisitsController,
            RegistrarWalkInController,
            DoctorController,
            DoctorVisitController,
            DoctorWalkInController,
            DoctorPrescriptionController,
            DoctorCertificateController,
            DoctorIllnessController,
            PharmacyController,
            VerifyController,
            AdminController,
            StaffPagesController,
            AdminRelocationController,
            ScheduleAdminPages,
            DashboardController,
            verify_worker,
            verify_script,
            verify_qr_decoder,
            switch_language,
            PortalController,
            PortalBookingController,
            PortalAccountController,
            PortalRecordController,
            PortalRelocationController,
            PortalPrescriptionController,
            PortalCertificateController,
            PortalSchoolController,
            PortalNotificationsController,
            SchoolNurseController,
            manifest,
            service_worker,
            icon,
        ]

    def configure(self, app_config: AppConfig) -> None:
        app_config.template_config = template_config()
