"""SQL of the registry (asyncpg, ``$n`` parameters): the only place that reads the master
data tables (``specialties``, ``clinics``, ``doctors``, ``patients``)."""

from __future__ import annotations

SPECIALTIES = """
SELECT id, code, name_ru, name_en, self_referral, attached_only, min_age, max_age, sex,
       slot_minutes
  FROM specialties ORDER BY id
"""

CLINICS = """
SELECT id, name, address, district, lat, lon, time_zone, kind FROM clinics ORDER BY id
"""

DOCTOR_NAMES = """
SELECT clinic_id, id, specialty_id, family_name, given_name, patronymic, room, slot_minutes
  FROM doctors WHERE active ORDER BY clinic_id, id
"""

DOCTOR_OF_CLINIC = """
SELECT family_name, given_name, patronymic FROM doctors WHERE clinic_id = $1 AND id = $2
"""

PATIENT_COLUMNS = """
SELECT id, policy_number, family_name, given_name, patronymic, birth_date, phone,
       attached_clinic_id
  FROM patients
"""
PATIENT_BY_POLICY = PATIENT_COLUMNS + " WHERE policy_number = $1"
PATIENTS_BY_NAME = (
    PATIENT_COLUMNS
    + " WHERE lower(family_name) = lower($1) AND birth_date = $2 ORDER BY given_name, id LIMIT $3"
)
PATIENT_BY_ID = PATIENT_COLUMNS + " WHERE id = $1"

PATIENT_EXISTS = "SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1)"

ATTACHED_CLINIC = "SELECT attached_clinic_id FROM patients WHERE id = $1"

PATIENT_NAMES = """
SELECT id, family_name, given_name, patronymic FROM patients WHERE id = ANY($1::bigint[])
"""

# Of the patients given, those under 18 on the day $2.
MINORS = """
SELECT id, given_name, birth_date FROM patients
 WHERE id = ANY($1::bigint[]) AND birth_date > $2::date - interval '18 years'
 ORDER BY birth_date, id
"""

# Every named query, so a test can prepare them all against the migrated database.
QUERIES = {
    "specialties": SPECIALTIES,
    "clinics": CLINICS,
    "doctor_names": DOCTOR_NAMES,
    "doctor_of_clinic": DOCTOR_OF_CLINIC,
    "patient_by_policy": PATIENT_BY_POLICY,
    "patients_by_name": PATIENTS_BY_NAME,
    "patient_by_id": PATIENT_BY_ID,
    "patient_exists": PATIENT_EXISTS,
    "attached_clinic": ATTACHED_CLINIC,
    "minors": MINORS,
    "patient_names": PATIENT_NAMES,
}
