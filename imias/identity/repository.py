"""SQL of identity (asyncpg, ``$n`` parameters).

Patients sign in as patients of the registry, read through :mod:`imias.registry`;
this module holds identity's own tables only.
"""

from __future__ import annotations

INSERT_CHALLENGE = """
INSERT INTO otp_challenges (id, purpose, patient_id, requested_by, account_key, channel,
                            code_hash, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""

CHALLENGE_ACCOUNT = "SELECT account_key FROM otp_challenges WHERE id = $1"

# One attempt at a code: counted, and the challenge used up when the code is right.
TRY_CHALLENGE = """
UPDATE otp_challenges
   SET attempts = attempts + 1,
       used_at = CASE WHEN code_hash = $3 AND patient_id IS NOT NULL THEN $4 END
 WHERE id = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $4 AND attempts < $5
   AND requested_by IS NOT DISTINCT FROM $6::bigint
RETURNING patient_id, requested_by, account_key, channel, used_at IS NOT NULL AS ok
"""

# The patients linked to a guardian, and how (the registry says which are still children).
LINKED = """
SELECT child_id, relation FROM guardian_links WHERE guardian_id = $1
"""

IS_LINKED = """
SELECT EXISTS (SELECT 1 FROM guardian_links WHERE guardian_id = $1 AND child_id = $2)
"""

STAFF_BY_USERNAME = """
SELECT id, username, password_hash, role, full_name, clinic_id, doctor_id, organisation_id,
       disabled, must_change_password
  FROM staff_accounts WHERE username = $1
"""

STAFF_BY_ID = """
SELECT id, username, role, full_name, clinic_id, doctor_id, organisation_id, disabled,
       must_change_password, created_at
  FROM staff_accounts WHERE id = $1
"""

# An account about to be changed by an administrator (a system's own is none of hers).
LOCK_STAFF = """
SELECT id, username, role, full_name, clinic_id, doctor_id, organisation_id, disabled,
       must_change_password, created_at
  FROM staff_accounts WHERE id = $1 AND password_hash <> '!' FOR UPDATE
"""

# A new password: $4 whether it is a temporary one its owner must replace.
SET_PASSWORD = """
UPDATE staff_accounts SET password_hash = $2, password_set_at = $3, must_change_password = $4
 WHERE id = $1
RETURNING id
"""

SET_DISABLED = """
UPDATE staff_accounts SET disabled = $2 WHERE id = $1
RETURNING id, username, role, full_name, clinic_id, doctor_id, organisation_id, disabled,
       must_change_password, created_at
"""

SET_ROLE = """
UPDATE staff_accounts SET role = $2, doctor_id = $3, full_name = $4 WHERE id = $1
RETURNING id, username, role, full_name, clinic_id, doctor_id, organisation_id, disabled,
       must_change_password, created_at
"""

# People's accounts (not systems'), by id after $5, filtered: clinic $1, role $2,
# disabled $3, roles among $4 (a clinic administrator sees her clinic's roles only).
LIST_STAFF = """
SELECT id, username, role, full_name, clinic_id, doctor_id, organisation_id, disabled,
       must_change_password, created_at
  FROM staff_accounts
 WHERE password_hash <> '!'
   AND ($1::bigint IS NULL OR clinic_id = $1)
   AND ($2::text IS NULL OR role = $2)
   AND ($3::boolean IS NULL OR disabled = $3)
   AND ($4::text[] IS NULL OR role = ANY ($4::text[]))
   AND id > $5
 ORDER BY id
 LIMIT $6
"""

LOCK_ENABLED_ADMINISTRATORS = """
SELECT id FROM staff_accounts WHERE role = 'administrator' AND NOT disabled ORDER BY id FOR UPDATE
"""

INSERT_STAFF = """
INSERT INTO staff_accounts (username, password_hash, role, full_name, clinic_id, doctor_id,
                            organisation_id, must_change_password)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id
"""


# A system's own staff account (an ambulance station's, writing what its crews report):
# disabled, with no password hash that any password matches, so no one signs in as it.
UPSERT_SYSTEM_STAFF = """
INSERT INTO staff_accounts (username, password_hash, role, full_name, organisation_id, disabled)
VALUES ($1, '!', $2, $3, $4, true)
ON CONFLICT (username) DO UPDATE SET full_name = EXCLUDED.full_name
 WHERE staff_accounts.password_hash = '!'
RETURNING id
"""

INSERT_REVOCATION = """
INSERT INTO token_revocations (subject_kind, subject_id, session_id, revoked_at, reason)
VALUES ($1, $2, $3, $4, $5)
"""

RECENT_REVOCATIONS = """
SELECT subject_kind, subject_id, session_id, revoked_at FROM token_revocations
 WHERE revoked_at > $1
"""

# A sign-in attempt counted in PostgreSQL (while Redis is down), under the row's lock
# until the transaction ends: a new window once the last ended. The caller rolls it back
# when the key (or another of the attempt) is locked.
COUNT_ATTEMPT = """
INSERT INTO signin_failures AS f (key, failures, window_ends) VALUES ($1, 1, $3)
ON CONFLICT (key) DO UPDATE
   SET failures = CASE WHEN f.window_ends <= $2 THEN 1 ELSE f.failures + 1 END,
       window_ends = CASE WHEN f.window_ends <= $2 THEN $3 ELSE f.window_ends END
RETURNING failures, locked_until
"""

LOCK_FAILURES = """
UPDATE signin_failures SET locked_until = $2, window_ends = greatest(window_ends, $3)
 WHERE key = $1
"""

CLEAR_FAILURES = "DELETE FROM signin_failures WHERE key = $1"

# A success takes its attempts back ($2[i] from the key $1[i]), never below 0.
TAKE_BACK_FAILURES = """
UPDATE signin_failures AS f SET failures = greatest(f.failures - t.n, 0)
  FROM unnest($1::text[], $2::int[]) AS t (key, n)
 WHERE f.key = t.key
"""

INSERT_GRANT = """
INSERT INTO break_glass_grants (staff_id, patient_id, granted_at, expires_at, reason)
VALUES ($1, $2, $3, $4, $5)
"""

ACTIVE_GRANT = """
SELECT reason, expires_at FROM break_glass_grants
 WHERE staff_id = $1 AND patient_id = $2 AND expires_at > $3
 ORDER BY granted_at DESC LIMIT 1
"""

# Housekeeping: what no check needs any more.
DELETE_OLD_CHALLENGES = "DELETE FROM otp_challenges WHERE expires_at < $1"
DELETE_OLD_FAILURES = """
DELETE FROM signin_failures WHERE window_ends < $1 AND (locked_until IS NULL OR locked_until < $1)
"""
DELETE_OLD_REVOCATIONS = "DELETE FROM token_revocations WHERE revoked_at < $1"

# A patient's access log: who else read or changed their data, newest first.
ACCESS_LOG = """
SELECT a.id, a.at, a.actor_id, a.actor_role, a.actor_org, a.acting_for, a.action, a.resource,
       a.resource_id, a.break_glass, a.reason, s.full_name AS actor_name,
       coalesce(c.name, st.name) AS org_name
  FROM audit_log a
  LEFT JOIN staff_accounts s ON a.actor_role <> 'patient' AND s.id = a.actor_id
  -- only clinic staff's organisation is a clinic (a pharmacy's id is not a clinic's)
  LEFT JOIN clinics c ON a.actor_role IN ('registrar', 'doctor') AND c.id = a.actor_org
  -- an ambulance crew's is its station
  LEFT JOIN ambulance_stations st ON a.actor_role = 'ambulance_crew' AND st.id = a.actor_org
 WHERE a.patient_id = $1
   AND NOT (a.actor_role = 'patient' AND a.actor_id = $1)
   AND ($2::bigint IS NULL OR a.id < $2)
 ORDER BY a.id DESC
 LIMIT $3
"""


QUERIES = {
    "access_log": ACCESS_LOG,
    "insert_challenge": INSERT_CHALLENGE,
    "challenge_account": CHALLENGE_ACCOUNT,
    "try_challenge": TRY_CHALLENGE,
    "linked": LINKED,
    "is_linked": IS_LINKED,
    "staff_by_username": STAFF_BY_USERNAME,
    "staff_by_id": STAFF_BY_ID,
    "set_password": SET_PASSWORD,
    "set_disabled": SET_DISABLED,
    "lock_staff": LOCK_STAFF,
    "set_role": SET_ROLE,
    "list_staff": LIST_STAFF,
    "insert_staff": INSERT_STAFF,
    "upsert_system_staff": UPSERT_SYSTEM_STAFF,
    "lock_enabled_administrators": LOCK_ENABLED_ADMINISTRATORS,
    "insert_revocation": INSERT_REVOCATION,
    "recent_revocations": RECENT_REVOCATIONS,
    "count_attempt": COUNT_ATTEMPT,
    "lock_failures": LOCK_FAILURES,
    "clear_failures": CLEAR_FAILURES,
    "take_back_failures": TAKE_BACK_FAILURES,
    "insert_grant": INSERT_GRANT,
    "active_grant": ACTIVE_GRANT,
    "delete_old_challenges": DELETE_OLD_CHALLENGES,
    "delete_old_failures": DELETE_OLD_FAILURES,
    "delete_old_revocations": DELETE_OLD_REVOCATIONS,
}
