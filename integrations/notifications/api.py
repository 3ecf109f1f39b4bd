"""``/api/v1/patients/{patient_id}/notifications``: how a patient is told (SMS, e-mail or
only what must go), in which language, and her quiet hours."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from imias.identity import allow, principal_of
from integrations.notifications.model import Preference, PreferenceIn
from integrations.notifications.service import NotificationPreferences

MAX_ID = 2**63 - 1
IdPath = Annotated[int, PathParameter(ge=1, le=MAX_ID)]

PREFERENCE = allow(
    "patient",
    "registrar",
    data="patient: her own notification preference, or a linked child's (a guardian's); "
    "registrar: any patient's (channel, e-mail address, language, quiet hours, phone)",
)


class NotificationPreferenceController(Controller):
    path = "/api/v1/patients/{patient_id:int}/notifications"
    tags = ["notifications"]

    @get(
        operation_id="getNotificationPreference",
        summary="How the patient is told: channel, e-mail, language, quiet hours",
        opt=PREFERENCE,
    )
    async def get_preference(
        self,
        request: Request[Any, Any, Any],
        notification_preferences: NamedDependency[NotificationPreferences],
        patient_id: IdPath,
    ) -> Preference:
        return await notification_preferences.get(principal_of(request), patient_id)

    @put(
        operation_id="setNotificationPreference",
        summary="Set how the patient is told (the whole preference)",
        opt=PREFERENCE,
    )
    async def set_preference(
        self,
        request: Request[Any, Any, Any],
        notification_preferences: NamedDependency[NotificationPreferences],
        patient_id: IdPath,
        data: JSONBody[PreferenceIn],
    ) -> Preference:
        return await notification_preferences.put(principal_of(request), patient_id, data)
