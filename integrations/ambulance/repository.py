"""The ambulance adapter's SQL: the calls recorded and the active visits. The only place
that runs SQL on these tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from imias.platform.db import Executor
from integrations.ambulance.model import ActiveVisit

NOTIFY_CHANNEL = "imias_active_visits"

INSERT_CALL = """
INSERT INTO ambulance_calls (patient_id, partner_id, message_id, call_number, station_id,
                             encounter_id, clinic_id, outcome, started_at, ended_at, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING id
"""

INSERT_ACTIVE_VISIT = """
INSERT INTO active_visits (clinic_id, patient_id, call_id, call_number, partner_id, station_id,
                           author_id, specialty, due_by, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
RETURNING id
"""
NOTIFY = f"SELECT pg_notify('{NOTIFY_CHANNEL}', $1)"

_COLUMNS = """
v.id, v.clinic_id, v.patient_id, v.call_id, v.call_number, v.partner_id, v.station_id,
v.author_id, v.specialty, v.due_by, v.status, v.created_at, v.appointment_id, v.starts_at,
v.doctor_name, v.booked_by, v.note
"""

#: The next new task to book, locked for the worker that took it (others skip it).
CLAIM_NEW = f"""
SELECT {_COLUMNS} FROM active_visits v
 WHERE v.status = 'new'
 ORDER BY v.id
 LIMIT 1
 FOR UPDATE SKIP LOCKED
"""

MARK_BOOKED = """
UPDATE active_visits
   SET status = 'booked', appointment_id = $3, starts_at = $4, doctor_name = $5,
       booked_by = $6, note = NULL, updated_at = $7
 WHERE clinic_id = $1 AND id = $2
"""

MARK_OPEN = """
UPDATE active_visits SET status = 'open', note = $3, updated_at = $4
 WHERE clinic_id = $1 AND id = $2 AND status = 'new'
"""

#: The registrar marks a task done (booked by hand, a home visit made, ...).
MARK_DONE = """
UPDATE active_visits SET status = 'done', booked_by = $3, note = coalesce($4, note),
       updated_at = $5
 WHERE clinic_id = $1 AND id = $2 AND status IN ('new', 'open')
RETURNING patient_id
"""

#: A clinic's tasks waiting for the registrar, oldest first.
OPEN_OF_CLINIC = f"""
SELECT {_COLUMNS},
       concat_ws(' ', p.family_name, p.given_name, p.patronymic) AS patient_name
  FROM active_visits v JOIN patients p ON p.id = v.patient_id
 WHERE v.clinic_id = $1 AND v.status IN ('new', 'open')
 ORDER BY v.created_at, v.id
 LIMIT $2
"""

ACTIVE_VISIT_OF_CALL = f"SELECT {_COLUMNS} FROM active_visits v WHERE v.call_id = $1"

QUERIES = {
    "insert_call": INSERT_CALL,
    "insert_active_visit": INSERT_ACTIVE_VISIT,
    "notify": NOTIFY,
    "claim_new": CLAIM_NEW,
    "mark_booked": MARK_BOOKED,
    "mark_open": MARK_OPEN,
    "mark_done": MARK_DONE,
    "open_of_clinic": OPEN_OF_CLINIC,
    "active_visit_of_call": ACTIVE_VISIT_OF_CALL,
}


def active_visit_of(row: Any) -> ActiveVisit:
    return msgspec.convert(dict(row), ActiveVisit)


async def open_of_clinic(pool: Executor, clinic_id: int, limit: int = 200) -> list[ActiveVisit]:
    return [active_visit_of(r) for r in await pool.fetch(OPEN_OF_CLINIC, clinic_id, limit)]


async def mark_open(conn: Executor, task: ActiveVisit, note: str, at: datetime) -> None:
    await conn.execute(MARK_OPEN, task.clinic_id, task.id, note, at)
