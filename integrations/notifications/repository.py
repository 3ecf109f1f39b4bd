"""The notification service's SQL: patients' preferences, and what a notice's text needs
(the patient's phone, a doctor's, a specialty's and a clinic's names, the clinic's zone)."""

from __future__ import annotations

from typing import Any

import msgspec

from imias.platform.db import Executor
from integrations.notifications.model import Preference, PreferenceIn, QuietHours

# The patient's phone and preference (NULLs: none stored, the defaults).
CONTACT = """
SELECT p.id AS patient_id, p.phone, n.channel, n.email, n.language,
       to_char(n.quiet_from, 'HH24:MI') AS quiet_from, to_char(n.quiet_to, 'HH24:MI') AS quiet_to,
       n.updated_at
  FROM patients p LEFT JOIN notification_preferences n ON n.patient_id = p.id
 WHERE p.id = $1
"""
# The language of the patients with this phone, when they agree (a sign-in code names a
# phone, not a patient).
LANGUAGE_BY_PHONE = """
SELECT CASE WHEN count(DISTINCT coalesce(n.language, 'ru')) = 1
            THEN min(coalesce(n.language, 'ru')) END
  FROM patients p LEFT JOIN notification_preferences n ON n.patient_id = p.id
 WHERE p.phone = $1
"""
UPSERT = """
INSERT INTO notification_preferences (patient_id, channel, email, language, quiet_from, quiet_to,
                                      updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5::text::time, $6::text::time, $7, $8)
ON CONFLICT (patient_id) DO UPDATE SET
    channel = EXCLUDED.channel, email = EXCLUDED.email, language = EXCLUDED.language,
    quiet_from = EXCLUDED.quiet_from, quiet_to = EXCLUDED.quiet_to,
    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
"""
DOCTOR = """
SELECT d.family_name, d.given_name, d.patronymic, d.room, s.name_ru, s.name_en
  FROM doctors d JOIN specialties s ON s.id = d.specialty_id
 WHERE d.clinic_id = $1 AND d.id = $2
"""
CLINIC = "SELECT name, address, time_zone FROM clinics WHERE id = $1"

QUERIES: dict[str, str] = {
    "contact": CONTACT,
    "language_by_phone": LANGUAGE_BY_PHONE,
    "upsert": UPSERT,
    "doctor": DOCTOR,
    "clinic": CLINIC,
}


def mask(phone: str | None) -> str | None:
    """``+79161234567`` -> ``+7********67``."""
    if not phone:
        return None
    return phone[:2] + "*" * max(len(phone) - 4, 0) + phone[-2:]


class Contact(msgspec.Struct, frozen=True):
    """A patient's preference and her phone in full (for routing; never answered)."""

    preference: Preference
    phone: str | None


def contact_of(row: Any) -> Contact:
    quiet = None
    if row["quiet_from"] is not None:
        quiet = QuietHours(row["quiet_from"], row["quiet_to"])
    preference = Preference(
        channel=row["channel"] or "sms",
        email=row["email"],
        language=row["language"] or "ru",
        quiet_hours=quiet,
        phone_masked=mask(row["phone"]),
        updated_at=row["updated_at"],
    )
    return Contact(preference, row["phone"])


async def contact(db: Executor, patient_id: int) -> Contact | None:
    """The patient's preference (the defaults when none is stored) and phone; None: no
    such patient."""
    row = await db.fetchrow(CONTACT, patient_id)
    return None if row is None else contact_of(row)


async def language_by_phone(db: Executor, phone: str) -> str | None:
    found: str | None = await db.fetchval(LANGUAGE_BY_PHONE, phone)
    return found


async def save(db: Executor, patient_id: int, data: PreferenceIn, at: Any, by: int) -> None:
    quiet = data.quiet_hours
    await db.execute(
        UPSERT, patient_id, data.channel, data.email, data.language,
        quiet.start if quiet else None, quiet.end if quiet else None, at, by,
    )  # fmt: skip


async def doctor(db: Executor, clinic_id: int, doctor_id: int) -> Any:
    return await db.fetchrow(DOCTOR, clinic_id, doctor_id)


async def clinic(db: Executor, clinic_id: int) -> Any:
    return await db.fetchrow(CLINIC, clinic_id)
