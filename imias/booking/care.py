"""What other domains may ask of the booking about a patient's care, without reading its
tables: whose an appointment is, and whether a patient is booked with a doctor (the
medical record's access rule; ``app.state.care_links``)."""

from __future__ import annotations

import msgspec

from imias.booking import repository as repo
from imias.platform.db import Executor


class AppointmentParties(msgspec.Struct, frozen=True):
    patient_id: int
    clinic_id: int
    doctor_id: int
    status: str  # booked, arrived, completed, cancelled, no_show


class CareLinks:
    def __init__(self, pool: Executor) -> None:
        self.pool = pool

    async def appointment(self, appointment_id: int) -> AppointmentParties | None:
        row = await repo.appointment_owner(self.pool, appointment_id)
        if row is None:
            return None
        return AppointmentParties(
            row["patient_id"], row["clinic_id"], row["doctor_id"], row["status"]
        )

    async def booked_with(self, patient_id: int, clinic_id: int, doctor_id: int) -> bool:
        """An appointment of the patient with the doctor that is or was kept (booked,
        arrived, completed), not cancelled."""
        return await repo.booked_with_doctor(self.pool, patient_id, clinic_id, doctor_id)
