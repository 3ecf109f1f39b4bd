"""Every SQL statement of prescriptions, named (run by :mod:`prescriptions.repository`)."""

from __future__ import annotations

_COLUMNS = """
p.patient_id, p.id, p.encounter_id, p.clinic_id, p.doctor_id, p.author_id, p.atc, p.inn,
p.product_code, p.drug_text, p.dose, p.per_day, p.days, p.quantity, p.schedule, p.benefit,
p.issued_on, p.valid_until, p.instructions, p.status, p.cancelled_at, p.cancel_reason,
p.overrides, p.catalogue, p.key_id, p.signature, p.signed_at,
concat_ws(' ', d.family_name, d.given_name, d.patronymic) AS doctor_name
"""
_FROM = """
  FROM prescriptions p
  LEFT JOIN doctors d ON d.clinic_id = p.clinic_id AND d.id = p.doctor_id
"""

NEXT_ID = "SELECT nextval(pg_get_serial_sequence('prescriptions', 'id'))"

INSERT_PRESCRIPTION = """
INSERT INTO prescriptions (patient_id, id, encounter_id, clinic_id, doctor_id, author_id, atc,
                           inn, product_code, drug_text, dose, per_day, days, quantity,
                           schedule, benefit, issued_on, valid_until, instructions, overrides,
                           catalogue, key_id, signature, signed_at)
OVERRIDING SYSTEM VALUE
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24)
"""

INSERT_PERIODS = """
INSERT INTO prescription_periods (patient_id, prescription_id, period, starts, ends, quantity)
SELECT $1, $2, n, s, e, $6
  FROM unnest($3::smallint[], $4::date[], $5::date[]) AS t (n, s, e)
"""

PRESCRIPTION = "SELECT" + _COLUMNS + _FROM + " WHERE p.id = $1"

#: A patient's prescriptions, newest first, after the keyset ($2, $3) (issued_on, id).
OF_PATIENT = (
    "SELECT"
    + _COLUMNS
    + _FROM
    + """
 WHERE p.patient_id = $1 AND (p.issued_on, p.id) < ($2, $3)
 ORDER BY p.issued_on DESC, p.id DESC
 LIMIT $4
"""
)

#: The prescriptions written in a visit, newest first.
OF_ENCOUNTER = (
    "SELECT"
    + _COLUMNS
    + _FROM
    + """
 WHERE p.patient_id = $1 AND p.encounter_id = $2
 ORDER BY p.id DESC
"""
)

#: A patient's subsidised prescriptions still valid on $2 (a subsidised pharmacy's search).
SUBSIDISED_OF_PATIENT = (
    "SELECT"
    + _COLUMNS
    + _FROM
    + """
 WHERE p.patient_id = $1 AND p.benefit IS NOT NULL AND p.status = 'active'
   AND p.valid_until >= $2
 ORDER BY p.issued_on DESC, p.id DESC
 LIMIT 50
"""
)

#: The patient's prescriptions still valid on $2, not cancelled (the card's medications).
CURRENT = """
SELECT drug_text, inn, dose, per_day, valid_until FROM prescriptions
 WHERE patient_id = $1 AND status = 'active' AND valid_until >= $2
 ORDER BY issued_on DESC, id DESC
 LIMIT 20
"""

#: The ATC codes of the patient's prescriptions still valid on $2 (the checks' "other
#: active prescriptions").
ACTIVE_ATC = """
SELECT DISTINCT atc FROM prescriptions
 WHERE patient_id = $1 AND status = 'active' AND valid_until >= $2
"""

PERIODS = """
SELECT prescription_id, period, starts, ends, quantity, dispensed FROM prescription_periods
 WHERE patient_id = $1 AND prescription_id = ANY($2::bigint[])
 ORDER BY prescription_id, period
"""

CANCEL = """
UPDATE prescriptions SET status = 'cancelled', cancelled_at = $3, cancel_reason = $4
 WHERE patient_id = $1 AND id = $2 AND status = 'active'
RETURNING id
"""

#: A prescription at the counter in one round trip: its row, its holder's birth date,
#: policy and name (the signature covers the birth date), its periods and dispensings.
COUNTER = (
    "SELECT"
    + _COLUMNS
    + """,
       pt.birth_date AS patient_birth_date, pt.policy_number AS patient_policy,
       concat_ws(' ', pt.family_name, pt.given_name, pt.patronymic) AS patient_name,
       coalesce((SELECT json_agg(json_build_object(
                    'period', pp.period, 'starts', pp.starts, 'ends', pp.ends,
                    'quantity', pp.quantity, 'dispensed', pp.dispensed) ORDER BY pp.period)
                   FROM prescription_periods pp
                  WHERE pp.patient_id = p.patient_id AND pp.prescription_id = p.id),
                '[]') AS periods_json,
       coalesce((SELECT json_agg(json_build_object(
                    'id', d.id, 'prescription_id', d.prescription_id, 'period', d.period,
                    'pharmacy_id', d.pharmacy_id, 'product_code', d.product_code,
                    'quantity', d.quantity, 'dispensed_at', d.dispensed_at) ORDER BY d.id)
                   FROM dispensings d
                  WHERE d.patient_id = p.patient_id AND d.prescription_id = p.id),
                '[]') AS dispensings_json
"""
    + _FROM
    + "  JOIN patients pt ON pt.id = p.patient_id"
    + " WHERE p.id = $1"
)

#: Count $4 units of period $3 as dispensed and record who handed out what, if the
#: prescription is active (its row held against a cancellation meanwhile) and that many
#: are left: the row lock makes a second counter wait and then see the first one's
#: count; nothing is written when it does not fit.
DISPENSE = """
WITH rx AS (
    SELECT id FROM prescriptions
     WHERE patient_id = $1 AND id = $2 AND status = 'active'
       FOR SHARE
), counted AS (
    UPDATE prescription_periods pp SET dispensed = pp.dispensed + $4
      FROM rx
     WHERE pp.patient_id = $1 AND pp.prescription_id = rx.id AND pp.period = $3
       AND pp.dispensed + $4 <= pp.quantity
    RETURNING pp.patient_id, pp.prescription_id, pp.period
)
INSERT INTO dispensings (patient_id, prescription_id, period, pharmacy_id, pharmacist_id,
                         product_code, quantity, request_id, dispensed_at)
SELECT patient_id, prescription_id, period, $5, $6, $7, $4, $8, $9 FROM counted
RETURNING id, prescription_id, period, pharmacy_id, product_code, quantity, dispensed_at
"""

LEFT_IN_PERIOD = """
SELECT quantity - dispensed FROM prescription_periods
 WHERE patient_id = $1 AND prescription_id = $2 AND period = $3
"""

DISPENSING_OF_REQUEST = """
SELECT id, prescription_id, period, pharmacy_id, product_code, quantity, dispensed_at
  FROM dispensings WHERE patient_id = $1 AND request_id = $2
"""

#: One page of a patient's prescriptions for FHIR, newest first after the keyset ($2, $3)
#: (issued_on, id): issued in the days [$4, $5) (NULL: unbounded), of the FHIR status $6
#: (NULL: any) as :func:`prescriptions.fhir.mapping.request_status` tells it on the day
#: $7: cancelled (stopped once something was dispensed), completed (every period
#: dispensed), stopped (expired), active.
FHIR_REQUESTS = (
    "SELECT"
    + _COLUMNS
    + _FROM
    + """
 CROSS JOIN LATERAL (
     SELECT coalesce(sum(pp.dispensed), 0) AS dispensed, count(*) AS periods,
            count(*) FILTER (WHERE pp.dispensed < pp.quantity) AS open
       FROM prescription_periods pp
      WHERE pp.patient_id = p.patient_id AND pp.prescription_id = p.id
 ) x
 WHERE p.patient_id = $1 AND (p.issued_on, p.id) < ($2, $3)
   AND ($4::date IS NULL OR p.issued_on >= $4)
   AND ($5::date IS NULL OR p.issued_on < $5)
   AND ($6::text IS NULL OR $6 = CASE
        WHEN p.status = 'cancelled' THEN
            CASE WHEN x.dispensed > 0 THEN 'stopped' ELSE 'cancelled' END
        WHEN x.periods > 0 AND x.open = 0 THEN 'completed'
        WHEN p.valid_until < $7 THEN 'stopped'
        ELSE 'active' END)
 ORDER BY p.issued_on DESC, p.id DESC
 LIMIT $8
"""
)

_DISPENSING = """
SELECT dp.patient_id, dp.id, dp.prescription_id, dp.period, dp.pharmacy_id, dp.product_code,
       dp.quantity, dp.dispensed_at, ph.name AS pharmacy_name
  FROM dispensings dp
  JOIN pharmacies ph ON ph.id = dp.pharmacy_id
"""

#: One dispensing by its id, with its patient and its pharmacy's name.
DISPENSING = _DISPENSING + " WHERE dp.id = $1"

#: One page of a patient's dispensings (of the prescription $2; NULL: any), newest first
#: below the id $3.
FHIR_DISPENSINGS = (
    _DISPENSING
    + """
 WHERE dp.patient_id = $1 AND ($2::bigint IS NULL OR dp.prescription_id = $2) AND dp.id < $3
 ORDER BY dp.id DESC
 LIMIT $4
"""
)

BENEFITS = """
SELECT category FROM patient_benefits
 WHERE patient_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $2)
 ORDER BY category
"""

LATEST_CATALOGUE = """
SELECT version, body FROM drug_catalogues ORDER BY imported_at DESC, version DESC LIMIT 1
"""

INSERT_CATALOGUE = """
INSERT INTO drug_catalogues (version, published, sha256, body, imported_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (version) DO NOTHING
RETURNING version
"""

CATALOGUE_DIGEST = "SELECT sha256 FROM drug_catalogues WHERE version = $1"


#: Every statement above by name (a test prepares each against the migrated schema).
QUERIES: dict[str, str] = {
    name: sql
    for name, sql in dict(globals()).items()
    if name.isupper() and not name.startswith("_") and isinstance(sql, str)
}
