"""Every SQL statement of certificates, named (run by :mod:`ehr.certificates.repository`)."""

from __future__ import annotations

# -- keys -------------------------------------------------------------------------------

CURRENT_KEY = """
SELECT kid, private_key FROM certificate_keys
 WHERE clinic_id = $1 AND retired_at IS NULL AND withdrawn_at IS NULL
"""
INSERT_KEY = """
INSERT INTO certificate_keys (kid, clinic_id, public_key, private_key, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
"""
RETIRE_KEYS = """
UPDATE certificate_keys SET retired_at = $2
 WHERE clinic_id = $1 AND retired_at IS NULL AND withdrawn_at IS NULL
"""
WITHDRAW_KEY = """
UPDATE certificate_keys SET withdrawn_at = $2, withdrawn_reason = $3
 WHERE kid = $1 AND withdrawn_at IS NULL
"""
#: Every key that ever signed (the trust list), with its clinic's name.
ALL_KEYS = """
SELECT k.kid, k.clinic_id, c.name AS clinic, k.public_key, k.created_at, k.retired_at,
       k.withdrawn_at, k.withdrawn_reason
  FROM certificate_keys k JOIN clinics c ON c.id = k.clinic_id
 ORDER BY k.clinic_id, k.created_at
"""

# -- conclusions ------------------------------------------------------------------------

INSERT_CONCLUSION = """
INSERT INTO exam_conclusions (patient_id, encounter_id, clinic_id, doctor_id, author_id,
                              examiner, verdict, restrictions, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING id
"""
#: A patient's driver's-examination conclusions since $2, oldest first.
CONCLUSIONS = """
SELECT id, encounter_id, clinic_id, examiner, verdict, restrictions, recorded_at
  FROM exam_conclusions
 WHERE patient_id = $1 AND purpose = 'driver' AND recorded_at >= $2
 ORDER BY recorded_at, id
"""

# -- certificates -----------------------------------------------------------------------

_CERTIFICATE = """
SELECT t.patient_id, t.id, t.number, t.kind, t.clinic_id, c.name AS clinic, t.doctor_id,
       t.holder, t.birth_date, t.categories, t.restrictions, t.pe_group, t.valid_from,
       t.valid_until, t.issued_at, t.kid, t.qr, t.status, t.revoked_at, t.revoked_reason
  FROM certificates t JOIN clinics c ON c.id = t.clinic_id
"""
INSERT_CERTIFICATE = """
INSERT INTO certificates (patient_id, number, kind, clinic_id, doctor_id, author_id, holder,
                          birth_date, categories, restrictions, pe_group, valid_from,
                          valid_until, issued_at, kid, qr)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
RETURNING id
"""
CERTIFICATES_OF_PATIENT = (
    _CERTIFICATE
    + """
 WHERE t.patient_id = $1 ORDER BY t.issued_at DESC, t.id DESC
"""
)
CERTIFICATE_BY_NUMBER = _CERTIFICATE + " WHERE t.number = $1"
#: A patient's issued driver's certificates whose categories need one of the examiners'
#: conclusions ($2: the categories that need it), locked to be revoked.
LOCK_DRIVER_CERTIFICATES = """
SELECT id, number FROM certificates
 WHERE patient_id = $1 AND kind = 'driver' AND status = 'issued' AND categories && $2
 FOR UPDATE
"""
#: Of the patients $1, each one's latest physical-education group certificate valid on $2.
PE_GROUPS = """
SELECT DISTINCT ON (patient_id) patient_id, number, pe_group, valid_from, valid_until
  FROM certificates
 WHERE patient_id = ANY ($1::bigint[]) AND kind = 'pe_group' AND status = 'issued'
   AND valid_from <= $2 AND valid_until >= $2
 ORDER BY patient_id, issued_at DESC, id DESC
"""
LOCK_CERTIFICATE = """
SELECT patient_id, id, number, kind, clinic_id, status FROM certificates
 WHERE number = $1 FOR UPDATE
"""
REVOKE = """
UPDATE certificates
   SET status = 'revoked', revoked_at = $3, revoked_reason = $4, revoked_by = $5
 WHERE patient_id = $1 AND id = $2 AND status = 'issued'
"""
#: Revoked certificates not yet expired on $1 (the revocation list).
REVOKED_NUMBERS = """
SELECT number FROM certificates WHERE status = 'revoked' AND valid_until >= $1
"""

QUERIES = {
    name: value
    for name, value in globals().items()
    if name.isupper() and not name.startswith("_") and isinstance(value, str)
}
