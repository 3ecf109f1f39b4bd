"""Every SQL statement of the schools' adapter, named (run by
:mod:`integrations.schools.repository`)."""

from __future__ import annotations

_CONSENT = """
c.patient_id, c.id, c.school_id, s.name AS school, s.kind AS school_kind, c.absences,
c.certificates, c.given_at, c.withdrawn_at
"""

#: A child's consents, those in force first, then the withdrawn ones, newest first.
CONSENTS_OF = f"""
SELECT {_CONSENT} FROM school_consents c JOIN schools s ON s.id = c.school_id
 WHERE c.patient_id = $1
 ORDER BY c.withdrawn_at IS NOT NULL, c.withdrawn_at DESC, c.given_at DESC, c.id DESC
 LIMIT $2
"""
CONSENT = f"""
SELECT {_CONSENT} FROM school_consents c JOIN schools s ON s.id = c.school_id
 WHERE c.patient_id = $1 AND c.id = $2
"""
LOCK_CONSENT = """
SELECT patient_id, id, withdrawn_at FROM school_consents
 WHERE patient_id = $1 AND id = $2 FOR UPDATE
"""
#: The consent in force for the child and school, withdrawn (a new one replaces it).
WITHDRAW_ACTIVE = """
UPDATE school_consents SET withdrawn_at = $3, withdrawn_by = $4
 WHERE patient_id = $1 AND school_id = $2 AND withdrawn_at IS NULL
RETURNING id
"""
WITHDRAW = """
UPDATE school_consents SET withdrawn_at = $3, withdrawn_by = $4
 WHERE patient_id = $1 AND id = $2 AND withdrawn_at IS NULL
"""
INSERT_CONSENT = """
INSERT INTO school_consents (patient_id, school_id, absences, certificates, given_by, given_at)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id
"""
#: The schools a child's $3 ('absences' or 'certificates') go to at the instant $2: the
#: consents in force then.
CONSENTED_AT = """
SELECT c.school_id, s.name, s.kind FROM school_consents c JOIN schools s ON s.id = c.school_id
 WHERE c.patient_id = $1 AND c.given_at <= $2 AND (c.withdrawn_at IS NULL OR c.withdrawn_at > $2)
   AND CASE $3::text WHEN 'absences' THEN c.absences ELSE c.certificates END
 ORDER BY c.school_id
"""
#: The children with a consent in force for school $1.
PUPILS_OF = """
SELECT DISTINCT patient_id FROM school_consents WHERE school_id = $1 AND withdrawn_at IS NULL
"""
#: The partners bound to a school (none: every partner of the audience).
JOURNALS_OF = "SELECT partner_id FROM school_journals WHERE school_id = $1 ORDER BY partner_id"
BIND_JOURNAL = """
INSERT INTO school_journals (school_id, partner_id) VALUES ($1, $2) ON CONFLICT DO NOTHING
"""
UNBIND_JOURNAL = "DELETE FROM school_journals WHERE school_id = $1 AND partner_id = $2"
JOURNALS = "SELECT school_id, partner_id FROM school_journals ORDER BY school_id, partner_id"

QUERIES = {
    name: value
    for name, value in globals().items()
    if name.isupper() and not name.startswith("_") and isinstance(value, str)
}
