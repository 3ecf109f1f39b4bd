"""The only code of the record that runs SQL: rows in, the record's Structs out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg
import msgspec

from ehr import codes
from ehr import queries as q
from ehr.model import (
    Allergy,
    Condition,
    DiagnosisIn,
    Encounter,
    Immunization,
    Measured,
    Observation,
    Protocol,
    Resource,
    Version,
    VisitDraft,
)
from imias.platform.db import Executor

Row = asyncpg.Record
FAR_FUTURE = datetime(9999, 1, 1).astimezone()
NO_ID = 2**63 - 1


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def condition_of(row: Row, lang: str = "ru") -> Condition:
    found = codes.diagnosis(row["code"])
    return Condition(
        id=row["id"],
        patient_id=row["patient_id"],
        encounter_id=row["encounter_id"],
        clinic_id=row["clinic_id"],
        code=row["code"],
        title=found.title(lang) if found else row["code"],
        category=row["category"],
        rank=row["rank"],
        course=row["course"],
        clinical_status=row["clinical_status"],
        verification_status=row["verification_status"],
        onset=row["onset"],
        abatement=row["abatement"],
        note=row["note"],
        recorded_at=row["recorded_at"],
        author_id=row["author_id"],
        version=row["version"],
        restricted=row["restricted"] is not None,
    )


def observation_of(row: Row, lang: str = "ru") -> Observation:
    measure = codes.measure(row["code"])
    return Observation(
        id=row["id"],
        patient_id=row["patient_id"],
        encounter_id=row["encounter_id"],
        clinic_id=row["clinic_id"],
        code=row["code"],
        name=measure.name(lang) if measure else row["code"],
        category=row["category"],
        value=float(row["value"]),
        unit=row["unit"],
        low=_float(row["low"]),
        high=_float(row["high"]),
        interpretation=row["interpretation"],
        status=row["status"],
        effective_at=row["effective_at"],
        author_id=row["author_id"],
        version=row["version"],
    )


def allergy_of(row: Row, lang: str = "ru") -> Allergy:
    substance = codes.substances().get(row["substance"])
    return Allergy(
        id=row["id"],
        patient_id=row["patient_id"],
        encounter_id=row["encounter_id"],
        clinic_id=row["clinic_id"],
        substance=row["substance"],
        substance_name=substance.name(lang) if substance else row["substance"],
        substance_system=substance.system if substance else codes.SUBSTANCE_SYSTEM,
        category=row["category"],
        criticality=row["criticality"],
        reaction=row["reaction"],
        severity=row["severity"],
        clinical_status=row["clinical_status"],
        verification_status=row["verification_status"],
        onset=row["onset"],
        recorded_at=row["recorded_at"],
        author_id=row["author_id"],
        version=row["version"],
    )


def immunization_of(row: Row, lang: str = "ru") -> Immunization:
    vaccine = codes.vaccines().get(row["vaccine"])
    return Immunization(
        id=row["id"],
        patient_id=row["patient_id"],
        encounter_id=row["encounter_id"],
        clinic_id=row["clinic_id"],
        vaccine=row["vaccine"],
        vaccine_name=vaccine.name(lang) if vaccine else row["vaccine"],
        atc=vaccine.atc if vaccine else "",
        dose_number=row["dose_number"],
        occurred_on=row["occurred_on"],
        lot=row["lot"],
        status=row["status"],
        recorded_at=row["recorded_at"],
        author_id=row["author_id"],
        version=row["version"],
    )


def encounter_of(
    row: Row,
    diagnoses: Sequence[Condition] = (),
    vitals: Sequence[Observation] = (),
    *,
    amended_reason: str | None = None,
) -> Encounter:
    protocol = row["protocol"]
    draft = row["draft"]
    return Encounter(
        id=row["id"],
        patient_id=row["patient_id"],
        clinic_id=row["clinic_id"],
        clinic_name=row["clinic_name"],
        doctor_id=row["doctor_id"],
        doctor_name=row["doctor_name"] or None,
        specialty=row["specialty"],
        appointment_id=row["appointment_id"],
        kind=row["kind"],
        status=row["status"],
        started_at=row["started_at"],
        signed_at=row["signed_at"],
        version=row["version"],
        protocol=None if protocol is None else msgspec.json.decode(protocol, type=Protocol),
        diagnoses=list(diagnoses),
        vitals=list(vitals),
        restricted=row["restricted"] is not None,
        draft=None if draft is None else msgspec.json.decode(draft, type=VisitDraft),
        draft_saved_at=row["draft_saved_at"],
        amended_reason=amended_reason,
    )


# -- encounters ------------------------------------------------------------------------


async def encounter_row(conn: Executor, encounter_id: int) -> Row | None:
    return await conn.fetchrow(q.ENCOUNTER, encounter_id)


async def encounter_of_appointment(
    conn: Executor, patient_id: int, appointment_id: int
) -> Row | None:
    return await conn.fetchrow(q.ENCOUNTER_OF_APPOINTMENT, patient_id, appointment_id)


async def encounter_rows(
    conn: Executor, patient_id: int, limit: int, before: tuple[datetime, int] | None = None
) -> list[Row]:
    at, last = before or (FAR_FUTURE, NO_ID)
    return list(await conn.fetch(q.ENCOUNTERS_OF_PATIENT, patient_id, at, last, limit))


async def lock_encounter(conn: Executor, encounter_id: int) -> Row | None:
    return await conn.fetchrow(q.LOCK_ENCOUNTER, encounter_id)


async def insert_encounter(
    conn: Executor,
    patient_id: int,
    clinic_id: int,
    doctor_id: int | None,
    appointment_id: int | None,
    kind: str,
    at: datetime,
    by: int,
) -> Row | None:
    """The new encounter (None: the appointment has one already)."""
    return await conn.fetchrow(
        q.INSERT_ENCOUNTER, patient_id, clinic_id, doctor_id, appointment_id, kind, at, by
    )


async def insert_ambulance_encounter(
    conn: Executor,
    patient_id: int,
    clinic_id: int,
    started_at: datetime,
    ended_at: datetime,
    protocol: Protocol,
    restricted: str | None,
    at: datetime,
    by: int,
) -> Row:
    """An ambulance call's encounter, finished and signed (no doctor)."""
    row = await conn.fetchrow(
        q.INSERT_AMBULANCE_ENCOUNTER, patient_id, clinic_id, started_at, ended_at,
        msgspec.json.encode(protocol).decode(), restricted, at, by,
    )  # fmt: skip
    assert row is not None
    return row


async def save_draft(
    conn: Executor, patient_id: int, encounter_id: int, draft: VisitDraft, at: datetime
) -> datetime | None:
    saved: datetime | None = await conn.fetchval(
        q.SAVE_DRAFT, patient_id, encounter_id, msgspec.json.encode(draft).decode(), at
    )
    return saved


async def sign(
    conn: Executor,
    encounter_id: int,
    clinic_id: int,
    doctor_id: int,
    at: datetime,
    protocol: Protocol,
    restricted: str | None,
    by: int,
) -> Row | None:
    """The signed encounter, if it was the doctor's and in progress."""
    return await conn.fetchrow(
        q.SIGN,
        encounter_id,
        at,
        msgspec.json.encode(protocol).decode(),
        restricted,
        by,
        clinic_id,
        doctor_id,
    )


async def amend(
    conn: Executor,
    patient_id: int,
    encounter_id: int,
    protocol: Protocol,
    restricted: str | None,
    at: datetime,
    by: int,
) -> int | None:
    version: int | None = await conn.fetchval(
        q.AMEND,
        patient_id,
        encounter_id,
        msgspec.json.encode(protocol).decode(),
        restricted,
        at,
        by,
    )
    return version


async def wrote_for(conn: Executor, patient_id: int, clinic_id: int, doctor_id: int) -> bool:
    return bool(await conn.fetchval(q.WROTE_FOR, patient_id, clinic_id, doctor_id))


async def specialty_of(conn: Executor, clinic_id: int, doctor_id: int) -> str | None:
    code: str | None = await conn.fetchval(q.SPECIALTY_OF_DOCTOR, clinic_id, doctor_id)
    return code


# -- conditions and observations -----------------------------------------------------


async def insert_conditions(
    conn: Executor,
    patient_id: int,
    encounter_id: int | None,
    clinic_id: int,
    author_id: int,
    author_specialty: str | None,
    at: datetime,
    diagnoses: Sequence[DiagnosisIn],
    category: str = "encounter-diagnosis",
) -> list[Row]:
    if not diagnoses:
        return []
    norm = [d.code.strip().upper() for d in diagnoses]
    return list(
        await conn.fetch(
            q.INSERT_CONDITIONS,
            patient_id,
            encounter_id,
            clinic_id,
            author_id,
            author_specialty,
            at,
            norm,
            [category] * len(diagnoses),
            [d.rank for d in diagnoses],
            [d.course for d in diagnoses],
            [d.verification for d in diagnoses],
            [d.onset for d in diagnoses],
            [d.note for d in diagnoses],
            [codes.restricted_class(c) for c in norm],
        )
    )


async def conditions_of_encounters(
    conn: Executor, patient_id: int, encounter_ids: Sequence[int]
) -> list[Row]:
    return list(await conn.fetch(q.CONDITIONS_OF_ENCOUNTERS, patient_id, list(encounter_ids)))


async def condition_row(conn: Executor, condition_id: int) -> Row | None:
    return await conn.fetchrow(q.CONDITION, condition_id)


async def problems(conn: Executor, patient_id: int) -> list[Row]:
    return list(await conn.fetch(q.PROBLEMS, patient_id))


async def update_condition(
    conn: Executor,
    patient_id: int,
    condition_id: int,
    clinical_status: str,
    verification_status: str,
    abatement: date | None,
    note: str | None,
    at: datetime,
    expected_version: int,
) -> Row | None:
    return await conn.fetchrow(
        q.UPDATE_CONDITION,
        patient_id,
        condition_id,
        clinical_status,
        verification_status,
        abatement,
        note,
        at,
        expected_version,
    )


async def insert_observations(
    conn: Executor,
    patient_id: int,
    encounter_id: int | None,
    clinic_id: int,
    restricted: str | None,
    author_id: int,
    at: datetime,
    measured: Sequence[Measured],
) -> list[Row]:
    if not measured:
        return []
    return list(
        await conn.fetch(
            q.INSERT_OBSERVATIONS,
            patient_id,
            encounter_id,
            clinic_id,
            restricted,
            author_id,
            at,
            [m.code for m in measured],
            [m.category for m in measured],
            [m.value for m in measured],
            [m.unit for m in measured],
            [m.low for m in measured],
            [m.high for m in measured],
            [m.interpretation for m in measured],
            [m.effective_at for m in measured],
        )
    )


async def observations_of_encounters(
    conn: Executor, patient_id: int, encounter_ids: Sequence[int]
) -> list[Row]:
    return list(await conn.fetch(q.OBSERVATIONS_OF_ENCOUNTERS, patient_id, list(encounter_ids)))


async def observation_row(conn: Executor, observation_id: int) -> Row | None:
    return await conn.fetchrow(q.OBSERVATION, observation_id)


async def results(conn: Executor, patient_id: int, per_code: int) -> list[Row]:
    return list(await conn.fetch(q.RESULTS, patient_id, per_code))


async def observations_of_code(
    conn: Executor,
    patient_id: int,
    code: str,
    limit: int,
    before: tuple[datetime, int] | None = None,
) -> list[Row]:
    at, last = before or (FAR_FUTURE, NO_ID)
    return list(await conn.fetch(q.OBSERVATIONS_OF_CODE, patient_id, code, at, last, limit))


# -- allergies and immunizations ---------------------------------------------------


async def insert_allergy(conn: Executor, *args: Any) -> Row:
    row: Row | None = await conn.fetchrow(q.INSERT_ALLERGY, *args)
    assert row is not None
    return row


async def allergies(conn: Executor, patient_id: int) -> list[Row]:
    return list(await conn.fetch(q.ALLERGIES, patient_id))


async def allergy_row(conn: Executor, allergy_id: int) -> Row | None:
    return await conn.fetchrow(q.ALLERGY, allergy_id)


async def insert_immunization(conn: Executor, *args: Any) -> Row:
    row: Row | None = await conn.fetchrow(q.INSERT_IMMUNIZATION, *args)
    assert row is not None
    return row


async def immunizations(conn: Executor, patient_id: int) -> list[Row]:
    return list(await conn.fetch(q.IMMUNIZATIONS, patient_id))


async def immunization_row(conn: Executor, immunization_id: int) -> Row | None:
    return await conn.fetchrow(q.IMMUNIZATION, immunization_id)


MARK_IN_ERROR: dict[Resource, str] = {
    "Condition": q.MARK_CONDITION_IN_ERROR,
    "Observation": q.MARK_OBSERVATION_IN_ERROR,
    "AllergyIntolerance": q.MARK_ALLERGY_IN_ERROR,
    "Immunization": q.MARK_IMMUNIZATION_IN_ERROR,
}

ROW_OF: dict[Resource, str] = {
    "Condition": q.CONDITION,
    "Observation": q.OBSERVATION,
    "AllergyIntolerance": q.ALLERGY,
    "Immunization": q.IMMUNIZATION,
}


async def fact_row(conn: Executor, resource: Resource, resource_id: int) -> Row | None:
    return await conn.fetchrow(ROW_OF[resource], resource_id)


async def mark_in_error(
    conn: Executor, resource: Resource, patient_id: int, resource_id: int, at: datetime
) -> Row | None:
    return await conn.fetchrow(MARK_IN_ERROR[resource], patient_id, resource_id, at)


# -- versions ------------------------------------------------------------------------


async def write_versions(
    conn: Executor,
    patient_id: int,
    by: int,
    at: datetime,
    reason: str | None,
    items: Sequence[tuple[Resource, int, int, msgspec.Struct]],
) -> None:
    """Keep each (resource, id, version, state) as written."""
    if not items:
        return
    await conn.execute(
        q.INSERT_VERSIONS,
        patient_id,
        by,
        at,
        reason,
        [i[0] for i in items],
        [i[1] for i in items],
        [i[2] for i in items],
        [msgspec.json.encode(i[3]).decode() for i in items],
    )


async def versions(conn: Executor, resource: Resource, resource_id: int) -> list[Version]:
    return [
        Version(
            resource=r["resource"],
            resource_id=r["resource_id"],
            version=r["version"],
            written_by=r["written_by"],
            written_at=r["written_at"],
            reason=r["reason"],
        )
        for r in await conn.fetch(q.VERSIONS, resource, resource_id)
    ]


async def version_body(
    conn: Executor, resource: Resource, resource_id: int, version: int
) -> Row | None:
    return await conn.fetchrow(q.VERSION_BODY, resource, resource_id, version)


async def last_reason(
    conn: Executor, patient_id: int, resource: Resource, resource_id: int, version: int
) -> str | None:
    reason: str | None = await conn.fetchval(
        q.LAST_REASON, patient_id, resource, resource_id, version
    )
    return reason


# -- FHIR (ehr.fhir): the registry's entries and the searches -------------------------

#: The resources FHIR searches, with the record's own.
Searched = Resource | Literal["DocumentReference"]


class Search(msgspec.Struct, frozen=True, kw_only=True):
    """A FHIR search of one patient's rows, newest first: the date range [since, until)
    (instants; ``since_day``/``until_day``: the same range in the city's days, for a
    resource dated by day), filters, and the keyset ``after`` (the last row of the page
    before: its date or instant, and its id). ``limit`` rows at most."""

    patient_id: int
    since: datetime | None = None
    until: datetime | None = None
    since_day: date | None = None
    until_day: date | None = None
    code: str | None = None
    category: str | None = None
    status: str | None = None
    after: tuple[datetime | date, int] | None = None
    limit: int = 20


def _after(search: Search, far: datetime | date) -> tuple[Any, int]:
    return search.after or (far, NO_ID)


async def fhir_search(conn: Executor, resource: Searched, s: Search) -> list[Row]:
    """The rows of one page of a FHIR search (``s.limit`` at most)."""
    if resource == "Immunization":
        at, last = _after(s, date.max)
        return list(
            await conn.fetch(
                q.FHIR_IMMUNIZATIONS, s.patient_id, s.since_day, s.until_day, s.code, at, last,
                s.limit,
            )
        )  # fmt: skip
    at, last = _after(s, FAR_FUTURE)
    head = (s.patient_id, s.since, s.until)
    if resource in ("Encounter", "DocumentReference"):
        sql = q.FHIR_ENCOUNTERS if resource == "Encounter" else q.FHIR_DOCUMENTS
        return list(await conn.fetch(sql, *head, at, last, s.limit))
    if resource == "Observation":
        return list(
            await conn.fetch(q.FHIR_OBSERVATIONS, *head, s.code, s.category, at, last, s.limit)
        )
    sql = q.FHIR_CONDITIONS if resource == "Condition" else q.FHIR_ALLERGIES
    return list(await conn.fetch(sql, *head, s.code, s.category, s.status, at, last, s.limit))


class PatientEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A patient of the registry, as FHIR's Patient shows them."""

    id: int
    policy_number: str
    family_name: str
    given_name: str
    patronymic: str | None
    birth_date: date
    sex: str
    phone: str | None
    attached_clinic_id: int | None


class PractitionerEntry(msgspec.Struct, frozen=True, kw_only=True):
    clinic_id: int
    id: int
    family_name: str
    given_name: str
    patronymic: str | None
    active: bool
    specialty: str
    specialty_ru: str
    specialty_en: str


class OrganizationEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    address: str
    district: str
    kind: str


async def fhir_patient(conn: Executor, patient_id: int) -> PatientEntry | None:
    row = await conn.fetchrow(q.FHIR_PATIENT, patient_id)
    if row is None:
        return None
    return msgspec.convert(
        {**dict(row), "policy_number": row["policy_number"].strip()}, PatientEntry
    )


async def fhir_practitioners(
    conn: Executor,
    clinic_id: int | None,
    doctor_id: int | None,
    after: tuple[int, int] | None,
    limit: int,
) -> list[PractitionerEntry]:
    c, d = after or (0, 0)
    rows = await conn.fetch(q.FHIR_PRACTITIONERS, clinic_id, doctor_id, c, d, limit)
    return [msgspec.convert(dict(r), PractitionerEntry) for r in rows]


async def fhir_organizations(
    conn: Executor, clinic_id: int | None, after: int | None, limit: int
) -> list[OrganizationEntry]:
    rows = await conn.fetch(q.FHIR_ORGANIZATIONS, clinic_id, after or 0, limit)
    return [msgspec.convert(dict(r), OrganizationEntry) for r in rows]
