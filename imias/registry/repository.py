"""SQL of the registry (asyncpg, ``$n`` parameters): the only place that reads the master
data tables (``specialties``, ``clinics``, ``doctors``, ``patients``)."""

from __future__ import annotations

from imias.registry.events import PATIENT_TOPIC

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

# -- registration and changes, each with its event (imias.registry.events) ------------

# Registrations are few: one at a time (this transaction-scoped lock), each taking the
# next id after the register's highest (the seed's ids are dense from 1).
LOCK_REGISTRATION = "SELECT pg_advisory_xact_lock(7377606)"

# $1 policy, $2 family, $3 given, $4 patronymic, $5 birth date, $6 sex, $7 phone,
# $8 attached clinic; the event's clinic is the attached one (0: none).
REGISTER_PATIENT = f"""
WITH change AS (
    INSERT INTO patients (id, policy_number, family_name, given_name, patronymic, birth_date,
                          sex, phone, attached_clinic_id)
    SELECT coalesce(max(id), 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8 FROM patients
    RETURNING id),
     event AS (
    INSERT INTO event_outbox (clinic_id, topic, payload)
    SELECT coalesce($8::bigint, 0), '{PATIENT_TOPIC}',
           convert_to(json_build_object('change', 'registered', 'patient_id', change.id)::text,
                      'UTF8')
      FROM change)
SELECT id FROM change
"""

# $1 patient, $2 the fields to change (names), $3 family, $4 given, $5 patronymic,
# $6 phone, $7 attached clinic; $8 the event's payload.
UPDATE_PATIENT = f"""
WITH change AS (
    UPDATE patients SET
        family_name = CASE WHEN 'family_name' = ANY($2::text[]) THEN $3 ELSE family_name END,
        given_name = CASE WHEN 'given_name' = ANY($2::text[]) THEN $4 ELSE given_name END,
        patronymic = CASE WHEN 'patronymic' = ANY($2::text[]) THEN $5 ELSE patronymic END,
        phone = CASE WHEN 'phone' = ANY($2::text[]) THEN $6 ELSE phone END,
        attached_clinic_id = CASE WHEN 'attached_clinic_id' = ANY($2::text[]) THEN $7::bigint
                                  ELSE attached_clinic_id END
     WHERE id = $1
    RETURNING id, attached_clinic_id),
     event AS (
    INSERT INTO event_outbox (clinic_id, topic, payload)
    SELECT coalesce(change.attached_clinic_id, 0), '{PATIENT_TOPIC}', $8::bytea FROM change)
SELECT id FROM change
"""

# Every named query, so a test can prepare them all against the migrated database.
QUERIES = {
    "lock_registration": LOCK_REGISTRATION,
    "register_patient": REGISTER_PATIENT,
    "update_patient": UPDATE_PATIENT,
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
