"""The scale-out path stays open: every table says how it would be distributed with
Citus, and its keys allow it (DESIGN.md, "Scale-out path").

A table owned by a clinic is distributed by ``clinic_id``, one owned by a patient by its
patient column; Citus enforces a unique key or a foreign key between two such tables
only when it includes the distribution column (on both sides: the rows live together).
Catalogues are small reference tables, copied to every node; what is left stays on the
coordinator. A new table must be placed here, and a key that would close the path fails
this test, unless it is one of the few known crossings below, each with its way out.
"""

from __future__ import annotations

#: table -> its distribution column ("reference": copied to every node; "local": kept
#: on the coordinator: the platform's and identity's small or sequence-bound tables).
DISTRIBUTION: dict[str, str] = {
    # by clinic
    "doctors": "clinic_id",
    "schedule_templates": "clinic_id",
    "schedule_exceptions": "clinic_id",
    "referrals": "clinic_id",
    "appointments": "clinic_id",
    "appointment_units": "clinic_id",
    "event_outbox": "clinic_id",
    "active_visits": "clinic_id",
    "walk_ins": "clinic_id",
    "relocations": "clinic_id",
    # the dashboard's aggregates of a clinic's days (insights)
    "insight_bookings": "clinic_id",
    "insight_channels": "clinic_id",
    "insight_load": "clinic_id",
    "insight_waits": "clinic_id",
    "insight_earliest": "clinic_id",
    # by patient
    "patients": "id",
    "waitlist_entries": "patient_id",
    "idempotency_keys": "patient_id",
    "guardian_links": "guardian_id",
    "break_glass_grants": "patient_id",
    "encounters": "patient_id",
    "conditions": "patient_id",
    "observations": "patient_id",
    "allergies": "patient_id",
    "immunizations": "patient_id",
    "ehr_versions": "patient_id",
    "patient_benefits": "patient_id",
    "prescriptions": "patient_id",
    "prescription_periods": "patient_id",
    "dispensings": "patient_id",
    "exam_conclusions": "patient_id",
    "certificates": "patient_id",
    "illness_episodes": "patient_id",
    "school_consents": "patient_id",
    "ambulance_calls": "patient_id",
    "notification_preferences": "patient_id",
    # catalogues
    "specialties": "reference",
    "clinics": "reference",
    "pharmacies": "reference",
    "schools": "reference",
    "ambulance_stations": "reference",
    "drug_catalogues": "reference",
    "signing_keys": "reference",
    "certificate_keys": "reference",
    "public_holidays": "reference",
    # on the coordinator
    "schema_migrations": "local",
    "audit_log": "local",
    "audit_chain_head": "local",
    "staff_accounts": "local",
    "otp_challenges": "local",
    "token_revocations": "local",
    "signin_failures": "local",
    # the integrations' queues: by partner, small, on the coordinator
    "partners": "local",
    "deliveries": "local",
    "routing_failures": "local",
    "inbound_messages": "local",
    "school_journals": "local",
    # the city's aggregates of no clinic (refusals, districts) and the job's runs: small
    "insight_refusals": "local",
    "insight_district_earliest": "local",
    "insight_runs": "local",
}

#: Keys that cross the path today, and how they are kept at scale-out.
CROSSINGS: dict[str, str] = {
    "patients_policy_number_key": "a lookup table distributed by policy number keeps the "
    "policy number unique, as Citus's guide does for a second unique column",
    "appointments_patient_id_fkey": "an appointment's patient lives on the patient's node: "
    "the booking's lock of the patient row checks it exists; the key is dropped",
    "referrals_patient_id_fkey": "as appointments_patient_id_fkey",
    "guardian_links_child_id_fkey": "the child's row lives on its own node; linking checks it",
    "appointments_referral_clinic_id_referral_id_fkey": "a referral issued by one clinic is "
    "used at another: the booking takes it (an update on the issuing clinic's node) in the "
    "transaction that books",
    "staff_accounts_clinic_id_doctor_id_fkey": "staff accounts stay on the coordinator; a "
    "doctor's account is checked against the registry when it is made",
    "signing_keys_clinic_id_doctor_id_fkey": "a doctor's key is a small reference table "
    "copied to every node; the key is issued by the doctor's own signature (her row checked "
    "then) and a doctor is never deleted, so the key is dropped",
    "waitlist_offer_fk": "the offer's appointment lives on its clinic's node; the offer is "
    "made and ended in the transaction that holds both rows",
    "walk_ins_patient_id_fkey": "as appointments_patient_id_fkey: the registrar's page finds "
    "the patient before queueing her",
    "relocations_patient_id_fkey": "as appointments_patient_id_fkey: the moved appointment's "
    "row, locked by the move, names the patient",
    "relocations_offer_clinic_id_offer_appointment_id_fkey": "the offer may be at another "
    "clinic: made in the transaction that holds both rows, as waitlist_offer_fk",
}

KEYS = """
SELECT c.conname, c.contype::text AS contype, c.conrelid::regclass::text AS source,
       c.confrelid::regclass::text AS target,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k (num, pos)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num
              ORDER BY k.pos) AS columns,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k (num, pos)
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num
              ORDER BY k.pos) AS referenced
  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
 WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f')
"""

UNIQUE_INDEXES = """
SELECT i.indexrelid::regclass::text AS name, i.indrelid::regclass::text AS source,
       ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) AS k (num)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num) AS columns
  FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = 'public' AND i.indisunique
"""

TABLES = """
SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind = 'r'
"""


def closed_paths(keys, indexes) -> list[str]:
    """The keys that a distribution by :data:`DISTRIBUTION` could not enforce."""
    found = []

    def column(table: str) -> str | None:
        kind = DISTRIBUTION[table]
        return None if kind in ("reference", "local") else kind

    for index in indexes:  # primary keys, unique constraints and unique indexes alike
        by = column(index["source"])
        if by is not None and by not in index["columns"]:
            found.append(f"{index['name']}: unique without {index['source']}.{by}")
    for key in keys:
        if key["contype"] != "f":
            continue
        source, target = key["source"], key["target"]
        by, to = column(source), column(target)
        if DISTRIBUTION[target] == "reference":
            continue  # a reference table is on every node
        if by is None and to is None:
            continue  # both on the coordinator
        pairs = dict(zip(key["columns"], key["referenced"], strict=True))
        if by is None or to is None or pairs.get(by) != to:
            found.append(f"{key['conname']}: {source} -> {target} not on the same column")
    return found


async def test_every_table_is_placed(db):
    tables = {r["relname"] for r in await db.fetch(TABLES)}
    assert tables - set(DISTRIBUTION) == set(), "place the new table in DISTRIBUTION"
    assert set(DISTRIBUTION) - tables == set(), "a table that is gone is still placed"


async def test_every_key_keeps_its_distribution_column(db):
    found = closed_paths(await db.fetch(KEYS), await db.fetch(UNIQUE_INDEXES))
    unknown = [line for line in found if line.split(":")[0] not in CROSSINGS]
    assert unknown == [], "a key closes the scale-out path: add its distribution column"
    gone = set(CROSSINGS) - {line.split(":")[0] for line in found}
    assert gone == set(), "a crossing no longer exists: take it off the list"


async def test_a_key_without_its_distribution_column_is_found(db):
    await db.execute("CREATE UNIQUE INDEX appointments_by_time_once ON appointments (starts_at)")
    await db.execute(
        "ALTER TABLE schedule_exceptions ADD CONSTRAINT exceptions_by_doctor_id "
        "FOREIGN KEY (doctor_id, clinic_id) REFERENCES doctors (clinic_id, id)"
    )
    found = closed_paths(await db.fetch(KEYS), await db.fetch(UNIQUE_INDEXES))
    assert "appointments_by_time_once: unique without appointments.clinic_id" in found
    assert any(line.startswith("exceptions_by_doctor_id:") for line in found), found
