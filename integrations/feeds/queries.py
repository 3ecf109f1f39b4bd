"""The SQL of the HL7 feeds: what a message says about an appointment and its patient,
read in the relay's transaction (the same snapshot as the event it answers). Every
statement is named here (:data:`QUERIES`) so that a test prepares them all."""

from __future__ import annotations

# An appointment with its doctor, clinic, specialty and patient ($1 clinic, $2 id).
APPOINTMENT = """
SELECT a.clinic_id, a.id, a.patient_id, a.doctor_id, a.starts_at, a.ends_at, a.status,
       a.channel, a.created_at, a.updated_at,
       s.code AS specialty_code, s.name_ru AS specialty_name,
       d.family_name AS doctor_family, d.given_name AS doctor_given,
       d.patronymic AS doctor_patronymic, d.room,
       c.name AS clinic_name, c.time_zone
  FROM appointments a
  JOIN specialties s ON s.id = a.specialty_id
  JOIN doctors d ON d.clinic_id = a.clinic_id AND d.id = a.doctor_id
  JOIN clinics c ON c.id = a.clinic_id
 WHERE a.clinic_id = $1 AND a.id = $2
"""

# A patient as PID tells them ($1 id).
PATIENT = """
SELECT id, policy_number, family_name, given_name, patronymic, birth_date, sex, phone,
       attached_clinic_id
  FROM patients WHERE id = $1
"""

QUERIES = {
    "feeds_appointment": APPOINTMENT,
    "feeds_patient": PATIENT,
}
