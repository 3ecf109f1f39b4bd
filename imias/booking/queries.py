"""The SQL of the booking domain, every statement named (asyncpg, ``$n`` parameters, no
string-built values). Only :mod:`imias.booking.repository` runs them; :data:`QUERIES`
lists them all, so a test prepares each against the migrated database."""

from __future__ import annotations

from imias.booking.events import APPOINTMENT_TOPIC, booked_json_sql, no_show_json_sql
from imias.platform.audit.repository import insert_from as audit_cte
from imias.platform.outbox import event_cte

TEMPLATES_IN_WINDOW = """
SELECT doctor_id, weekday, starts, ends, channels, urgent, valid_from, valid_to,
       slot_minutes, referral
  FROM schedule_templates
 WHERE valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $1)
"""

EXCEPTIONS_IN_WINDOW = """
SELECT doctor_id, day, kind, starts, ends, channels
  FROM schedule_exceptions
 WHERE day BETWEEN $1 AND $2
"""

HOLIDAYS_BETWEEN = """
SELECT day FROM public_holidays WHERE day BETWEEN $1 AND $2
"""

ACTIVE_APPOINTMENTS_BETWEEN = """
SELECT clinic_id, id, doctor_id, starts_at, ends_at, status, hold_token, hold_expires_at
  FROM appointments
 WHERE status IN ('held', 'booked', 'arrived') AND starts_at >= $1 AND starts_at < $2
"""


# Every named query of this module, so a test can prepare them all against the
# migrated database and a broken column fails CI rather than production.
QUERIES = {
    "templates_in_window": TEMPLATES_IN_WINDOW,
    "exceptions_in_window": EXCEPTIONS_IN_WINDOW,
    "holidays_between": HOLIDAYS_BETWEEN,
    "active_appointments_between": ACTIVE_APPOINTMENTS_BETWEEN,
}


# -- the booking flow --------------------------------------------------------------------

LOCK_PATIENT = """
SELECT id, birth_date, sex, attached_clinic_id FROM patients WHERE id = $1 FOR UPDATE
"""

PATIENT_HISTORY = """
SELECT id, clinic_id, doctor_id, specialty_id, starts_at, ends_at, status, channel,
       referral_clinic_id, referral_id, hold_token, hold_expires_at, created_at, rescheduled_to
  FROM appointments
 WHERE patient_id = $1 AND status <> 'expired'
 ORDER BY starts_at DESC
 LIMIT $2
"""

# The patient's live appointments and holds, and active referrals, in one round trip:
# rows of kind 'a' (appointment or hold) and 'r' (referral).
PATIENT_FACTS = """
SELECT 'a' AS kind, id, clinic_id, specialty_id, starts_at, status, referral_clinic_id,
       referral_id, hold_token, hold_expires_at, NULL::date AS valid_until, relocation_id
  FROM appointments
 WHERE patient_id = $1 AND status IN ('held', 'booked', 'arrived')
UNION ALL
SELECT 'r', id, clinic_id, specialty_id, NULL, status, NULL, NULL, NULL, NULL, valid_until,
       NULL
  FROM referrals
 WHERE patient_id = $1 AND status = 'active'
"""

# Lock the patient, read the facts, the idempotency key's answer and the token's hold, and
# end expired holds on the wanted time, in one round trip (booking migration 0004 explains why it
# is a function): $1 patient, $2 key, $3 token, $4-$7 clinic, doctor, starts, ends, $8 now.
BOOKING_CONTEXT = """
SELECT kind, id, clinic_id, doctor_id, patient_id, specialty_id, starts_at, ends_at, status,
       channel, referral_clinic_id, referral_id, hold_token, hold_expires_at,
       waitlist_entry_id, valid_until, birth_date, sex, route, response, relocation_id
  FROM booking_context($1, $2, $3, $4, $5, $6, $7, $8)
"""

PATIENT_REFERRALS = """
SELECT clinic_id, id, specialty_id, valid_until, status
  FROM referrals WHERE patient_id = $1 AND status = 'active'
"""

# (An overlapping appointment starts at most four hours before: a check of the table.)
EXPIRE_OVERLAPPING_HOLDS = """
UPDATE appointments SET status = 'expired', updated_at = $5
 WHERE clinic_id = $1 AND doctor_id = $2 AND status = 'held' AND hold_expires_at <= $5
   AND starts_at < $4 AND ends_at > $3 AND starts_at > $3 - interval '4 hours'
RETURNING clinic_id, id, hold_token, patient_id, waitlist_entry_id, relocation_id
"""

CONFIRM_HOLD = """
UPDATE appointments
   SET status = 'booked', referral_clinic_id = $3, referral_id = $4, updated_at = $5
 WHERE clinic_id = $1 AND id = $2 AND status = 'held'
RETURNING id
"""

END_HOLD = """
UPDATE appointments SET status = 'expired', updated_at = $3
 WHERE clinic_id = $1 AND id = $2 AND status = 'held'
RETURNING id
"""

INSERT_APPOINTMENT = """
INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id, starts_at, ends_at,
                          status, channel, referral_clinic_id, referral_id, hold_token,
                          hold_expires_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
RETURNING id
"""

HOLD_BY_TOKEN = """
SELECT id, clinic_id, doctor_id, patient_id, specialty_id, starts_at, ends_at, status, channel,
       referral_clinic_id, referral_id, hold_token, hold_expires_at, waitlist_entry_id,
       relocation_id
  FROM appointments WHERE hold_token = $1
 ORDER BY created_at DESC LIMIT 1
   FOR UPDATE
"""

# The hot path's writes with their engine event and their audit record, one round trip
# each: after the statement's own parameters come the event's (clinic id, topic, payload)
# and the audit record's (eleven, imias.platform.audit.change_args).
_INSERT_WITH_EVENT = f"""
WITH change AS ({INSERT_APPOINTMENT}),
     event AS ({event_cte("change", 14)}),
     audited AS ({audit_cte("change", 17, "change.id")})"""

# A booking (status booked) also writes its appointment event (imias.booking.events),
# its JSON built here: the appointment's id is known only as it is inserted.
_BOOKED = booked_json_sql("change.id", "$3::bigint", "$1::bigint", "$8::text")
INSERT_APPOINTMENT_WITH_EVENT = (
    _INSERT_WITH_EVENT
    + f""",
     changed AS (INSERT INTO event_outbox (clinic_id, topic, payload)
                 SELECT $1::bigint, '{APPOINTMENT_TOPIC}', {_BOOKED}
                   FROM change WHERE $7::text = 'booked')
SELECT change.id, event.id AS outbox_id FROM change, event
"""
)

# A patient's hold, as above, committed without waiting for its WAL to reach the disk
# (synchronous_commit off for this transaction only). A hold is the one change that may
# be lost in a database crash: it is then a hold that ended early (the patient's confirm
# is refused, they choose again), never a lost booking. The confirmation that follows
# waits for the flush, and its flush carries the hold's record with it.
INSERT_HOLD_WITH_EVENT = (
    _INSERT_WITH_EVENT
    + """,
     no_wait AS (SELECT set_config('synchronous_commit', 'off', true))
SELECT change.id, event.id AS outbox_id FROM change, event, no_wait
"""
)

# Confirm a hold and store the answer under the idempotency key ($6 patient, $7 key,
# $8 route, $9 request hash, $10 response), with the engine event ($11-$13), the audit
# record ($14-$24) and the appointment event ($25-$27, imias.booking.events).
CONFIRM_HOLD_WITH_EVENT = f"""
WITH change AS ({CONFIRM_HOLD}),
     remembered AS (
        INSERT INTO idempotency_keys (patient_id, key, route, request_hash, status_code, response)
        SELECT $6, $7, $8, $9, 201, $10 FROM change),
     event AS ({event_cte("change", 11)}),
     audited AS ({audit_cte("change", 14, "change.id")}),
     changed AS ({event_cte("change", 25)})
SELECT change.id, event.id AS outbox_id FROM change, event
"""

APPOINTMENT_FOR_UPDATE = """
SELECT id, clinic_id, doctor_id, patient_id, specialty_id, starts_at, ends_at, status, channel,
       referral_clinic_id, referral_id, hold_token, hold_expires_at, waitlist_entry_id,
       relocation_id
  FROM appointments WHERE id = $1 FOR UPDATE
"""

SET_STATUS = """
UPDATE appointments
   SET status = $3, updated_at = $4,
       cancelled_at = CASE WHEN $3 = 'cancelled' THEN $4 ELSE cancelled_at END,
       arrived_at = CASE WHEN $3 = 'arrived' THEN $4 ELSE arrived_at END
 WHERE clinic_id = $1 AND id = $2
"""

SET_RESCHEDULED_TO = """
UPDATE appointments SET rescheduled_to = $3 WHERE clinic_id = $1 AND id = $2
"""

# A change of status, or the link of a moved appointment to its new one, with the
# appointment's event (imias.booking.events) in the same round trip: after the
# statement's own parameters, the event's clinic id, topic and payload.
SET_STATUS_WITH_EVENT = f"""
WITH change AS ({SET_STATUS.strip()} RETURNING id),
     event AS ({event_cte("change", 5)})
SELECT count(*) FROM change
"""

SET_RESCHEDULED_TO_WITH_EVENT = f"""
WITH change AS ({SET_RESCHEDULED_TO.strip()} RETURNING id),
     event AS ({event_cte("change", 4)})
SELECT count(*) FROM change
"""

USE_REFERRAL = """
UPDATE referrals SET status = $3 WHERE clinic_id = $1 AND id = $2
"""

TAKE_REFERRAL = """
UPDATE referrals SET status = 'used' WHERE clinic_id = $1 AND id = $2 AND status = 'active'
RETURNING id
"""

# The answer of a successful booking (201) under its key: patient, key, route, hash, body.
SAVE_IDEMPOTENT_ROW = """
INSERT INTO idempotency_keys (patient_id, key, route, request_hash, status_code, response)
VALUES ($1, $2, $3, $4, 201, $5)
"""

INSERT_REFERRAL = """
INSERT INTO referrals (clinic_id, patient_id, specialty_id, issued_by, valid_until)
VALUES ($1, $2, $3, $4, $5) RETURNING id
"""

# The hold sweeper; hold_token IS NOT NULL (true of every hold) lets it, and only it,
# use appointments_hold_expiry (booking migration 0006).
EXPIRED_HOLDS = """
UPDATE appointments SET status = 'expired', updated_at = $1
 WHERE (clinic_id, id) IN (SELECT clinic_id, id FROM appointments
                            WHERE status = 'held' AND hold_token IS NOT NULL
                              AND hold_expires_at <= $1
                            ORDER BY hold_expires_at LIMIT $2
                            FOR UPDATE SKIP LOCKED)
RETURNING clinic_id, id, doctor_id, patient_id, starts_at, ends_at, hold_token,
          waitlist_entry_id, relocation_id
"""

DOCTOR_DAY = """
SELECT id, clinic_id, doctor_id, patient_id, specialty_id, starts_at, ends_at, status, channel
  FROM appointments
 WHERE clinic_id = $1 AND doctor_id = $2 AND starts_at >= $3 AND starts_at < $4
   AND status IN ('booked', 'arrived', 'completed', 'no_show')
 ORDER BY starts_at
"""

# Booked appointments that ended in the last two days. An appointment lasts at most
# four hours (a check of the table), so the bound on starts_at finds the same rows
# in a range of appointments_booked_by_time.
MARK_NO_SHOWS = f"""
WITH change AS (
    UPDATE appointments SET status = 'no_show', updated_at = $1
     WHERE status = 'booked' AND ends_at <= $1 AND ends_at > $1 - interval '2 days'
       AND starts_at < $1 AND starts_at > $1 - interval '2 days 4 hours'
    RETURNING clinic_id, id, patient_id),
     changed AS (
    INSERT INTO event_outbox (clinic_id, topic, payload)
    SELECT clinic_id, '{APPOINTMENT_TOPIC}',
           {no_show_json_sql("id", "patient_id", "clinic_id")}
      FROM change ORDER BY clinic_id, id)
SELECT clinic_id, id FROM change
"""

QUERIES |= {
    "lock_patient": LOCK_PATIENT,
    "patient_history": PATIENT_HISTORY,
    "patient_referrals": PATIENT_REFERRALS,
    "patient_facts": PATIENT_FACTS,
    "booking_context": BOOKING_CONTEXT,
    "expire_overlapping_holds": EXPIRE_OVERLAPPING_HOLDS,
    "confirm_hold": CONFIRM_HOLD,
    "end_hold": END_HOLD,
    "insert_appointment": INSERT_APPOINTMENT,
    "insert_appointment_with_event": INSERT_APPOINTMENT_WITH_EVENT,
    "insert_hold_with_event": INSERT_HOLD_WITH_EVENT,
    "confirm_hold_with_event": CONFIRM_HOLD_WITH_EVENT,
    "hold_by_token": HOLD_BY_TOKEN,
    "appointment_for_update": APPOINTMENT_FOR_UPDATE,
    "set_status": SET_STATUS,
    "set_rescheduled_to": SET_RESCHEDULED_TO,
    "set_status_with_event": SET_STATUS_WITH_EVENT,
    "set_rescheduled_to_with_event": SET_RESCHEDULED_TO_WITH_EVENT,
    "use_referral": USE_REFERRAL,
    "take_referral": TAKE_REFERRAL,
    "save_idempotent_row": SAVE_IDEMPOTENT_ROW,
    "insert_referral": INSERT_REFERRAL,
    "expired_holds": EXPIRED_HOLDS,
    "doctor_day": DOCTOR_DAY,
    "mark_no_shows": MARK_NO_SHOWS,
}


# -- waitlist and reminders -----------------------------------------------------------------

INSERT_WAITLIST = """
INSERT INTO waitlist_entries (patient_id, specialty_id, clinic_id, doctor_id, from_day, to_day,
                              created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
RETURNING id
"""

PATIENT_WAITLIST = """
SELECT w.id, w.patient_id, w.specialty_id, w.clinic_id, w.doctor_id, w.from_day, w.to_day,
       w.status, w.created_at, a.hold_token, a.hold_expires_at, a.doctor_id AS offer_doctor_id,
       a.starts_at AS offer_starts_at
  FROM waitlist_entries w
  LEFT JOIN appointments a
         ON a.clinic_id = w.offer_clinic_id AND a.id = w.offer_appointment_id
        AND a.status = 'held'
 WHERE w.patient_id = $1
 ORDER BY w.created_at DESC
"""

CANCEL_WAITLIST = """
UPDATE waitlist_entries SET status = 'cancelled', updated_at = $3
 WHERE patient_id = $1 AND id = $2 AND status IN ('waiting', 'offered')
RETURNING offer_clinic_id, offer_appointment_id
"""

WAITING_FOR_SLOT = """
SELECT patient_id, id FROM waitlist_entries
 WHERE status = 'waiting' AND specialty_id = $1
   AND (clinic_id IS NULL OR clinic_id = $2)
   AND (doctor_id IS NULL OR doctor_id = $3)
   AND from_day <= $4 AND to_day >= $4
   AND NOT (patient_id = ANY($5::bigint[]))
 ORDER BY created_at, id
 LIMIT 20
 FOR UPDATE SKIP LOCKED
"""

MARK_OFFERED = """
UPDATE waitlist_entries
   SET status = 'offered', offer_clinic_id = $3, offer_appointment_id = $4, updated_at = $5
 WHERE patient_id = $1 AND id = $2
"""

SET_WAITLIST_STATUS = """
UPDATE waitlist_entries SET status = $3, updated_at = $4 WHERE patient_id = $1 AND id = $2
"""

LINK_OFFER = """
UPDATE appointments SET waitlist_entry_id = $3 WHERE clinic_id = $1 AND id = $2
"""

DUE_REMINDERS = """
UPDATE appointments SET reminded_at = $1
 WHERE (clinic_id, id) IN (SELECT clinic_id, id FROM appointments
                            WHERE status = 'booked' AND reminded_at IS NULL
                              AND starts_at > $1 AND starts_at <= $1 + interval '24 hours'
                            ORDER BY starts_at LIMIT $2
                            FOR UPDATE SKIP LOCKED)
RETURNING clinic_id, id, patient_id, doctor_id, specialty_id, starts_at, ends_at, status, channel
"""

QUERIES |= {
    "insert_waitlist": INSERT_WAITLIST,
    "patient_waitlist": PATIENT_WAITLIST,
    "cancel_waitlist": CANCEL_WAITLIST,
    "waiting_for_slot": WAITING_FOR_SLOT,
    "mark_offered": MARK_OFFERED,
    "set_waitlist_status": SET_WAITLIST_STATUS,
    "link_offer": LINK_OFFER,
    "due_reminders": DUE_REMINDERS,
}


# -- whose data a caller reaches (imias.booking.caller decides) -------------------------

APPOINTMENT_OWNER = """
SELECT clinic_id, patient_id, doctor_id, status FROM appointments WHERE id = $1
"""

HOLD_OWNER = """
SELECT clinic_id, patient_id FROM appointments WHERE hold_token = $1
 ORDER BY created_at DESC LIMIT 1
"""

WAITLIST_ENTRY_CLINIC = """
SELECT clinic_id FROM waitlist_entries WHERE patient_id = $1 AND id = $2
"""

# A patient "booked with a clinic": an appointment there that was booked (not a hold,
# not one cancelled or let expire).
BOOKED_WITH_CLINIC = """
SELECT EXISTS (SELECT 1 FROM appointments
                WHERE patient_id = $1 AND clinic_id = $2
                  AND status IN ('booked', 'arrived', 'completed', 'no_show'))
    OR EXISTS (SELECT 1 FROM walk_ins WHERE patient_id = $1 AND clinic_id = $2)
"""

# A patient the doctor called from her clinic's walk-in queue counts as booked with her.
BOOKED_WITH_DOCTOR = """
SELECT EXISTS (SELECT 1 FROM appointments
                WHERE patient_id = $1 AND clinic_id = $2 AND doctor_id = $3
                  AND status IN ('booked', 'arrived', 'completed'))
    OR EXISTS (SELECT 1 FROM walk_ins
                WHERE patient_id = $1 AND clinic_id = $2 AND called_by = $3
                  AND state IN ('called', 'seen'))
"""

WAITLIST_ENTRY = """
SELECT status, offer_clinic_id, offer_appointment_id FROM waitlist_entries
 WHERE patient_id = $1 AND id = $2
"""

LOCK_WAITING_PATIENT = """
SELECT id, birth_date, sex, attached_clinic_id FROM patients WHERE id = $1
   FOR UPDATE SKIP LOCKED
"""

QUERIES |= {
    "appointment_owner": APPOINTMENT_OWNER,
    "hold_owner": HOLD_OWNER,
    "waitlist_entry_clinic": WAITLIST_ENTRY_CLINIC,
    "booked_with_clinic": BOOKED_WITH_CLINIC,
    "booked_with_doctor": BOOKED_WITH_DOCTOR,
    "lock_waiting_patient": LOCK_WAITING_PATIENT,
    "waitlist_entry": WAITLIST_ENTRY,
}

# -- the walk-in queue (imias.booking.walk_ins) ----------------------------------------

_WALK_IN = """clinic_id, id, day, patient_id, complaint, urgent, state, added_by, added_at,
       called_at, called_by, encounter_id, ended_at"""

# None when the patient already has an open entry at the clinic that day.
INSERT_WALK_IN = f"""
INSERT INTO walk_ins (clinic_id, day, patient_id, complaint, urgent, added_by, added_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (clinic_id, day, patient_id) WHERE state IN ('waiting', 'called') DO NOTHING
RETURNING {_WALK_IN}
"""

# The day's entries: the waiting in calling order, then the called, then the ended.
WALK_INS_OF_DAY = f"""
SELECT {_WALK_IN} FROM walk_ins
 WHERE clinic_id = $1 AND day = $2
 ORDER BY CASE state WHEN 'waiting' THEN 0 WHEN 'called' THEN 1 ELSE 2 END,
          CASE WHEN state = 'waiting' THEN NOT urgent END, added_at, id
"""

WALK_IN = f"SELECT {_WALK_IN} FROM walk_ins WHERE clinic_id = $1 AND id = $2"

# The next to call (urgent first, then the longest waiting): the row is locked, and one
# locked by another doctor's call at the same moment is skipped, so two calls never
# take the same patient.
CALL_NEXT_WALK_IN = f"""
UPDATE walk_ins SET state = 'called', called_at = $3, called_by = $4, called_by_staff = $5
 WHERE (clinic_id, id) = (SELECT clinic_id, id FROM walk_ins
                           WHERE clinic_id = $1 AND day = $2 AND state = 'waiting'
                           ORDER BY urgent DESC, added_at, id
                           LIMIT 1 FOR UPDATE SKIP LOCKED)
   AND state = 'waiting'
RETURNING {_WALK_IN}
"""

# An entry ends ($3: seen or left) from one of the states $5, and only the calling
# doctor's ($6, when given).
END_WALK_IN = f"""
UPDATE walk_ins SET state = $3, ended_at = $4
 WHERE clinic_id = $1 AND id = $2 AND state = ANY ($5::text[])
   AND ($6::bigint IS NULL OR called_by = $6)
RETURNING {_WALK_IN}
"""

# The visit opened for a called entry (the first one stays).
ATTACH_WALK_IN_VISIT = """
UPDATE walk_ins SET encounter_id = coalesce(encounter_id, $4)
 WHERE clinic_id = $1 AND id = $2 AND called_by = $3 AND state IN ('called', 'seen')
RETURNING encounter_id
"""

SEEN_BY_VISIT = """
UPDATE walk_ins SET state = 'seen', ended_at = $3
 WHERE clinic_id = $1 AND encounter_id = $2 AND state = 'called'
RETURNING id
"""

QUERIES |= {
    "insert_walk_in": INSERT_WALK_IN,
    "walk_ins_of_day": WALK_INS_OF_DAY,
    "walk_in": WALK_IN,
    "call_next_walk_in": CALL_NEXT_WALK_IN,
    "end_walk_in": END_WALK_IN,
    "attach_walk_in_visit": ATTACH_WALK_IN_VISIT,
    "seen_by_visit": SEEN_BY_VISIT,
}

# -- patients moved when the clinic takes a doctor's time away (imias.booking.relocation) --

READ_PATIENT = """
SELECT id, birth_date, sex, attached_clinic_id FROM patients WHERE id = $1
"""

# A new relocation, its offered hold (if any) linked back to it, in one round trip:
# clinic, old appointment, patient, specialty, reason, state, offer clinic, offer id,
# deadline, by, now.
INSERT_RELOCATION = """
WITH r AS (
    INSERT INTO relocations (clinic_id, appointment_id, patient_id, specialty_id, reason,
                             state, offer_clinic_id, offer_appointment_id, deadline,
                             created_by, created_at, updated_at, settled_at)
    VALUES ($1, $2, $3, $4, $5, $6::text, $7, $8, $9, $10, $11::timestamptz, $11,
            CASE WHEN $6::text = 'offered' THEN NULL ELSE $11::timestamptz END)
    RETURNING id, offer_clinic_id, offer_appointment_id),
     linked AS (
    UPDATE appointments a SET relocation_id = r.id
      FROM r WHERE a.clinic_id = r.offer_clinic_id AND a.id = r.offer_appointment_id)
SELECT id FROM r
"""

# A relocation whose held slot was taken away in turn gets a new offer (or none):
# relocation id, state, offer clinic, offer id, deadline, now.
REOFFER_RELOCATION = """
WITH r AS (
    UPDATE relocations
       SET state = $2::text, offer_clinic_id = $3, offer_appointment_id = $4, deadline = $5,
           updated_at = $6::timestamptz,
           settled_at = CASE WHEN $2::text = 'offered' THEN NULL ELSE $6::timestamptz END
     WHERE id = $1 AND state = 'offered'
    RETURNING id, offer_clinic_id, offer_appointment_id),
     linked AS (
    UPDATE appointments a SET relocation_id = r.id
      FROM r WHERE a.clinic_id = r.offer_clinic_id AND a.id = r.offer_appointment_id)
SELECT id FROM r
"""

# The offer of a relocation ended (the one place: imias.booking.relocation.end_offer):
# relocation id, the hold's appointment id, the new state, now. Answers with the old
# appointment's doctor and time for the patient's notice; nothing when the relocation
# was settled already or offers another hold now.
END_RELOCATION = """
WITH r AS (
    UPDATE relocations SET state = $3, updated_at = $4, settled_at = $4
     WHERE id = $1 AND state = 'offered' AND offer_appointment_id = $2
    RETURNING clinic_id, id, appointment_id, patient_id)
SELECT r.clinic_id, r.id, r.appointment_id, r.patient_id, a.doctor_id, a.starts_at
  FROM r JOIN appointments a ON a.clinic_id = r.clinic_id AND a.id = r.appointment_id
"""

_RELOCATION_VIEW = """
SELECT r.clinic_id, r.id, r.appointment_id, r.patient_id, r.specialty_id, r.reason, r.state,
       r.offer_clinic_id, r.offer_appointment_id, r.deadline, r.created_by, r.created_at,
       r.updated_at, r.settled_at,
       o.doctor_id AS old_doctor_id, o.starts_at AS old_starts_at, o.ends_at AS old_ends_at,
       o.channel AS old_channel, o.status AS old_status,
       n.doctor_id AS offer_doctor_id, n.starts_at AS offer_starts_at,
       n.ends_at AS offer_ends_at, n.channel AS offer_channel, n.status AS offer_status,
       n.hold_token AS offer_token
  FROM relocations r
  JOIN appointments o ON o.clinic_id = r.clinic_id AND o.id = r.appointment_id
  LEFT JOIN appointments n ON n.clinic_id = r.offer_clinic_id AND n.id = r.offer_appointment_id
"""

RELOCATION = (
    _RELOCATION_VIEW
    + """ WHERE r.id = $1
"""
)

PATIENT_RELOCATIONS = (
    _RELOCATION_VIEW
    + """ WHERE r.patient_id = $1
 ORDER BY r.created_at DESC, r.id DESC LIMIT $2
"""
)

# A clinic's relocations, the newest first, optionally of one state, since a time.
CLINIC_RELOCATIONS = (
    _RELOCATION_VIEW
    + """ WHERE r.clinic_id = $1 AND r.created_at >= $2
   AND ($3::text IS NULL OR r.state = $3)
 ORDER BY r.created_at DESC, r.id DESC LIMIT $4
"""
)

CLINIC_RELOCATION_COUNTS = """
SELECT state, count(*) AS n FROM relocations
 WHERE clinic_id = $1 AND created_at >= $2 GROUP BY state
"""

QUERIES |= {
    "read_patient": READ_PATIENT,
    "insert_relocation": INSERT_RELOCATION,
    "reoffer_relocation": REOFFER_RELOCATION,
    "end_relocation": END_RELOCATION,
    "relocation": RELOCATION,
    "patient_relocations": PATIENT_RELOCATIONS,
    "clinic_relocations": CLINIC_RELOCATIONS,
    "clinic_relocation_counts": CLINIC_RELOCATION_COUNTS,
}
