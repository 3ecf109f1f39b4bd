"""Every SQL statement of illness episodes, named (run by :mod:`ehr.illness.service`)."""

from __future__ import annotations

_COLUMNS = """
patient_id, id, encounter_id, clinic_id, starts_on, ends_on, opened_at, closed_at
"""

INSERT_EPISODE = f"""
INSERT INTO illness_episodes (patient_id, encounter_id, clinic_id, doctor_id, opened_by,
                              opened_at, starts_on)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING
RETURNING {_COLUMNS}
"""
LOCK_EPISODE = f"""
SELECT {_COLUMNS} FROM illness_episodes WHERE patient_id = $1 AND id = $2 FOR UPDATE
"""
CLOSE_EPISODE = f"""
UPDATE illness_episodes SET ends_on = $3, closed_by = $4, closed_at = $5
 WHERE patient_id = $1 AND id = $2
RETURNING {_COLUMNS}
"""
EPISODES_OF = f"""
SELECT {_COLUMNS} FROM illness_episodes WHERE patient_id = $1 ORDER BY starts_on DESC, id DESC
"""

QUERIES: dict[str, str] = {
    "insert_episode": INSERT_EPISODE,
    "lock_episode": LOCK_EPISODE,
    "close_episode": CLOSE_EPISODE,
    "episodes_of": EPISODES_OF,
}
