"""The SQL of FHIR scheduling (everything else goes through the booking's use cases):
named here so that a test prepares each against the migrated database."""

from __future__ import annotations

# Whose appointment this is ($1 the id; a hold that expired is no appointment).
APPOINTMENT_OWNER = """
SELECT patient_id, clinic_id FROM appointments WHERE id = $1 AND status <> 'expired'
"""

QUERIES = {"fhir_appointment_owner": APPOINTMENT_OWNER}
