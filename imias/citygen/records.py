"""The medical history of ``imias seed --history-days N``: what the doctors wrote at the
past visits, row for row as :class:`ehr.Records` writes it when a visit is signed.

For each ``completed`` appointment of :mod:`imias.citygen.history` an encounter
(outpatient, finished, signed at the end of the slot, version 1) with a protocol made
from the specialty's template (:func:`ehr.template_for`) and text that fits its primary
diagnosis; one or two diagnoses drawn from the specialty's table
(:data:`clinical.DIAGNOSES`: weights, acute or chronic, ages and sex), and a patient's
own chronic conditions where the specialty treats them; on the visits of therapists,
general practitioners, cardiologists, endocrinologists and geriatricians the vital
signs, and sometimes laboratory results. The patient's measurements follow the patient:
blood pressure rises with age and with hypertension, weight stays near the patient's own
with a little noise, glucose is higher for a diabetic. Each patient's traits (hypertensive,
diabetic, the offsets of blood pressure and weight) come from a hash of the seed and the
patient's id, so they are the same at every visit.

At a patient's first completed visit of the history the record also gets what the
patient brings along: an allergy for a few percent of them (``ehr/catalogue/substances.csv``),
a child's immunizations by the national calendar (:data:`clinical.CALENDAR`, dated
from the birth date, a few doses missed), and this season's flu shot for some adults.

Every row gets its ``ehr_versions`` version 1, the Struct the API reads encoded as
msgspec JSON, as signing writes it. Deterministic: rows follow the appointments in
order, drawn from one ``random.Random`` of the seed, whatever the batch size.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from statistics import NormalDist
from typing import Any

import msgspec

from ehr import (
    Allergy,
    Condition,
    Encounter,
    Immunization,
    Observation,
    Protocol,
    codes,
    template_for,
)
from imias.citygen import catalogue as cat
from imias.citygen import city as citygen
from imias.citygen import clinical
from imias.citygen.history import PG_EPOCH, PatientIndex, TypeCodec

ENCOUNTER_COLUMNS = (
    "patient_id", "id", "clinic_id", "doctor_id", "specialty_id", "appointment_id", "kind",
    "status", "started_at", "signed_at", "protocol", "restricted", "version", "updated_at",
    "updated_by",
)  # fmt: skip
CONDITION_COLUMNS = (
    "patient_id", "id", "encounter_id", "clinic_id", "code", "rank", "course",
    "clinical_status", "verification_status", "onset", "restricted", "author_id",
    "author_specialty", "recorded_at", "version", "updated_at",
)  # fmt: skip
OBSERVATION_COLUMNS = (
    "patient_id", "id", "encounter_id", "clinic_id", "code", "category", "value", "unit", "low",
    "high", "interpretation", "status", "effective_at", "restricted", "author_id", "recorded_at",
    "version", "updated_at",
)  # fmt: skip
ALLERGY_COLUMNS = (
    "patient_id", "id", "encounter_id", "clinic_id", "substance", "category", "criticality",
    "reaction", "severity", "clinical_status", "verification_status", "onset", "author_id",
    "recorded_at", "version", "updated_at",
)  # fmt: skip
IMMUNIZATION_COLUMNS = (
    "patient_id", "id", "encounter_id", "clinic_id", "vaccine", "dose_number", "occurred_on",
    "lot", "status", "author_id", "recorded_at", "version", "updated_at",
)  # fmt: skip
VERSION_COLUMNS = (
    "patient_id", "resource", "resource_id", "version", "body", "written_by", "written_at",
)  # fmt: skip

#: Connection.set_type_codec arguments under which asyncpg copies a jsonb value given as
#: its binary form (``b"\x01"`` and the JSON text) as it is: ``bytes`` of bytes is itself.
JSONB_WIRE_CODEC: TypeCodec = {
    "typename": "jsonb",
    "schema": "pg_catalog",
    "encoder": bytes,
    "decoder": bytes,
    "format": "binary",
}

#: The tables the history of records loads, in the order they are loaded (parents first).
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("encounters", ENCOUNTER_COLUMNS),
    ("conditions", CONDITION_COLUMNS),
    ("observations", OBSERVATION_COLUMNS),
    ("allergies", ALLERGY_COLUMNS),
    ("immunizations", IMMUNIZATION_COLUMNS),
    ("ehr_versions", VERSION_COLUMNS),
)

SECOND_DIAGNOSIS = 0.3  # share of visits with a secondary diagnosis
ALLERGIC = 0.04  # share of patients with a recorded allergy
MISSED_DOSE = 0.03  # a child's dose (and the rest of its series) not given
FLU_ADULT, FLU_ELDERLY = 0.2, 0.45  # adults with this season's flu shot (60+: elderly)
LABS = 0.2  # share of vital-sign visits with laboratory results
_DAY_US = 86_400_000_000
_MINUTE_US = 60_000_000
_EPOCH_ORDINAL = PG_EPOCH.date().toordinal()
_ENCODE = msgspec.json.Encoder()
#: Diagnoses that are a patient's trait (:class:`_Patient`), not the luck of a visit.
_TRAIT_CODES = {"I10": "hypertensive", "I11.9": "hypertensive", "E11.9": "diabetic"}


def _hash01(seed: int, pid: int, salt: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, patient, salt): the patient's traits."""
    x = (pid * 0x9E3779B1 + salt * 0x85EBCA77 + seed * 0xC2B2AE3D) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x / 4294967296.0


_QUANTILES = [NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096)]


def _normal(seed: int, pid: int, salt: int) -> float:
    """A standard normal number fixed by (seed, patient, salt) (a table's quantile)."""
    return _QUANTILES[int(_hash01(seed, pid, salt) * 4096)]


def _share(age: int, bands: Sequence[tuple[int, float]]) -> float:
    """The share of the first band whose upper age is at least ``age``."""
    for upper, share in bands:
        if age <= upper:
            return share
    return bands[-1][1]


HYPERTENSION = ((29, 0.02), (44, 0.12), (59, 0.32), (150, 0.55))
DIABETES = ((29, 0.003), (44, 0.03), (59, 0.09), (150, 0.16))


class _Patient:
    """A patient's traits at a visit (age in whole years, on the visit's day)."""

    __slots__ = ("age", "diabetic", "hypertensive", "pid", "sex", "years")

    def __init__(self, seed: int, pid: int, birth: int, sex: str, day: int) -> None:
        self.pid, self.sex = pid, sex
        self.years = (day - birth) / 365.25
        self.age = int(self.years)
        # A fixed draw against a share that grows with age: a trait, once had, stays.
        self.hypertensive = _hash01(seed, pid, 1) < _share(self.age, HYPERTENSION)
        self.diabetic = _hash01(seed, pid, 2) < _share(self.age, DIABETES)


class RecordsStream:
    """The records of a city's past visits, a batch of appointments at a time."""

    def __init__(
        self,
        clinics: Sequence[citygen.Clinic],
        doctors: Sequence[citygen.Doctor],
        staff: Sequence[tuple[Any, ...]],
        patients: PatientIndex,
        start: date,
        seed: int,
        wire: bool = False,
    ) -> None:
        """``staff``: the staff plan's rows in the order they were loaded (their ids count
        from 1); ``wire``: the appointments' times are asyncpg's tuples (history's
        ``wire``), and so are the times written here."""
        self._seed = seed
        self._rng = random.Random(f"imias-records-{seed}")
        self._patients = patients
        self._start = start
        self._wire = wire
        self._clinic_name = {c.id: c.name for c in clinics}
        self._doctor = {d.id: d for d in doctors}
        self._staff = {row[4]: i for i, row in enumerate(staff, 1) if row[1] == "doctor"}
        self._seen = bytearray(len(patients) + 1)
        self._choices: dict[tuple[str, int, str], tuple[list[clinical.Dx], list[int]]] = {}
        self._titles = {
            dx.code: _title(dx.code) for table in clinical.DIAGNOSES.values() for dx in table
        }
        for code in (clinical.CHECKUP_ADULT, clinical.CHECKUP_CHILD):
            self._titles[code] = _title(code)
        self._measures = codes.measures()
        self._substances = list(codes.substances().values())
        self._vaccines = codes.vaccines()
        self._protocols: dict[tuple[str, str, str | None], tuple[Protocol, str]] = {}
        self.counts = {name: 0 for name, _ in TABLES}
        self._ids = dict.fromkeys(
            ("Encounter", "Condition", "Observation", "AllergyIntolerance", "Immunization"), 0
        )
        # This season's flu campaign: September to November before the start.
        year = start.year if start.month >= 12 else start.year - 1
        self._flu = (date(year, 9, 15).toordinal(), date(year, 11, 30).toordinal())
        self._time: Callable[[Any], datetime]
        self._plus: Callable[[Any, int], Any]
        self._day: Callable[[Any], int]
        if wire:
            instants: dict[int, datetime] = {}  # history's times are whole minutes: few

            def instant(t: Any) -> datetime:
                found = instants.get(t[0])
                if found is None:
                    found = instants[t[0]] = PG_EPOCH + timedelta(microseconds=t[0])
                return found

            self._time = instant
            self._plus = lambda t, minutes: (t[0] + minutes * _MINUTE_US,)
            self._day = lambda t: _EPOCH_ORDINAL + (t[0] + 3 * 3600_000_000) // _DAY_US
        else:
            self._time = lambda t: t.astimezone(UTC)
            self._plus = lambda t, minutes: t + timedelta(minutes=minutes)
            self._day = lambda t: (t + timedelta(hours=3)).toordinal()

    # -- helpers --------------------------------------------------------------------------

    def _body(self, state: msgspec.Struct) -> Any:
        """A version's body: JSON text, or with ``wire`` jsonb's binary form (its version
        byte and the text), which a connection with :data:`JSONB_WIRE_CODEC` copies as
        it is (decoding every body to a str was a fifth of the generator's time)."""
        if self._wire:
            return b"\x01" + _ENCODE.encode(state)
        return _ENCODE.encode(state).decode()

    def _next(self, resource: str) -> int:
        self._ids[resource] += 1
        return self._ids[resource]

    def _options(self, specialty: str, age: int, sex: str) -> tuple[list[clinical.Dx], list[int]]:
        key = (specialty, min(age, 100), sex)
        found = self._choices.get(key)
        if found is None:
            table = clinical.DIAGNOSES.get(specialty, ())
            fitting = [dx for dx in table if dx.fits(age, sex)]
            if not fitting:
                code = clinical.CHECKUP_CHILD if age < cat.ADULT_AGE else clinical.CHECKUP_ADULT
                fitting = [clinical.Dx(code, 1)]
            found = self._choices[key] = (
                fitting,
                list(itertools.accumulate(dx.weight for dx in fitting)),
            )
        return found

    def _draw(self, specialty: str, patient: _Patient) -> clinical.Dx:
        """A diagnosis of the specialty's table that fits the patient: hypertension and
        diabetes only for the patients who have them (drawn again, else a check-up)."""
        fitting, cumulative = self._options(specialty, patient.age, patient.sex)
        for _ in range(4):
            dx = fitting[bisect.bisect(cumulative, self._rng.random() * cumulative[-1])]
            trait = _TRAIT_CODES.get(dx.code)
            if trait is None or getattr(patient, trait):
                return dx
        code = clinical.CHECKUP_CHILD if patient.age < cat.ADULT_AGE else clinical.CHECKUP_ADULT
        return clinical.Dx(code, 1)

    def _own_chronic(self, specialty: str, patient: _Patient) -> list[clinical.Dx]:
        """The patient's own chronic conditions this specialty treats."""
        own = []
        if patient.hypertensive and specialty in clinical.VITALS and specialty != "endocrinologist":
            own.append(clinical.Dx("I10", 1, True))
        if patient.diabetic and specialty in ("endocrinologist", "therapist", "geriatrician",
                                              "general_practitioner"):  # fmt: skip
            own.append(clinical.Dx("E11.9", 1, True))
        return own

    def _protocol(self, specialty: str, dx: clinical.Dx) -> tuple[Protocol, str]:
        key = (specialty, dx.code, None)
        found = self._protocols.get(key)
        if found is None:
            said, history = clinical.complaints(dx.code)
            checkup = dx.code.startswith("Z")
            protocol = Protocol(
                complaints=said,
                history=history,
                examination=template_for(specialty).examination,
                conclusion=f"{dx.code} {self._titles[dx.code]}",
                recommendations=(
                    clinical.RECOMMENDATIONS_CHECKUP
                    if checkup
                    else clinical.RECOMMENDATIONS_CHRONIC
                    if dx.chronic
                    else clinical.RECOMMENDATIONS_ACUTE
                ),
            )
            found = self._protocols[key] = (protocol, self._body(protocol))
        return found

    # -- a batch ----------------------------------------------------------------------------

    def batch(self, appointments: Sequence[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
        """The records of a batch of history's appointment rows (APPOINTMENT_COLUMNS)."""
        out: dict[str, list[tuple[Any, ...]]] = {name: [] for name, _ in TABLES}
        for a in appointments:
            if a[7] == "completed":
                self._visit(a, out)
        for name, rows in out.items():
            self.counts[name] += len(rows)
        return out

    def _visit(self, a: tuple[Any, ...], out: dict[str, list[tuple[Any, ...]]]) -> None:
        clinic_id, appointment_id, doctor_id, pid = a[0], a[1], a[2], a[3]
        starts, signed = a[5], a[12]
        doctor = self._doctor[doctor_id]
        specialty = doctor.specialty.code
        author = self._staff[doctor_id]
        day = self._day(starts)
        patients = self._patients
        patient = _Patient(self._seed, pid, patients.birth[pid], chr(patients.sex[pid]), day)
        rnd = self._rng.random
        encounter_id = self._next("Encounter")
        # The diagnoses: the visit's reason, and sometimes a second one.
        own = self._own_chronic(specialty, patient)
        primary = own.pop(0) if own and rnd() < 0.6 else self._draw(specialty, patient)
        diagnoses = [primary]
        if rnd() < SECOND_DIAGNOSIS:
            extra = own[0] if own else self._draw(specialty, patient)
            if extra.code != primary.code:
                diagnoses.append(extra)
        restricted = next((c for c in (_restricted(dx.code) for dx in diagnoses) if c), None)
        protocol, protocol_json = self._protocol(specialty, primary)
        at = self._time(signed)
        conditions: list[Condition] = []
        for rank, dx in zip(("primary", "secondary"), diagnoses, strict=False):
            cid = self._next("Condition")
            if dx.chronic:  # known for years (not before birth)
                onset = date.fromordinal(day - int(rnd() * min(3650, day - patients.birth[pid])))
            else:
                onset = date.fromordinal(day - int(rnd() * 6))
            dx_restricted = _restricted(dx.code)
            course = "chronic" if dx.chronic else "acute"
            out["conditions"].append(
                (pid, cid, encounter_id, clinic_id, dx.code, rank, course, "active",
                 "confirmed", onset, dx_restricted, author, specialty, signed, 1, signed)
            )  # fmt: skip
            conditions.append(
                Condition(
                    id=cid, patient_id=pid, encounter_id=encounter_id, clinic_id=clinic_id,
                    code=dx.code, title=self._titles[dx.code], category="encounter-diagnosis",
                    rank=rank, course=course, clinical_status="active",  # type: ignore[arg-type]
                    verification_status="confirmed", onset=onset, abatement=None, note=None,
                    recorded_at=at, author_id=author, version=1,
                    restricted=dx_restricted is not None,
                )
            )  # fmt: skip
        vitals: list[Observation] = []
        if specialty in clinical.VITALS and patient.age >= cat.ADULT_AGE:
            measured_at = self._plus(starts, 3 + int(rnd() * 5))
            values = self._vitals(patient)
            if rnd() < LABS or (specialty == "endocrinologist" and patient.diabetic):
                values += self._labs(patient, specialty)
            for code, value in values:
                vitals.append(
                    self._observation(
                        out, pid, encounter_id, clinic_id, code, value, measured_at, restricted,
                        author, signed,
                    )
                )  # fmt: skip
        out["encounters"].append(
            (pid, encounter_id, clinic_id, doctor_id, doctor.specialty.id, appointment_id,
             "outpatient", "finished", starts, signed, protocol_json, restricted, 1, signed,
             author)
        )  # fmt: skip
        encounter = Encounter(
            id=encounter_id, patient_id=pid, clinic_id=clinic_id,
            clinic_name=self._clinic_name[clinic_id],
            doctor_id=doctor_id,
            doctor_name=f"{doctor.family_name} {doctor.given_name} {doctor.patronymic}",
            specialty=specialty, appointment_id=appointment_id, kind="outpatient",
            status="finished", started_at=self._time(starts), signed_at=at, version=1,
            protocol=protocol, diagnoses=conditions, vitals=vitals,
            restricted=restricted is not None,
        )  # fmt: skip
        versions = out["ehr_versions"]
        versions.append((pid, "Encounter", encounter_id, 1, self._body(encounter), author, signed))
        for c in conditions:
            versions.append((pid, "Condition", c.id, 1, self._body(c), author, signed))
        for o in vitals:
            versions.append((pid, "Observation", o.id, 1, self._body(o), author, signed))
        if not self._seen[pid]:
            self._seen[pid] = 1
            self._brought(patient, clinic_id, encounter_id, author, day, signed, at, out)

    def _vitals(self, p: _Patient) -> list[tuple[str, float]]:
        """Blood pressure (rising with age, higher with hypertension), pulse, weight."""
        gauss, seed, pid = self._rng.gauss, self._seed, p.pid
        own = _normal(seed, pid, 3)
        systolic = 108 + 0.45 * max(0.0, p.years - 20) + 7 * own + gauss(0, 5)
        if p.hypertensive:
            systolic += 22
        diastolic = 0.55 * systolic + 6 + 3 * _normal(seed, pid, 4) + gauss(0, 3)
        pulse = 72 + 6 * _normal(seed, pid, 5) + gauss(0, 4)
        base = 82.0 if p.sex == "M" else 68.0
        weight = base + 12 * _normal(seed, pid, 6) + (8 if p.diabetic else 0) + gauss(0, 0.7)
        return [
            ("8480-6", round(min(220, max(85, systolic)))),
            ("8462-4", round(min(130, max(50, diastolic)))),
            ("8867-4", round(min(120, max(48, pulse)))),
            ("29463-7", round(min(180, max(40, weight)), 1)),
        ]

    def _labs(self, p: _Patient, specialty: str) -> list[tuple[str, float]]:
        gauss, seed, pid = self._rng.gauss, self._seed, p.pid
        glucose = (7.9 + 1.2 * _normal(seed, pid, 7) if p.diabetic else 4.9) + gauss(0, 0.4)
        found = [("15074-8", round(min(25.0, max(3.3, glucose)), 1))]
        if p.diabetic:
            found.append(("4548-4", round(min(12.0, max(5.5, 7.4 + _normal(seed, pid, 8))), 1)))
        if specialty != "endocrinologist":
            cholesterol = 4.6 + 0.02 * max(0.0, p.years - 30) + 0.6 * _normal(seed, pid, 9)
            found.append(("14647-2", round(min(9.5, max(2.8, cholesterol + gauss(0, 0.2))), 1)))
            hb = (142 if p.sex == "M" else 128) + 8 * _normal(seed, pid, 10) + gauss(0, 3)
            found.append(("718-7", round(hb)))
        return found

    def _observation(
        self,
        out: dict[str, list[tuple[Any, ...]]],
        pid: int,
        encounter_id: int,
        clinic_id: int,
        code: str,
        value: float,
        measured_at: Any,
        restricted: str | None,
        author: int,
        signed: Any,
    ) -> Observation:
        m = self._measures[code]
        oid = self._next("Observation")
        low = None if m.low is None else float(m.low)
        high = None if m.high is None else float(m.high)
        exact = Decimal(repr(value))  # as the API stores it (a float's binary would be kept)
        flag = codes.interpretation(exact, m.low, m.high)
        out["observations"].append(
            (pid, oid, encounter_id, clinic_id, code, m.category, exact, m.unit, m.low, m.high,
             flag, "final", measured_at, restricted, author, signed, 1, signed)
        )  # fmt: skip
        return Observation(
            id=oid, patient_id=pid, encounter_id=encounter_id, clinic_id=clinic_id, code=code,
            name=m.name_ru, category=m.category,  # type: ignore[arg-type]
            value=float(value), unit=m.unit, low=low, high=high,
            interpretation=flag,  # type: ignore[arg-type]
            status="final", effective_at=self._time(measured_at), author_id=author, version=1,
        )  # fmt: skip

    def _brought(
        self,
        p: _Patient,
        clinic_id: int,
        encounter_id: int,
        author: int,
        day: int,
        signed: Any,
        at: datetime,
        out: dict[str, list[tuple[Any, ...]]],
    ) -> None:
        """What a patient's record holds from before the history: allergies and
        immunizations, recorded at the patient's first visit of it."""
        rnd, pid = self._rng.random, p.pid
        birth = self._patients.birth[pid]
        versions = out["ehr_versions"]
        if rnd() < ALLERGIC:
            s = self._substances[int(rnd() * len(self._substances))]
            reactions = clinical.REACTIONS[s.category]
            reaction, severity = reactions[int(rnd() * len(reactions))]
            criticality = "high" if severity == "severe" else "low"
            onset = date.fromordinal(birth + int(rnd() * max(1, day - birth)))
            aid = self._next("AllergyIntolerance")
            out["allergies"].append(
                (pid, aid, encounter_id, clinic_id, s.code, s.category, criticality, reaction,
                 severity, "active", "confirmed", onset, author, signed, 1, signed)
            )  # fmt: skip
            allergy = Allergy(
                id=aid, patient_id=pid, encounter_id=encounter_id, clinic_id=clinic_id,
                substance=s.code, substance_name=s.name_ru, substance_system=s.system,
                category=s.category, criticality=criticality,  # type: ignore[arg-type]
                reaction=reaction, severity=severity,  # type: ignore[arg-type]
                clinical_status="active", verification_status="confirmed", onset=onset,
                recorded_at=at, author_id=author, version=1,
            )  # fmt: skip
            versions.append(
                (pid, "AllergyIntolerance", aid, 1, self._body(allergy), author,
                 signed)
            )  # fmt: skip
        doses: list[tuple[str, int, int]] = []  # (vaccine, dose, day)
        if p.age < cat.ADULT_AGE:
            stopped: set[str] = set()
            for vaccine, dose, due, delay in clinical.CALENDAR:
                when = birth + due + int(rnd() * delay)
                if when >= day:
                    break  # the calendar is in order of age: the rest is still due
                if vaccine in stopped or rnd() < MISSED_DOSE:
                    stopped.add(vaccine)
                    continue
                doses.append((vaccine, dose, when))
        elif rnd() < (FLU_ELDERLY if p.age >= 60 else FLU_ADULT):
            first, last = self._flu
            when = first + int(rnd() * (last - first + 1))
            if when < day:
                doses.append(("flu", 1, when))
        for vaccine, dose, when in doses:
            iid = self._next("Immunization")
            occurred = date.fromordinal(when)
            lot = f"{vaccine.upper()}-{when % 997:03d}{int(rnd() * 100):02d}"
            out["immunizations"].append(
                (pid, iid, None, clinic_id, vaccine, dose, occurred, lot, "completed", author,
                 signed, 1, signed)
            )  # fmt: skip
            v = self._vaccines[vaccine]
            shot = Immunization(
                id=iid, patient_id=pid, encounter_id=None, clinic_id=clinic_id, vaccine=vaccine,
                vaccine_name=v.name_ru, atc=v.atc, dose_number=dose, occurred_on=occurred,
                lot=lot, status="completed", recorded_at=at, author_id=author, version=1,
            )  # fmt: skip
            versions.append((pid, "Immunization", iid, 1, self._body(shot), author, signed))

    def last_ids(self) -> dict[str, int]:
        """Each table's last id written (its sequence continues after it)."""
        by_resource = {
            "encounters": "Encounter",
            "conditions": "Condition",
            "observations": "Observation",
            "allergies": "AllergyIntolerance",
            "immunizations": "Immunization",
        }
        return {table: self._ids[resource] for table, resource in by_resource.items()}


_restricted = functools.cache(codes.restricted_class)


def _title(code: str) -> str:
    found = codes.diagnosis(code)
    if found is None:
        raise ValueError(f"{code} is not an ICD-10 code")
    return found.title("ru")


def estimate(appointments: int) -> dict[str, int]:
    """About how many rows the records of ``appointments`` history appointments make
    (for the progress bars; they get the true totals at the end)."""
    visits = int(appointments * 0.85)
    return {
        "encounters": visits,
        "conditions": int(visits * 1.3),
        "observations": int(visits * 1.6),
        "allergies": visits // 100,
        "immunizations": visits // 2,
        "ehr_versions": int(visits * 3.5),
    }
