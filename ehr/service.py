"""The medical record's use cases: a doctor's visit (open, draft, sign, amend), the facts
written beside it (allergies, immunizations, entered-in-error), and the reads (the card,
the visits, a measure's results, the versions), each checked by :mod:`ehr.access`,
masked for restricted entries and written to the audit log in its own transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import msgspec

from ehr import codes
from ehr import repository as repo
from ehr.access import CareLinks, Medications, Reader, RecordAccess, not_found
from ehr.model import (
    Allergy,
    AllergyIn,
    AmbulanceCall,
    Amendment,
    CardSummary,
    Condition,
    DiagnosisIn,
    Encounter,
    EncounterBrief,
    Immunization,
    ImmunizationIn,
    Observation,
    PatientBrief,
    PrescribingContext,
    Resource,
    SignOff,
    Version,
    VisitDraft,
    VitalIn,
)
from ehr.rules import (
    CLOCK_SKEW,
    RESTRICTED_TITLE,
    check_diagnoses,
    check_protocol,
    diagnosis_key,
    diagnosis_key_of_row,
    mask_condition,
    mask_observation,
    measured,
    restricted_of,
    restricted_of_codes,
    trends,
    unprocessable,
)
from imias.identity import Identity, Principal
from imias.platform.audit import access_var, record, record_many
from imias.platform.db import Connection, Executor
from imias.platform.problems import ProblemError
from imias.registry import patients

S = TypeVar("S", bound=msgspec.Struct)

#: How many visits and results per measure the card shows.
CARD_VISITS = 10
TREND_POINTS = 12


class Records:
    """The record's use cases over the pool (``clock``: the server's instant, UTC)."""

    def __init__(
        self,
        pool: Any,
        identity: Identity,
        care: CareLinks | None = None,
        clock: Callable[[], datetime] | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.pool = pool
        self.identity = identity
        self.access = RecordAccess(pool, identity, care)
        # The card's current medications: set by the prescriptions domain when it runs.
        self.medications: Medications | None = None
        self.clock = clock or (lambda: datetime.now(UTC))
        # The city's day (a future date is refused against it, never the server's).
        self.today = today or (lambda: self.clock().date())

    # -- helpers -----------------------------------------------------------------------

    async def _author(self, principal: Principal) -> tuple[int, int, str | None]:
        """(doctor, clinic, specialty) of a doctor who writes."""
        if principal.role != "doctor" or principal.doc is None or principal.org is None:
            raise ProblemError(403, "forbidden", "Only a doctor writes in the record.")
        specialty = await self.access.specialty(principal.org, principal.doc)
        return principal.doc, principal.org, specialty

    async def _own_encounter(self, conn: Executor, principal: Principal, encounter_id: int) -> Any:
        """The encounter, locked, if the calling doctor may write in it."""
        row = await repo.lock_encounter(conn, encounter_id)
        if row is None or row["clinic_id"] != principal.org:
            raise not_found("encounter")
        if row["doctor_id"] != principal.doc:
            raise ProblemError(403, "forbidden", "This is another doctor's visit.")
        return row

    def _encounter(
        self,
        row: Any,
        reader: Reader,
        conditions: Sequence[Any],
        observations: Sequence[Any],
        lang: str,
        amended_reason: str | None = None,
    ) -> Encounter:
        diagnoses = [
            mask_condition(repo.condition_of(c, lang), reader, c["restricted"], lang)
            for c in conditions
        ]
        restricted = row["restricted"]
        sees = reader.sees(restricted, -1) or reader.doctor_id == row["doctor_id"]
        vitals = [
            mask_observation(repo.observation_of(o, lang), reader, None if sees else restricted)
            for o in observations
        ]
        encounter = repo.encounter_of(row, diagnoses, vitals, amended_reason=amended_reason)
        if reader.doctor_id != row["doctor_id"] or reader.role != "doctor":
            encounter = msgspec.structs.replace(encounter, draft=None, draft_saved_at=None)
        if not sees:
            encounter = msgspec.structs.replace(encounter, protocol=None, hidden=True)
        return encounter

    async def _full(
        self, conn: Executor, rows: Sequence[Any], reader: Reader, lang: str
    ) -> list[Encounter]:
        if not rows:
            return []
        patient_id = rows[0]["patient_id"]
        ids = [r["id"] for r in rows]
        conditions = await repo.conditions_of_encounters(conn, patient_id, ids)
        observations = await repo.observations_of_encounters(conn, patient_id, ids)
        by_c: dict[int, list[Any]] = {}
        by_o: dict[int, list[Any]] = {}
        for c in conditions:
            by_c.setdefault(c["encounter_id"], []).append(c)
        for o in observations:
            by_o.setdefault(o["encounter_id"], []).append(o)
        out = []
        for r in rows:
            reason = None
            if r["version"] > 1:
                reason = await repo.last_reason(
                    conn, patient_id, "Encounter", r["id"], r["version"]
                )
            out.append(
                self._encounter(
                    r, reader, by_c.get(r["id"], []), by_o.get(r["id"], []), lang, reason
                )
            )
        return out

    # -- the doctor's visit -----------------------------------------------------------

    async def open_visit(
        self,
        principal: Principal,
        *,
        appointment_id: int | None = None,
        patient_id: int | None = None,
        kind: str = "outpatient",
        lang: str = "ru",
    ) -> Encounter:
        """The encounter of the doctor's appointment (made on first opening), or a new
        home visit for a patient she may read."""
        doctor, clinic, specialty = await self._author(principal)
        now = self.clock()
        reader: Reader
        if appointment_id is not None:
            care = self.access.care
            parties = None if care is None else await care.appointment(appointment_id)
            if parties is None or parties.clinic_id != clinic:
                raise not_found("appointment")
            if parties.doctor_id != doctor:
                raise ProblemError(403, "forbidden", "This appointment is another doctor's.")
            # A patient marked absent who comes late is seen all the same.
            if parties.status == "cancelled":
                raise ProblemError(409, "appointment_cancelled", "This appointment is cancelled.")
            patient_id = parties.patient_id
            kind = "outpatient"
            # Her own appointment: she reads the patient (no other rule to ask).
            reader = Reader("doctor", principal.subject, doctor, clinic, specialty)
        elif patient_id is None:
            raise ProblemError(400, "patient_id_required", "Name the appointment or the patient.")
        else:
            reader = await self.access.reader(principal, patient_id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.insert_encounter(
                conn, patient_id, clinic, doctor, appointment_id, kind, now, principal.subject
            )
            if row is not None:  # new: nothing written in it yet
                await record(conn, "create", "encounter", row["id"], patient_id)
                return self._encounter(row, reader, [], [], lang)
            assert appointment_id is not None
            row = await repo.encounter_of_appointment(conn, patient_id, appointment_id)
            assert row is not None
            return (await self._full(conn, [row], reader, lang))[0]

    async def save_draft(
        self, principal: Principal, encounter_id: int, draft: VisitDraft
    ) -> datetime:
        await self._author(principal)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._own_encounter(conn, principal, encounter_id)
            saved = await repo.save_draft(
                conn, row["patient_id"], encounter_id, draft, self.clock()
            )
            if saved is None:
                raise ProblemError(
                    409, "encounter_signed", "This visit is signed; amend it instead."
                )
            await record(conn, "draft", "encounter", encounter_id, row["patient_id"])
            return saved

    async def sign(
        self, principal: Principal, encounter_id: int, signoff: SignOff, lang: str = "ru"
    ) -> Encounter:
        """Make the visit final: its protocol, diagnoses and vitals in one transaction."""
        doctor, clinic, specialty = await self._author(principal)
        now = self.clock()
        check_protocol(signoff.protocol)
        check_diagnoses(signoff.diagnoses, self.today())
        vitals = measured(signoff.vitals, now)
        restricted = restricted_of(signoff.diagnoses)
        async with self.pool.acquire() as conn, conn.transaction():
            full = await repo.sign(
                conn, encounter_id, clinic, doctor, now, signoff.protocol, restricted,
                principal.subject,
            )  # fmt: skip
            if full is None:  # why not: not hers (404, 403) or signed (409)
                await self._own_encounter(conn, principal, encounter_id)
                raise ProblemError(
                    409, "encounter_signed", "This visit is signed; amend it instead."
                )
            patient_id = full["patient_id"]
            conditions = await repo.insert_conditions(
                conn, patient_id, encounter_id, clinic, principal.subject, specialty, now,
                signoff.diagnoses,
            )  # fmt: skip
            observations = await repo.insert_observations(
                conn, patient_id, encounter_id, clinic, restricted, principal.subject, now, vitals
            )
            encounter = repo.encounter_of(
                full,
                [repo.condition_of(c, lang) for c in conditions],
                [repo.observation_of(o, lang) for o in observations],
            )
            written: list[tuple[Resource, int, int, msgspec.Struct]] = [
                ("Encounter", encounter_id, 1, msgspec.structs.replace(encounter, draft=None))
            ]
            written += [("Condition", c.id, 1, c) for c in encounter.diagnoses]
            written += [("Observation", o.id, 1, o) for o in encounter.vitals]
            await repo.write_versions(conn, patient_id, principal.subject, now, None, written)
            await record(conn, "sign", "encounter", encounter_id, patient_id)
            reader = Reader("doctor", principal.subject, doctor, clinic, specialty)
            return self._encounter(full, reader, conditions, observations, lang)

    async def amend(
        self, principal: Principal, encounter_id: int, amendment: Amendment, lang: str = "ru"
    ) -> Encounter:
        """A signed visit's correction, with its reason; the earlier version stays."""
        doctor, clinic, specialty = await self._author(principal)
        now = self.clock()
        check_protocol(amendment.protocol)
        if amendment.diagnoses is not None:
            check_diagnoses(amendment.diagnoses, self.today())
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._own_encounter(conn, principal, encounter_id)
            patient_id = row["patient_id"]
            if row["status"] != "finished":
                raise ProblemError(
                    409, "encounter_not_signed", "Sign the visit before amending it."
                )
            existing = await repo.conditions_of_encounters(conn, patient_id, [encounter_id])
            written: list[tuple[Resource, int, int, msgspec.Struct]] = []
            if amendment.diagnoses is None:
                codes_now = [c["code"] for c in existing]
            else:
                wanted = {diagnosis_key(d) for d in amendment.diagnoses}
                kept = {diagnosis_key_of_row(c) for c in existing}
                for c in existing:
                    if diagnosis_key_of_row(c) not in wanted:
                        gone = await repo.mark_in_error(conn, "Condition", patient_id, c["id"], now)
                        if gone is not None:
                            written.append(
                                (
                                    "Condition",
                                    gone["id"],
                                    gone["version"],
                                    repo.condition_of(gone, lang),
                                )
                            )
                new = [d for d in amendment.diagnoses if diagnosis_key(d) not in kept]
                for c in await repo.insert_conditions(
                    conn, patient_id, encounter_id, clinic, principal.subject, specialty, now, new
                ):
                    written.append(("Condition", c["id"], 1, repo.condition_of(c, lang)))
                codes_now = [d.code for d in amendment.diagnoses]
            restricted = restricted_of_codes(codes_now)
            version = await repo.amend(
                conn,
                patient_id,
                encounter_id,
                amendment.protocol,
                restricted,
                now,
                principal.subject,
            )
            assert version is not None
            reader = Reader("doctor", principal.subject, doctor, clinic, specialty)
            full = await repo.encounter_row(conn, encounter_id)
            assert full is not None
            conditions = await repo.conditions_of_encounters(conn, patient_id, [encounter_id])
            observations = await repo.observations_of_encounters(conn, patient_id, [encounter_id])
            state = repo.encounter_of(
                full,
                [repo.condition_of(c, lang) for c in conditions],
                [repo.observation_of(o, lang) for o in observations],
                amended_reason=amendment.reason,
            )
            written.append(
                ("Encounter", encounter_id, version, msgspec.structs.replace(state, draft=None))
            )
            await repo.write_versions(
                conn, patient_id, principal.subject, now, amendment.reason, written
            )
            await record(
                conn, "amend", "encounter", encounter_id, patient_id, reason=amendment.reason
            )
            return self._encounter(full, reader, conditions, observations, lang, amendment.reason)

    async def record_ambulance_call(
        self, conn: Connection, call: AmbulanceCall, *, author_id: int, lang: str = "ru"
    ) -> Encounter:
        """An ambulance call as a finished encounter of the patient's record, in the
        caller's transaction on ``conn`` (the inbound message's, so that a message is
        recorded once): its protocol, diagnoses (ICD-10) and vitals (LOINC) checked as a
        visit's signature checks them. ``author_id``: the staff account that writes it
        (the station's system account)."""
        now = self.clock()
        if call.ended_at < call.started_at:
            raise unprocessable("bad_period", "The call ends before it starts.")
        if call.ended_at > now + CLOCK_SKEW:
            raise unprocessable("date_in_future", "The call is dated in the future.")
        check_protocol(call.protocol)
        check_diagnoses(call.diagnoses, self.today())
        vitals = measured(call.vitals, now)
        restricted = restricted_of(call.diagnoses)
        patient_id, clinic = call.patient_id, call.clinic_id
        async with conn.transaction():
            row = await repo.insert_ambulance_encounter(
                conn, patient_id, clinic, call.started_at, call.ended_at, call.protocol,
                restricted, now, author_id,
            )  # fmt: skip
            encounter_id = row["id"]
            conditions = await repo.insert_conditions(
                conn, patient_id, encounter_id, clinic, author_id, None, now, call.diagnoses
            )
            observations = await repo.insert_observations(
                conn, patient_id, encounter_id, clinic, restricted, author_id, now, vitals
            )
            encounter = repo.encounter_of(
                row,
                [repo.condition_of(c, lang) for c in conditions],
                [repo.observation_of(o, lang) for o in observations],
            )
            written: list[tuple[Resource, int, int, msgspec.Struct]] = [
                ("Encounter", encounter_id, 1, encounter)
            ]
            written += [("Condition", c.id, 1, c) for c in encounter.diagnoses]
            written += [("Observation", o.id, 1, o) for o in encounter.vitals]
            await repo.write_versions(conn, patient_id, author_id, now, None, written)
            await record(conn, "create", "encounter", encounter_id, patient_id)
        return encounter

    # -- facts beside the visit -------------------------------------------------------

    async def _writable_patient(
        self, principal: Principal, patient_id: int, encounter_id: int | None
    ) -> Reader:
        await self._author(principal)
        reader = await self.access.reader(principal, patient_id)
        if encounter_id is not None:
            row = await repo.encounter_row(self.pool, encounter_id)
            if row is None or row["patient_id"] != patient_id or row["clinic_id"] != principal.org:
                raise not_found("encounter")
        return reader

    async def add_allergy(
        self, principal: Principal, patient_id: int, allergy: AllergyIn, lang: str = "ru"
    ) -> Allergy:
        substance = codes.substances().get(allergy.substance)
        if substance is None:
            raise unprocessable(
                "unknown_code", f"{allergy.substance!r} is not a substance IMIAS knows."
            )
        if allergy.onset is not None and allergy.onset > self.today():
            raise unprocessable("date_in_future", "The allergy's onset is in the future.")
        await self._writable_patient(principal, patient_id, allergy.encounter_id)
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.insert_allergy(
                conn, patient_id, allergy.encounter_id, principal.org, substance.code,
                substance.category, allergy.criticality, allergy.reaction, allergy.severity,
                allergy.verification, allergy.onset, principal.subject, now,
            )  # fmt: skip
            out = repo.allergy_of(row, lang)
            await repo.write_versions(
                conn,
                patient_id,
                principal.subject,
                now,
                None,
                [("AllergyIntolerance", out.id, 1, out)],
            )
            await record(conn, "create", "allergy", out.id, patient_id)
            return out

    async def add_immunization(
        self, principal: Principal, patient_id: int, given: ImmunizationIn, lang: str = "ru"
    ) -> Immunization:
        vaccine = codes.vaccines().get(given.vaccine)
        if vaccine is None:
            raise unprocessable("unknown_code", f"{given.vaccine!r} is not a vaccine IMIAS knows.")
        if given.occurred_on > self.today():
            raise unprocessable("date_in_future", "The immunization is dated in the future.")
        if given.dose_number > vaccine.doses:
            raise unprocessable("bad_dose", f"{vaccine.name_en} has at most {vaccine.doses} doses.")
        await self._writable_patient(principal, patient_id, given.encounter_id)
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.insert_immunization(
                conn, patient_id, given.encounter_id, principal.org, vaccine.code,
                given.dose_number, given.occurred_on, given.lot, principal.subject, now,
            )  # fmt: skip
            out = repo.immunization_of(row, lang)
            await repo.write_versions(
                conn, patient_id, principal.subject, now, None, [("Immunization", out.id, 1, out)]
            )
            await record(conn, "create", "immunization", out.id, patient_id)
            return out

    async def add_facts(
        self,
        principal: Principal,
        patient_id: int,
        *,
        diagnoses: Sequence[DiagnosisIn] = (),
        vitals: Sequence[VitalIn] = (),
        category: str = "encounter-diagnosis",
        encounter_id: int | None = None,
        lang: str = "ru",
    ) -> tuple[list[Condition], list[Observation]]:
        """Conditions and observations written outside a visit's signature (FHIR create)."""
        _, clinic, specialty = await self._author(principal)
        now = self.clock()
        check_diagnoses(diagnoses, self.today())
        measures = measured(vitals, now)
        await self._writable_patient(principal, patient_id, encounter_id)
        async with self.pool.acquire() as conn, conn.transaction():
            conditions = [
                repo.condition_of(r, lang)
                for r in await repo.insert_conditions(
                    conn, patient_id, encounter_id, clinic, principal.subject, specialty, now,
                    diagnoses, category,
                )
            ]  # fmt: skip
            observations = [
                repo.observation_of(r, lang)
                for r in await repo.insert_observations(
                    conn, patient_id, encounter_id, clinic, None, principal.subject, now, measures
                )
            ]
            await repo.write_versions(
                conn, patient_id, principal.subject, now, None,
                [("Condition", c.id, 1, c) for c in conditions]
                + [("Observation", o.id, 1, o) for o in observations],
            )  # fmt: skip
            for c in conditions:
                await record(conn, "create", "condition", c.id, patient_id)
            for o in observations:
                await record(conn, "create", "observation", o.id, patient_id)
            return conditions, observations

    async def update_condition(
        self,
        principal: Principal,
        condition_id: int,
        expected_version: int,
        *,
        clinical_status: str,
        verification_status: str,
        abatement: date | None,
        note: str | None,
        reason: str | None = None,
        lang: str = "ru",
    ) -> Condition:
        """A condition's status changed (resolved, confirmed...), if still at
        ``expected_version`` (else 412 ``version_conflict``)."""
        await self._author(principal)
        if abatement is not None and abatement > self.today():
            raise unprocessable("date_in_future", "The abatement is in the future.")
        row = await repo.condition_row(self.pool, condition_id)
        if row is None:
            raise not_found("condition")
        await self._writable_patient(principal, row["patient_id"], None)
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            updated = await repo.update_condition(
                conn, row["patient_id"], condition_id, clinical_status, verification_status,
                abatement, note, now, expected_version,
            )  # fmt: skip
            if updated is None:
                raise ProblemError(
                    412, "version_conflict", "The condition changed since you read it."
                )
            out = repo.condition_of(updated, lang)
            await repo.write_versions(
                conn,
                out.patient_id,
                principal.subject,
                now,
                reason,
                [("Condition", out.id, out.version, out)],
            )
            await record(conn, "update", "condition", out.id, out.patient_id, reason=reason)
            return out

    async def mark_in_error(
        self,
        principal: Principal,
        resource: Resource,
        resource_id: int,
        reason: str,
        lang: str = "ru",
    ) -> int:
        """Mark a wrong entry entered-in-error (it stays, marked); its new version."""
        await self._author(principal)
        row = await repo.fact_row(self.pool, resource, resource_id)
        if row is None or row["clinic_id"] != principal.org:
            raise not_found(resource)
        await self._writable_patient(principal, row["patient_id"], None)
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            marked = await repo.mark_in_error(conn, resource, row["patient_id"], resource_id, now)
            if marked is None:
                raise ProblemError(
                    409, "already_in_error", "This entry is already marked entered-in-error."
                )
            state: msgspec.Struct = {
                "Condition": repo.condition_of,
                "Observation": repo.observation_of,
                "AllergyIntolerance": repo.allergy_of,
                "Immunization": repo.immunization_of,
            }[resource](marked, lang)
            version: int = marked["version"]
            await repo.write_versions(
                conn,
                row["patient_id"],
                principal.subject,
                now,
                reason,
                [(resource, resource_id, version, state)],
            )
            await record(
                conn,
                "entered_in_error",
                resource.lower(),
                resource_id,
                row["patient_id"],
                reason=reason,
            )
            return version

    # -- reads ------------------------------------------------------------------------

    async def card(self, principal: Principal, patient_id: int, lang: str = "ru") -> CardSummary:
        """The card at a glance: problems, allergies, the last visits, the latest results
        with their trend, immunizations."""
        reader = await self.access.reader(principal, patient_id)
        return await self._card(reader, patient_id, lang, ("medical_record", patient_id, None))

    async def emergency_summary(
        self,
        principal: Principal,
        patient_id: int,
        *,
        call: str,
        reason: str,
        emergency: bool = False,
        lang: str = "ru",
    ) -> tuple[CardSummary, repo.PatientEntry]:
        """An ambulance crew's emergency summary of any patient (the card's facts and the
        registry's entry),
        audited with the call number and the reason. Restricted entries show only as
        existing unless the crew declares an emergency (break-glass: flagged in the
        audit log, shown to the patient)."""
        if principal.role != "ambulance_crew":
            raise ProblemError(403, "forbidden", f"A {principal.role} does not read this.")
        if principal.org is None:
            raise ProblemError(403, "forbidden", "This account is not bound to a station.")
        if not await patients.exists(self.pool, patient_id):
            raise not_found()
        why = f"вызов {call}: {reason}"
        if emergency:
            who = access_var.get()
            if who is not None:
                who.break_glass_reason = why
        reader = Reader("ambulance", principal.subject, None, None, None, emergency)
        card = await self._card(reader, patient_id, lang, ("emergency_summary", call, why))
        entry = await repo.fhir_patient(self.pool, patient_id)
        if entry is None:
            raise not_found()
        return card, entry

    async def _card(
        self,
        reader: Reader,
        patient_id: int,
        lang: str,
        audited: tuple[str, object, str | None],
    ) -> CardSummary:
        resource, resource_id, reason = audited
        async with self.pool.acquire() as conn:
            patient = await patients.card(conn, patient_id)
            if patient is None:
                raise not_found()
            problem_rows = await repo.problems(conn, patient_id)
            allergy_rows = await repo.allergies(conn, patient_id)
            visit_rows = await repo.encounter_rows(conn, patient_id, CARD_VISITS)
            visit_conditions = await repo.conditions_of_encounters(
                conn, patient_id, [r["id"] for r in visit_rows]
            )
            result_rows = await repo.results(conn, patient_id, TREND_POINTS)
            immunization_rows = await repo.immunizations(conn, patient_id)
            await record(conn, "read", resource, resource_id, patient_id, reason=reason)
        hidden = 0
        problems = []
        for r in problem_rows:
            c = mask_condition(repo.condition_of(r, lang), reader, r["restricted"], lang)
            hidden += c.hidden
            problems.append(c)
        by_visit: dict[int, list[str]] = {}
        for v in visit_conditions:
            if reader.sees(v["restricted"], v["author_id"]):
                d = codes.diagnosis(v["code"])
                by_visit.setdefault(v["encounter_id"], []).append(
                    f"{v['code']} {d.title(lang) if d else ''}".strip()
                )
            else:
                hidden += 1
                by_visit.setdefault(v["encounter_id"], []).append(RESTRICTED_TITLE[lang])
        visits = [
            EncounterBrief(
                id=r["id"],
                clinic_name=r["clinic_name"],
                doctor_name=r["doctor_name"] or None,
                specialty=r["specialty"],
                kind=r["kind"],
                status=r["status"],
                started_at=r["started_at"],
                version=r["version"],
                diagnoses=by_visit.get(r["id"], []),
                restricted=r["restricted"] is not None,
            )
            for r in visit_rows
        ]
        results = trends(result_rows, reader, lang)
        medications = (
            [] if self.medications is None else await self.medications.current(patient_id, lang)
        )
        return CardSummary(
            patient=PatientBrief(
                id=patient.id,
                name=patient.name,
                birth_date=patient.birth_date,
                attached_clinic_id=patient.attached_clinic_id,
            ),
            problems=problems,
            allergies=[repo.allergy_of(r, lang) for r in allergy_rows],
            medications=medications,
            visits=visits,
            results=results,
            immunizations=[repo.immunization_of(r, lang) for r in immunization_rows],
            restricted_hidden=hidden,
        )

    async def encounter(
        self, principal: Principal, encounter_id: int, lang: str = "ru"
    ) -> Encounter:
        row = await repo.encounter_row(self.pool, encounter_id)
        if row is None:
            raise not_found("encounter")
        reader = await self._reader_of_row(principal, row["patient_id"])
        async with self.pool.acquire() as conn:
            out = (await self._full(conn, [row], reader, lang))[0]
            await record(conn, "read", "encounter", encounter_id, row["patient_id"])
        return out

    async def _reader_of_row(self, principal: Principal, patient_id: int) -> Reader:
        """A reader of a row found by its id: someone who may not read the patient learns
        nothing of the row (404), a doctor included."""
        try:
            return await self.access.reader(principal, patient_id)
        except ProblemError as exc:
            if principal.role == "patient":
                raise not_found("record") from None
            raise exc

    async def visits(
        self,
        principal: Principal,
        patient_id: int,
        limit: int = 20,
        before: tuple[datetime, int] | None = None,
        lang: str = "ru",
    ) -> list[Encounter]:
        """The patient's visits with their protocols, newest first (keyset paged)."""
        reader = await self.access.reader(principal, patient_id)
        async with self.pool.acquire() as conn:
            rows = await repo.encounter_rows(conn, patient_id, limit, before)
            out = await self._full(conn, rows, reader, lang)
            await record(conn, "read", "encounters", patient_id, patient_id)
        return out

    async def encounter_version(
        self, principal: Principal, encounter_id: int, version: int, lang: str = "ru"
    ) -> Encounter:
        """A signed visit as it was at ``version`` (the earlier text of an amended one)."""
        state, reader = await self.version_of(
            principal, "Encounter", encounter_id, version, Encounter
        )
        diagnoses = [
            mask_condition(c, reader, codes.restricted_class(c.code or ""), lang)
            for c in state.diagnoses
        ]
        restricted = restricted_of_codes([c.code for c in state.diagnoses if c.code])
        sees = reader.sees(restricted, -1) or reader.doctor_id == state.doctor_id
        state = msgspec.structs.replace(state, diagnoses=diagnoses)
        if not sees:
            state = msgspec.structs.replace(state, protocol=None, vitals=[], hidden=True)
        return state

    async def version_of(
        self,
        principal: Principal,
        resource: Resource,
        resource_id: int,
        version: int,
        kind: type[S],
    ) -> tuple[S, Reader]:
        """A resource's state at ``version``, and the reader (audited)."""
        async with self.pool.acquire() as conn:
            row = await repo.version_body(conn, resource, resource_id, version)
            if row is None:
                raise not_found("version")
            reader = await self._reader_of_row(principal, row["patient_id"])
            await record(
                conn, "read", resource.lower(), f"{resource_id}/{version}", row["patient_id"]
            )
        return msgspec.json.decode(row["body"], type=kind), reader

    async def versions(
        self, principal: Principal, resource: Resource, resource_id: int
    ) -> list[Version]:
        row = (
            await repo.fact_row(self.pool, resource, resource_id)
            if resource != "Encounter"
            else await repo.encounter_row(self.pool, resource_id)
        )
        if row is None:
            raise not_found(resource)
        await self._reader_of_row(principal, row["patient_id"])
        async with self.pool.acquire() as conn:
            found = await repo.versions(conn, resource, resource_id)
            await record(
                conn, "read", f"{resource.lower()}_history", resource_id, row["patient_id"]
            )
        return found

    async def results_of(
        self,
        principal: Principal,
        patient_id: int,
        code: str,
        limit: int = 50,
        before: tuple[datetime, int] | None = None,
        lang: str = "ru",
    ) -> list[Observation]:
        """A measure's results, newest first (a chart, a FHIR search)."""
        reader = await self.access.reader(principal, patient_id)
        async with self.pool.acquire() as conn:
            rows = await repo.observations_of_code(conn, patient_id, code, limit, before)
            await record(conn, "read", "observations", code, patient_id)
        return [
            mask_observation(repo.observation_of(r, lang), reader, r["restricted"]) for r in rows
        ]

    async def allergies(
        self, principal: Principal, patient_id: int, lang: str = "ru"
    ) -> list[Allergy]:
        await self.access.reader(principal, patient_id)
        async with self.pool.acquire() as conn:
            rows = await repo.allergies(conn, patient_id)
            await record(conn, "read", "allergies", patient_id, patient_id)
        return [repo.allergy_of(r, lang) for r in rows]

    async def immunizations(
        self, principal: Principal, patient_id: int, lang: str = "ru"
    ) -> list[Immunization]:
        await self.access.reader(principal, patient_id)
        async with self.pool.acquire() as conn:
            rows = await repo.immunizations(conn, patient_id)
            await record(conn, "read", "immunizations", patient_id, patient_id)
        return [repo.immunization_of(r, lang) for r in rows]

    async def reader_of(self, principal: Principal, patient_id: int) -> Reader:
        """The caller's reach into a patient's record, by the record's access rule (404
        or 403 ``break_glass_required`` otherwise): for documents of the record kept
        elsewhere (prescriptions)."""
        return await self.access.reader(principal, patient_id)

    async def prescribing_context(
        self, principal: Principal, encounter_id: int, lang: str = "ru"
    ) -> PrescribingContext:
        """The facts a prescription written in the calling doctor's visit is checked
        against (audited as a read of the patient's record)."""
        doctor, clinic, _ = await self._author(principal)
        row = await repo.encounter_row(self.pool, encounter_id)
        if row is None or row["clinic_id"] != clinic:
            raise not_found("encounter")
        if row["doctor_id"] != doctor:
            raise ProblemError(403, "forbidden", "This is another doctor's visit.")
        if row["status"] == "entered-in-error":
            raise ProblemError(409, "visit_in_error", "This visit was entered in error.")
        patient = row["patient_id"]
        async with self.pool.acquire() as conn:
            allergies = [repo.allergy_of(r, lang) for r in await repo.allergies(conn, patient)]
            problems = await repo.problems(conn, patient)
            await record(conn, "read", "prescribing_facts", encounter_id, patient)
        return PrescribingContext(
            encounter_id=encounter_id,
            patient_id=patient,
            clinic_id=clinic,
            doctor_id=doctor,
            allergies=[
                (a.substance, a.substance_name)
                for a in allergies
                if a.clinical_status == "active" and a.verification_status != "refuted"
            ],
            chronic=any(p["course"] == "chronic" for p in problems),
        )

    async def record_reads(self, patient_ids: Sequence[int], what: str) -> None:
        """Audit a listing that shows several patients' names (no record content)."""
        await record_many(self.pool, "read", what, None, list(patient_ids))

    # -- FHIR (ehr.fhir) --------------------------------------------------------------

    def _masked(self, resource: Resource, row: Any, reader: Reader, lang: str) -> msgspec.Struct:
        """A fact's current row as the reader may see it."""
        if resource == "Condition":
            return mask_condition(repo.condition_of(row, lang), reader, row["restricted"], lang)
        if resource == "Observation":
            return mask_observation(repo.observation_of(row, lang), reader, row["restricted"])
        if resource == "AllergyIntolerance":
            return repo.allergy_of(row, lang)
        return repo.immunization_of(row, lang)

    async def fhir_search(
        self, principal: Principal, resource: repo.Searched, search: repo.Search, lang: str = "ru"
    ) -> tuple[list[Any], tuple[datetime | date, int] | None]:
        """One page of a search of a patient's record, masked and audited: the states
        (an Encounter for a DocumentReference too) and the keyset of the next page (None:
        this is the last). A search by code leaves out what the reader may not see: a
        masked entry does not match a code."""
        reader = await self.access.reader(principal, search.patient_id)
        query = msgspec.structs.replace(search, limit=search.limit + 1)
        async with self.pool.acquire() as conn:
            rows = await repo.fhir_search(conn, resource, query)
            page = rows[: search.limit]
            found: list[Any]
            if resource == "Encounter" or resource == "DocumentReference":
                found = await self._full(conn, page, reader, lang)
            else:
                found = [self._masked(resource, r, reader, lang) for r in page]
            await record(conn, "read", f"fhir_{resource.lower()}", "search", search.patient_id)
        if search.code is not None:
            found = [f for f in found if not getattr(f, "hidden", False)]
        if len(rows) <= search.limit:
            return found, None
        key = SEARCH_KEY[resource]
        return found, (page[-1][key], page[-1]["id"])

    async def fhir_read(
        self, principal: Principal, resource: Resource, resource_id: int, lang: str = "ru"
    ) -> msgspec.Struct:
        """A resource's current state, masked for the reader, audited."""
        if resource == "Encounter":
            return await self.encounter(principal, resource_id, lang)
        row = await repo.fact_row(self.pool, resource, resource_id)
        if row is None:
            raise not_found(resource)
        reader = await self._reader_of_row(principal, row["patient_id"])
        state = self._masked(resource, row, reader, lang)
        await record(self.pool, "read", resource.lower(), resource_id, row["patient_id"])
        return state

    async def fhir_version(
        self,
        principal: Principal,
        resource: Resource,
        resource_id: int,
        version: int,
        lang: str = "ru",
    ) -> msgspec.Struct:
        """A resource as it was at ``version``, masked for the reader, audited."""
        if resource == "Encounter":
            return await self.encounter_version(principal, resource_id, version, lang)
        state, reader = await self.version_of(
            principal, resource, resource_id, version, STATE_OF[resource]
        )
        if isinstance(state, Condition):
            return mask_condition(state, reader, codes.restricted_class(state.code or ""), lang)
        if isinstance(state, Observation):
            row = await repo.fact_row(self.pool, "Observation", resource_id)
            return mask_observation(state, reader, None if row is None else row["restricted"])
        return state

    async def fhir_history(
        self, principal: Principal, resource: Resource, resource_id: int, lang: str = "ru"
    ) -> list[tuple[Version, msgspec.Struct]]:
        """Every version of a resource, newest first, each as :meth:`fhir_version`."""
        found = await self.versions(principal, resource, resource_id)
        return [
            (v, await self.fhir_version(principal, resource, resource_id, v.version, lang))
            for v in found
        ]

    async def fhir_patient(self, principal: Principal, patient_id: int) -> repo.PatientEntry:
        """The registry's entry of a patient whose card the caller may read (audited)."""
        await self.access.reader(principal, patient_id)
        entry = await repo.fhir_patient(self.pool, patient_id)
        if entry is None:
            raise not_found()
        await record(self.pool, "read", "patient", patient_id, patient_id)
        return entry

    async def fhir_practitioners(
        self,
        clinic_id: int | None = None,
        doctor_id: int | None = None,
        after: tuple[int, int] | None = None,
        limit: int = 20,
    ) -> list[repo.PractitionerEntry]:
        """Doctors of the directory (public data), by clinic and id."""
        return await repo.fhir_practitioners(self.pool, clinic_id, doctor_id, after, limit)

    async def fhir_organizations(
        self, clinic_id: int | None = None, after: int | None = None, limit: int = 20
    ) -> list[repo.OrganizationEntry]:
        """Clinics of the directory (public data), by id."""
        return await repo.fhir_organizations(self.pool, clinic_id, after, limit)

    async def fhir_mark_in_error(
        self,
        principal: Principal,
        resource: Resource,
        resource_id: int,
        expected_version: int,
        reason: str,
        lang: str = "ru",
    ) -> int:
        """:meth:`mark_in_error` if the entry is still at ``expected_version`` (else 412
        ``version_conflict``). The version is compared before the mark's own transaction:
        a change in between is refused by the mark only if it was a mark too."""
        row = await repo.fact_row(self.pool, resource, resource_id)
        if row is None:
            raise not_found(resource)
        await self._writable_patient(principal, row["patient_id"], None)
        if row["version"] != expected_version:
            raise ProblemError(412, "version_conflict", "The entry changed since you read it.")
        return await self.mark_in_error(principal, resource, resource_id, reason, lang)


#: The column a search's keyset is on, by resource (newest first).
SEARCH_KEY: dict[str, str] = {
    "Encounter": "started_at",
    "DocumentReference": "signed_at",
    "Condition": "recorded_at",
    "Observation": "effective_at",
    "AllergyIntolerance": "recorded_at",
    "Immunization": "occurred_on",
}

#: The Struct a version's body decodes to, by resource (not Encounter: its own read).
STATE_OF: dict[Resource, type[msgspec.Struct]] = {
    "Condition": Condition,
    "Observation": Observation,
    "AllergyIntolerance": Allergy,
    "Immunization": Immunization,
}
