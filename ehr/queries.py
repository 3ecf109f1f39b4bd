"""Every SQL statement of the medical record, named (run by :mod:`ehr.repository`)."""

from __future__ import annotations

_NAMED = """
SELECT e.patient_id, e.id, e.clinic_id, e.doctor_id, e.appointment_id, e.kind, e.status,
       e.started_at, e.signed_at, e.protocol, e.draft, e.draft_saved_at, e.restricted,
       e.version, c.name AS clinic_name, s.code AS specialty,
       concat_ws(' ', d.family_name, d.given_name, d.patronymic) AS doctor_name
"""
_NAMES = """
  JOIN clinics c ON c.id = e.clinic_id
  LEFT JOIN doctors d ON d.clinic_id = e.clinic_id AND d.id = e.doctor_id
  LEFT JOIN specialties s ON s.id = e.specialty_id
"""
_ENCOUNTER = _NAMED + "  FROM encounters e" + _NAMES

ENCOUNTER = _ENCOUNTER + " WHERE e.id = $1"

ENCOUNTER_OF_APPOINTMENT = _ENCOUNTER + " WHERE e.patient_id = $1 AND e.appointment_id = $2"

#: A patient's encounters, newest first, after the keyset ($2, $3) (started_at, id).
ENCOUNTERS_OF_PATIENT = (
    _ENCOUNTER
    + """
 WHERE e.patient_id = $1 AND e.status <> 'entered-in-error'
   AND (e.started_at, e.id) < ($2, $3)
 ORDER BY e.started_at DESC, e.id DESC
 LIMIT $4
"""
)

LOCK_ENCOUNTER = """
SELECT patient_id, id, clinic_id, doctor_id, status, version FROM encounters
 WHERE id = $1 FOR UPDATE
"""

#: A new encounter, named as _ENCOUNTER reads it (no row: the appointment has one).
INSERT_ENCOUNTER = (
    """
WITH e AS (
INSERT INTO encounters (patient_id, clinic_id, doctor_id, specialty_id, appointment_id, kind,
                        started_at, updated_at, updated_by)
SELECT $1, $2, $3, (SELECT specialty_id FROM doctors WHERE clinic_id = $2 AND id = $3),
       $4, $5, $6, $6, $7
ON CONFLICT (patient_id, appointment_id) WHERE appointment_id IS NOT NULL DO NOTHING
RETURNING *
)"""
    + _NAMED
    + "  FROM e"
    + _NAMES
)

#: An ambulance crew's call, final at once: no doctor, signed when the call ended ($4).
INSERT_AMBULANCE_ENCOUNTER = (
    """
WITH e AS (
INSERT INTO encounters (patient_id, clinic_id, doctor_id, kind, status, started_at, signed_at,
                        protocol, restricted, version, updated_at, updated_by)
VALUES ($1, $2, NULL, 'ambulance', 'finished', $3, $4, $5, $6, 1, $7, $8)
RETURNING *
)"""
    + _NAMED
    + "  FROM e"
    + _NAMES
)

SAVE_DRAFT = """
UPDATE encounters SET draft = $3, draft_saved_at = $4
 WHERE patient_id = $1 AND id = $2 AND status = 'in-progress'
RETURNING draft_saved_at
"""

#: The signature, if the visit is the doctor's ($6, $7), in progress; the row named as
#: _ENCOUNTER reads it (no row: it is not, see LOCK_ENCOUNTER).
SIGN = (
    """
WITH e AS (
UPDATE encounters
   SET status = 'finished', signed_at = $2, protocol = $3, draft = NULL, restricted = $4,
       version = 1, updated_at = $2, updated_by = $5
 WHERE id = $1 AND clinic_id = $6 AND doctor_id = $7 AND status = 'in-progress'
RETURNING *
)"""
    + _NAMED
    + "  FROM e"
    + _NAMES
)

AMEND = """
UPDATE encounters
   SET protocol = $3, restricted = $4, version = version + 1, updated_at = $5, updated_by = $6
 WHERE patient_id = $1 AND id = $2 AND status = 'finished'
RETURNING version
"""

_CONDITION_COLUMNS = """
patient_id, id, encounter_id, clinic_id, code, category, rank, course, clinical_status,
verification_status, onset, abatement, note, restricted, author_id, author_specialty,
recorded_at, version
"""

INSERT_CONDITIONS = f"""
INSERT INTO conditions (patient_id, encounter_id, clinic_id, code, category, rank, course,
                        verification_status, onset, note, restricted, author_id,
                        author_specialty, recorded_at, updated_at)
SELECT $1, $2, $3, u.code, u.category, u.rank, u.course, u.verification, u.onset, u.note,
       u.restricted, $4, $5, $6, $6
  FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::date[],
              $13::text[], $14::text[])
       WITH ORDINALITY AS u(code, category, rank, course, verification, onset, note,
                            restricted, n)
 ORDER BY u.n
RETURNING {_CONDITION_COLUMNS}
"""

CONDITIONS_OF_ENCOUNTERS = f"""
SELECT {_CONDITION_COLUMNS} FROM conditions
 WHERE patient_id = $1 AND encounter_id = ANY($2::bigint[])
   AND verification_status <> 'entered-in-error'
 ORDER BY encounter_id, rank, id
"""

CONDITION = f"SELECT {_CONDITION_COLUMNS} FROM conditions WHERE id = $1"

#: The problem list: what is active and chronic (or put on the list), latest per code.
PROBLEMS = f"""
SELECT DISTINCT ON (code) {_CONDITION_COLUMNS} FROM conditions
 WHERE patient_id = $1
   AND verification_status IN ('provisional', 'confirmed')
   AND clinical_status IN ('active', 'recurrence', 'relapse')
   AND (course = 'chronic' OR category = 'problem-list-item')
 ORDER BY code, recorded_at DESC
"""

MARK_CONDITION_IN_ERROR = f"""
UPDATE conditions SET verification_status = 'entered-in-error', version = version + 1,
       updated_at = $3
 WHERE patient_id = $1 AND id = $2 AND verification_status <> 'entered-in-error'
RETURNING {_CONDITION_COLUMNS}
"""

UPDATE_CONDITION = f"""
UPDATE conditions
   SET clinical_status = $3, verification_status = $4, abatement = $5, note = $6,
       version = version + 1, updated_at = $7
 WHERE patient_id = $1 AND id = $2 AND version = $8
RETURNING {_CONDITION_COLUMNS}
"""

_OBSERVATION_COLUMNS = """
patient_id, id, encounter_id, clinic_id, code, category, value, unit, low, high,
interpretation, status, effective_at, restricted, author_id, version
"""

INSERT_OBSERVATIONS = f"""
INSERT INTO observations (patient_id, encounter_id, clinic_id, code, category, value, unit,
                          low, high, interpretation, effective_at, restricted, author_id,
                          recorded_at, updated_at)
SELECT $1, $2, $3, u.code, u.category, u.value, u.unit, u.low, u.high, u.interpretation,
       u.effective_at, $4, $5, $6, $6
  FROM unnest($7::text[], $8::text[], $9::numeric[], $10::text[], $11::numeric[],
              $12::numeric[], $13::text[], $14::timestamptz[])
       WITH ORDINALITY AS u(code, category, value, unit, low, high, interpretation,
                            effective_at, n)
 ORDER BY u.n
RETURNING {_OBSERVATION_COLUMNS}
"""

OBSERVATIONS_OF_ENCOUNTERS = f"""
SELECT {_OBSERVATION_COLUMNS} FROM observations
 WHERE patient_id = $1 AND encounter_id = ANY($2::bigint[]) AND status <> 'entered-in-error'
 ORDER BY encounter_id, id
"""

OBSERVATION = f"SELECT {_OBSERVATION_COLUMNS} FROM observations WHERE id = $1"

#: Each measure's latest results (up to $2 per code), newest first.
RESULTS = f"""
SELECT {_OBSERVATION_COLUMNS} FROM (
    SELECT o.*, row_number() OVER (PARTITION BY code ORDER BY effective_at DESC, id DESC) AS n
      FROM observations o
     WHERE patient_id = $1 AND status <> 'entered-in-error'
) latest
 WHERE n <= $2
 ORDER BY code, effective_at DESC, id DESC
"""

#: A measure's results for a chart or a FHIR search (newest first, keyset on $3, $4).
OBSERVATIONS_OF_CODE = f"""
SELECT {_OBSERVATION_COLUMNS} FROM observations
 WHERE patient_id = $1 AND code = $2 AND status <> 'entered-in-error'
   AND (effective_at, id) < ($3, $4)
 ORDER BY effective_at DESC, id DESC
 LIMIT $5
"""

MARK_OBSERVATION_IN_ERROR = f"""
UPDATE observations SET status = 'entered-in-error', version = version + 1, updated_at = $3
 WHERE patient_id = $1 AND id = $2 AND status <> 'entered-in-error'
RETURNING {_OBSERVATION_COLUMNS}
"""

_ALLERGY_COLUMNS = """
patient_id, id, encounter_id, clinic_id, substance, category, criticality, reaction, severity,
clinical_status, verification_status, onset, author_id, recorded_at, version
"""

INSERT_ALLERGY = f"""
INSERT INTO allergies (patient_id, encounter_id, clinic_id, substance, category, criticality,
                       reaction, severity, verification_status, onset, author_id,
                       recorded_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
RETURNING {_ALLERGY_COLUMNS}
"""

ALLERGIES = f"""
SELECT {_ALLERGY_COLUMNS} FROM allergies
 WHERE patient_id = $1 AND verification_status <> 'entered-in-error'
 ORDER BY clinical_status = 'active' DESC, recorded_at DESC
"""

ALLERGY = f"SELECT {_ALLERGY_COLUMNS} FROM allergies WHERE id = $1"

MARK_ALLERGY_IN_ERROR = f"""
UPDATE allergies SET verification_status = 'entered-in-error', version = version + 1,
       updated_at = $3
 WHERE patient_id = $1 AND id = $2 AND verification_status <> 'entered-in-error'
RETURNING {_ALLERGY_COLUMNS}
"""

_IMMUNIZATION_COLUMNS = """
patient_id, id, encounter_id, clinic_id, vaccine, dose_number, occurred_on, lot, status,
author_id, recorded_at, version
"""

INSERT_IMMUNIZATION = f"""
INSERT INTO immunizations (patient_id, encounter_id, clinic_id, vaccine, dose_number,
                           occurred_on, lot, author_id, recorded_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
RETURNING {_IMMUNIZATION_COLUMNS}
"""

IMMUNIZATIONS = f"""
SELECT {_IMMUNIZATION_COLUMNS} FROM immunizations
 WHERE patient_id = $1 AND status <> 'entered-in-error'
 ORDER BY occurred_on DESC, id DESC
"""

IMMUNIZATION = f"SELECT {_IMMUNIZATION_COLUMNS} FROM immunizations WHERE id = $1"

MARK_IMMUNIZATION_IN_ERROR = f"""
UPDATE immunizations SET status = 'entered-in-error', version = version + 1, updated_at = $3
 WHERE patient_id = $1 AND id = $2 AND status <> 'entered-in-error'
RETURNING {_IMMUNIZATION_COLUMNS}
"""

INSERT_VERSIONS = """
INSERT INTO ehr_versions (patient_id, resource, resource_id, version, body, written_by,
                          written_at, reason)
SELECT $1, u.resource, u.resource_id, u.version, u.body, $2, $3, $4
  FROM unnest($5::text[], $6::bigint[], $7::integer[], $8::jsonb[])
       AS u(resource, resource_id, version, body)
"""

VERSIONS = """
SELECT resource, resource_id, version, written_by, written_at, reason FROM ehr_versions
 WHERE resource = $1 AND resource_id = $2
 ORDER BY version DESC
"""

VERSION_BODY = """
SELECT patient_id, body, reason FROM ehr_versions
 WHERE resource = $1 AND resource_id = $2 AND version = $3
"""

LAST_REASON = """
SELECT reason FROM ehr_versions
 WHERE patient_id = $1 AND resource = $2 AND resource_id = $3 AND version = $4
"""

#: Whether the doctor has an encounter with the patient (her own patient, whatever the
#: booking says).
WROTE_FOR = """
SELECT EXISTS (SELECT 1 FROM encounters
                WHERE patient_id = $1 AND clinic_id = $2 AND doctor_id = $3)
"""

SPECIALTY_OF_DOCTOR = """
SELECT s.code FROM doctors d JOIN specialties s ON s.id = d.specialty_id
 WHERE d.clinic_id = $1 AND d.id = $2
"""


# -- FHIR (ehr.fhir): the registry's entries and the searches -------------------------
# A search is the patient's rows newest first, optional filters as NULL-able parameters,
# a date range [$2, $3) and a keyset ($n, $n+1): the last row of the page before.

FHIR_PATIENT = """
SELECT id, policy_number, family_name, given_name, patronymic, birth_date, sex, phone,
       attached_clinic_id
  FROM patients WHERE id = $1
"""

FHIR_PRACTITIONERS = """
SELECT d.clinic_id, d.id, d.family_name, d.given_name, d.patronymic, d.active,
       s.code AS specialty, s.name_ru AS specialty_ru, s.name_en AS specialty_en
  FROM doctors d JOIN specialties s ON s.id = d.specialty_id
 WHERE ($1::bigint IS NULL OR d.clinic_id = $1) AND ($2::bigint IS NULL OR d.id = $2)
   AND (d.clinic_id, d.id) > ($3, $4)
 ORDER BY d.clinic_id, d.id
 LIMIT $5
"""

FHIR_ORGANIZATIONS = """
SELECT id, name, address, district, kind FROM clinics
 WHERE ($1::bigint IS NULL OR id = $1) AND id > $2
 ORDER BY id
 LIMIT $3
"""

FHIR_ENCOUNTERS = (
    _ENCOUNTER
    + """
 WHERE e.patient_id = $1 AND e.status <> 'entered-in-error'
   AND ($2::timestamptz IS NULL OR e.started_at >= $2)
   AND ($3::timestamptz IS NULL OR e.started_at < $3)
   AND (e.started_at, e.id) < ($4, $5)
 ORDER BY e.started_at DESC, e.id DESC
 LIMIT $6
"""
)

#: Signed visits (their protocols are the documents), by the signature's instant.
FHIR_DOCUMENTS = (
    _ENCOUNTER
    + """
 WHERE e.patient_id = $1 AND e.status = 'finished'
   AND ($2::timestamptz IS NULL OR e.signed_at >= $2)
   AND ($3::timestamptz IS NULL OR e.signed_at < $3)
   AND (e.signed_at, e.id) < ($4, $5)
 ORDER BY e.signed_at DESC, e.id DESC
 LIMIT $6
"""
)

FHIR_CONDITIONS = f"""
SELECT {_CONDITION_COLUMNS} FROM conditions
 WHERE patient_id = $1 AND verification_status <> 'entered-in-error'
   AND ($2::timestamptz IS NULL OR recorded_at >= $2)
   AND ($3::timestamptz IS NULL OR recorded_at < $3)
   AND ($4::text IS NULL OR code = $4)
   AND ($5::text IS NULL OR category = $5)
   AND ($6::text IS NULL OR clinical_status = $6)
   AND (recorded_at, id) < ($7, $8)
 ORDER BY recorded_at DESC, id DESC
 LIMIT $9
"""

FHIR_OBSERVATIONS = f"""
SELECT {_OBSERVATION_COLUMNS} FROM observations
 WHERE patient_id = $1 AND status <> 'entered-in-error'
   AND ($2::timestamptz IS NULL OR effective_at >= $2)
   AND ($3::timestamptz IS NULL OR effective_at < $3)
   AND ($4::text IS NULL OR code = $4)
   AND ($5::text IS NULL OR category = $5)
   AND (effective_at, id) < ($6, $7)
 ORDER BY effective_at DESC, id DESC
 LIMIT $8
"""

FHIR_ALLERGIES = f"""
SELECT {_ALLERGY_COLUMNS} FROM allergies
 WHERE patient_id = $1 AND verification_status <> 'entered-in-error'
   AND ($2::timestamptz IS NULL OR recorded_at >= $2)
   AND ($3::timestamptz IS NULL OR recorded_at < $3)
   AND ($4::text IS NULL OR substance = $4)
   AND ($5::text IS NULL OR category = $5)
   AND ($6::text IS NULL OR clinical_status = $6)
   AND (recorded_at, id) < ($7, $8)
 ORDER BY recorded_at DESC, id DESC
 LIMIT $9
"""

#: By the day given (a date: the range's bounds are days of the city).
FHIR_IMMUNIZATIONS = f"""
SELECT {_IMMUNIZATION_COLUMNS} FROM immunizations
 WHERE patient_id = $1 AND status <> 'entered-in-error'
   AND ($2::date IS NULL OR occurred_on >= $2)
   AND ($3::date IS NULL OR occurred_on < $3)
   AND ($4::text IS NULL OR vaccine = $4)
   AND (occurred_on, id) < ($5, $6)
 ORDER BY occurred_on DESC, id DESC
 LIMIT $7
"""


#: Every statement above by name (a test prepares each against the migrated schema).
QUERIES: dict[str, str] = {
    name: sql
    for name, sql in dict(globals()).items()
    if name.isupper() and not name.startswith("_") and isinstance(sql, str)
}
