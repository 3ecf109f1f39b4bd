"""The demo city's driver's certificates (form 003-В/у), each with the examinations
behind it, row for row as :class:`ehr.certificates.Certificates` writes them.

A few percent of the adults (:data:`SHARE`, at most :data:`MOST`) went through the
driver's examination before the history's first day: a visit to each examiner the
categories need (a therapist, an ophthalmologist, a psychiatrist and a narcologist; a
neurologist and an otolaryngologist too for C and D), each a completed appointment
with its signed encounter (a general medical examination, Z00.0, with the
specialty's protocol template) and the examiner's conclusion in it; the last visit
is the therapist's, the chair's, who issues the certificate there. Its content is the
one :meth:`Certificates.issue` signs, signed by the clinic's key
(:meth:`ehr.certificates.CertificateKeys.new_key`, sealed with the deployment's secret
as a server makes it), so that the server's trust list and ``imias verify`` accept it. A few of them
(:data:`REVOKED_SHARE`) were revoked by their clinic since.

The visits are of the days before the history's (and the schedules'), so that no doctor
is double-booked against the history; their appointments make the holders patients
"with an appointment" like the history's. A specialty the city has no doctor of is
left out of the examinations (its conclusion is missing).

Deterministic for a seed and start, except the keys and the ECDSA signatures (random by
nature): the same holders, visits, numbers and dates every time.
"""

from __future__ import annotations

import asyncio
import random
import time as clock
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import msgspec

from ehr import Condition, Encounter, codes, template_for
from ehr import Protocol as VisitProtocol
from ehr import certificates as ehr_certificates
from imias.citygen import bulkload, clinical, history
from imias.citygen import city as citygen
from imias.platform.dates import add_months
from imias.platform.db import Connection

cose = ehr_certificates.cose
rules = ehr_certificates.rules

SHARE = 0.03  # of the patients get a driver's certificate ...
MOST = 30_000  # ... at most this many (the full city's seed stays about as fast)
REVOKED_SHARE = 0.02  # of the certificates were revoked since
EXAM_DAYS = 30  # the examinations take up to this many days before the chair's visit
SPAN_DAYS = 700  # certificates were issued over this many days before the history's
CHUNK = 1_000  # holders made (and signed) at a time, in a thread
# The visit's diagnosis: the general medical examination, as the history's check-ups
# (ICD-10's own code, Z02.4 "examination for driving licence", has no Russian title in
# the record's catalogue, so the card would show it in English).
CODE = clinical.CHECKUP_ADULT
CHANNEL = "registrar"

KEY_COLUMNS = ("kid", "clinic_id", "public_key", "private_key", "created_at")
APPOINTMENT_COLUMNS = history.APPOINTMENT_COLUMNS
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
VERSION_COLUMNS = (
    "patient_id", "resource", "resource_id", "version", "body", "written_by", "written_at",
)  # fmt: skip
CONCLUSION_COLUMNS = (
    "patient_id", "id", "encounter_id", "clinic_id", "doctor_id", "author_id", "examiner",
    "verdict", "restrictions", "recorded_at",
)  # fmt: skip
CERTIFICATE_COLUMNS = (
    "patient_id", "id", "number", "kind", "clinic_id", "doctor_id", "author_id", "holder",
    "birth_date", "categories", "restrictions", "pe_group", "valid_from", "valid_until",
    "issued_at", "kid", "qr", "status", "revoked_at", "revoked_reason", "revoked_by",
)  # fmt: skip

#: The tables loaded, parents first; the keys are loaded before the rest.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("appointments", APPOINTMENT_COLUMNS),
    ("encounters", ENCOUNTER_COLUMNS),
    ("conditions", CONDITION_COLUMNS),
    ("ehr_versions", VERSION_COLUMNS),
    ("exam_conclusions", CONCLUSION_COLUMNS),
    ("certificates", CERTIFICATE_COLUMNS),
)
#: The tables whose ids this module writes (their sequences continue after them).
SEQUENCED = ("appointments", "encounters", "conditions", "exam_conclusions", "certificates")

#: Categories asked for, with their weights (a tenth or so professional).
CATEGORY_CHOICES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (70, ("B",)),
    (8, ("A", "B")),
    (7, ("B", "BE")),
    (2, ("A1", "B1", "M")),
    (8, ("B", "C")),
    (3, ("B", "C", "CE")),
    (2, ("B", "D")),
)
#: (share, restriction) an examiner's conclusion comes with.
RESTRICTED: dict[str, tuple[tuple[float, str], ...]] = {
    "ophthalmologist": ((0.18, "01.06"), (0.05, "01.01")),
    "otolaryngologist": ((0.05, "02"),),
    "therapist": ((0.02, "78"),),
    "neurologist": ((0.02, "03"),),
}
REVOKED_REASONS = (
    "Выдана с ошибкой в категориях",
    "Выдана по ошибке: заменена новой справкой",
)
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # as ehr.certificates.service.new_number
_ENCODE = msgspec.json.Encoder()

HOLDERS = """
SELECT id, family_name, given_name, patronymic, birth_date, attached_clinic_id
  FROM patients WHERE id = ANY($1::bigint[])
"""


class Bars(Protocol):
    """The seed's progress bars (imias.citygen.seed._Bars)."""

    def add(self, table: str, total: int) -> None: ...
    def start(self, table: str) -> None: ...
    def advance(self, table: str, rows: int) -> None: ...
    def finish(self, table: str, rows: int) -> None: ...


def wanted(patients: int) -> int:
    """How many certificates a city of ``patients`` gets."""
    return min(MOST, round(patients * SHARE))


def estimate(patients: int) -> dict[str, int]:
    """About how many rows each table gets (for the progress bars)."""
    n = wanted(patients)
    return {
        "appointments": n * 4,
        "encounters": n * 4,
        "conditions": n * 4,
        "ehr_versions": n * 8,
        "exam_conclusions": n * 4,
        "certificates": n,
    }


def bar_name(table: str) -> str:
    return f"{table} (driver)" if table in ("appointments", "encounters", "conditions",
                                            "ehr_versions") else table  # fmt: skip


@dataclass(frozen=True, slots=True)
class Visit:
    examiner: str
    doctor: citygen.Doctor
    starts: datetime  # UTC
    ends: datetime
    verdict: str
    restrictions: tuple[str, ...]


@dataclass(slots=True)
class Holder:
    """A holder's examination and certificate, planned (nothing signed yet)."""

    patient: int
    name: str
    birth_date: date
    categories: list[str]
    visits: list[Visit]  # the chair's last
    issued: date
    until: date
    number: str
    revoked: tuple[datetime, str] | None = None


@dataclass
class Plan:
    """Who gets a certificate, from which visits, and the issuing clinics' keys."""

    holders: list[Holder]
    keys: dict[int, tuple[bytes, Any]]  # clinic -> (key id, private key)
    key_rows: list[tuple[Any, ...]]
    skipped: list[str]  # examiners the city has no doctor of
    counts: dict[str, int] = field(default_factory=dict)


def _doctors_by_examiner(
    doctors: Sequence[citygen.Doctor],
) -> dict[str, tuple[dict[int, list[citygen.Doctor]], list[citygen.Doctor]]]:
    """Each examiner's doctors, by clinic and all of them (the chair: therapists and
    general practitioners)."""
    out: dict[str, tuple[dict[int, list[citygen.Doctor]], list[citygen.Doctor]]] = {}
    for d in doctors:
        examiner = rules.EXAMINER_OF.get(d.specialty.code)
        if examiner is None:
            continue
        by_clinic, every = out.setdefault(examiner, ({}, []))
        by_clinic.setdefault(d.clinic_id, []).append(d)
        every.append(d)
    return out


def _weekday(day: date) -> date:
    """The working day at or before ``day`` (Saturday and Sunday go back to Friday)."""
    return day - timedelta(days=max(0, day.isoweekday() - 5))


async def plan(
    conn: Connection,
    *,
    clinics: Sequence[citygen.Clinic],
    doctors: Sequence[citygen.Doctor],
    patients: int,
    start: date,
    history_days: int,
    seed: int,
    keys: ehr_certificates.CertificateKeys,
    count: int | None = None,
) -> Plan:
    """The certificates of the city in the database behind ``conn`` (its patients
    loaded): holders drawn from the adults, their visits and the clinics' keys."""
    rng = random.Random(f"imias-certificates-{seed}")
    zone = ZoneInfo(citygen.TIME_ZONE)
    n = wanted(patients) if count is None else count
    by_examiner = _doctors_by_examiner(doctors)
    skipped: list[str] = [
        e for e in rules.BASE_EXAMINERS + rules.PROFESSIONAL_EXAMINERS if e not in by_examiner
    ]
    if n <= 0 or patients <= 0 or "therapist" not in by_examiner:
        return Plan([], {}, [], skipped)
    # Adults of 20 to 75 on the day, in the order drawn (the rows come in any order).
    drawn = rng.sample(range(1, patients + 1), min(patients, n * 3))
    rows = {r["id"]: r for r in await conn.fetch(HOLDERS, drawn)}
    oldest, youngest = citygen.years_before(start, 75), citygen.years_before(start, 20)
    adult_kind = {c.id for c in clinics if c.kind == "adult"}
    chosen = [
        rows[p]
        for p in drawn
        if p in rows and oldest < rows[p]["birth_date"] <= youngest
        and rows[p]["attached_clinic_id"] in adult_kind
    ][:n]  # fmt: skip
    # Issued before the history's first day, so that no visit meets history's.
    last = start - timedelta(days=history_days + 1)
    professional_since = add_months(start, -12 * rules.PROFESSIONAL_YEARS) + timedelta(7)
    weights = [w for w, _ in CATEGORY_CHOICES]
    taken: set[tuple[int, datetime]] = set()
    numbers: set[str] = set()
    holders: list[Holder] = []
    for row in chosen:
        pid, clinic = row["id"], row["attached_clinic_id"]
        categories = list(rng.choices(CATEGORY_CHOICES, weights)[0][1])
        professional = any(c in rules.PROFESSIONAL for c in categories)
        span = SPAN_DAYS
        if professional:
            span = min(span, (last - professional_since).days)
            if span < EXAM_DAYS:
                categories, professional, span = ["B"], False, SPAN_DAYS
        issued = _weekday(last - timedelta(days=rng.randrange(span)))
        visits: list[Visit] = []
        examiners = [e for e in rules.examiners_for(categories) if e in by_examiner]
        examiners.remove("therapist")
        for examiner in [*examiners, "therapist"]:  # the chair last, on the day of issue
            by_clinic, every = by_examiner[examiner]
            near = by_clinic.get(clinic)
            doctor = rng.choice(near) if near else rng.choice(every)
            day = issued if examiner == "therapist" else _weekday(
                issued - timedelta(days=1 + rng.randrange(EXAM_DAYS))
            )  # fmt: skip
            minutes = doctor.specialty.slot_minutes
            for _ in range(20):  # a time this doctor has no other examination at
                local = datetime.combine(day, time(8), zone) + timedelta(
                    minutes=5 * rng.randrange((11 * 60 - minutes) // 5)
                )
                starts = local.astimezone(UTC)
                if (doctor.id, starts) not in taken:
                    break
            taken.add((doctor.id, starts))
            restrictions: tuple[str, ...] = ()
            for share, code in RESTRICTED.get(examiner, ()):
                if rng.random() < share:
                    restrictions = (code,)
                    break
            visits.append(
                Visit(
                    examiner,
                    doctor,
                    starts,
                    starts + timedelta(minutes=minutes),
                    "restricted" if restrictions else "fit",
                    restrictions,
                )
            )
        chair = visits[-1].doctor
        while True:
            number = f"{issued.year:04d}-{chair.clinic_id}-" + "".join(
                rng.choice(_ALPHABET) for _ in range(8)
            )
            if number not in numbers:
                numbers.add(number)
                break
        holders.append(
            Holder(
                patient=pid,
                name=" ".join(
                    p for p in (row["family_name"], row["given_name"], row["patronymic"]) if p
                ),  # fmt: skip
                birth_date=row["birth_date"],
                categories=rules.check_categories(categories),
                visits=visits,
                issued=issued,
                until=rules.longest_validity("driver", categories, issued),
                number=number,
            )
        )
    revoked = max(1, round(len(holders) * REVOKED_SHARE)) if len(holders) >= 10 else 0
    now = datetime.combine(start, time(), zone).astimezone(UTC)
    for h in rng.sample(holders, revoked):
        signed = h.visits[-1].ends
        at = min(signed + timedelta(days=1 + rng.randrange(90)), now - timedelta(hours=1))
        h.revoked = (max(at, signed + timedelta(minutes=5)), rng.choice(REVOKED_REASONS))
    # Each issuing clinic's key, made the day before its first certificate.
    first: dict[int, datetime] = {}
    for h in holders:
        clinic_id = h.visits[-1].doctor.clinic_id
        at = h.visits[-1].starts - timedelta(days=1)
        first[clinic_id] = min(first.get(clinic_id, at), at)
    made: dict[int, tuple[bytes, Any]] = {}
    key_rows: list[tuple[Any, ...]] = []
    for clinic_id in sorted(first):
        row_of, private = keys.new_key(clinic_id, first[clinic_id])
        made[clinic_id] = (row_of[0], private)
        key_rows.append(row_of)
    return Plan(holders, made, key_rows, skipped)


class Writer:
    """The rows of planned holders, a chunk at a time (signing included), with ids
    that continue each table's sequence."""

    def __init__(
        self,
        plan_of: Plan,
        clinics: Sequence[citygen.Clinic],
        staff: Sequence[tuple[Any, ...]],
        last_ids: dict[str, int],
        city_code: str,
    ) -> None:
        self.plan = plan_of
        self.city = city_code
        self.ids = dict(last_ids)
        self.clinic_name = {c.id: c.name for c in clinics}
        self.staff = {row[4]: i for i, row in enumerate(staff, 1) if row[1] == "doctor"}
        self.counts = {name: 0 for name, _ in TABLES}
        self.title = codes.diagnosis(CODE).title("ru")  # type: ignore[union-attr]
        self._protocols: dict[tuple[str, str, tuple[str, ...], str], tuple[Any, str]] = {}

    def _next(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def _protocol(
        self, specialty: str, verdict: str, restrictions: tuple[str, ...], categories: str
    ) -> tuple[VisitProtocol, str]:
        key = (specialty, verdict, restrictions, categories)
        found = self._protocols.get(key)
        if found is None:
            if restrictions:
                named = "; ".join(f"{c} {rules.RESTRICTIONS[c][0]}" for c in restrictions)
                said = f"Медицинских противопоказаний нет; ограничения: {named}."
            else:
                said = "Медицинских противопоказаний к управлению транспортным средством нет."
            protocol = VisitProtocol(
                complaints="Жалоб нет.",
                history="Медицинское освидетельствование водителя (категории "
                f"{categories}), форма 003-В/у.",
                examination=template_for(specialty).examination,
                conclusion=f"{CODE} {self.title}. {said}",
                recommendations="Повторное освидетельствование по истечении срока действия "
                "медицинского заключения.",
            )
            found = self._protocols[key] = (protocol, _ENCODE.encode(protocol).decode())
        return found

    def rows(self, holders: Sequence[Holder]) -> dict[str, list[tuple[Any, ...]]]:
        out: dict[str, list[tuple[Any, ...]]] = {name: [] for name, _ in TABLES}
        for h in holders:
            self._holder(h, out)
        for name, made in out.items():
            self.counts[name] += len(made)
        return out

    def _holder(self, h: Holder, out: dict[str, list[tuple[Any, ...]]]) -> None:
        pid = h.patient
        cats = ", ".join(h.categories)
        for v in h.visits:
            d = v.doctor
            author = self.staff[d.id]
            specialty = d.specialty.code
            appointment = self._next("appointments")
            created = v.starts - timedelta(days=3, hours=2)
            out["appointments"].append(
                (d.clinic_id, appointment, d.id, pid, d.specialty.id, v.starts, v.ends,
                 "completed", CHANNEL, None, None, created, v.ends, None, None)
            )  # fmt: skip
            encounter = self._next("encounters")
            protocol, protocol_json = self._protocol(specialty, v.verdict, v.restrictions, cats)
            out["encounters"].append(
                (pid, encounter, d.clinic_id, d.id, d.specialty.id, appointment, "outpatient",
                 "finished", v.starts, v.ends, protocol_json, None, 1, v.ends, author)
            )  # fmt: skip
            condition = self._next("conditions")
            day = v.starts.astimezone(ZoneInfo(citygen.TIME_ZONE)).date()
            out["conditions"].append(
                (pid, condition, encounter, d.clinic_id, CODE, "primary", "acute", "active",
                 "confirmed", day, None, author, specialty, v.ends, 1, v.ends)
            )  # fmt: skip
            diagnosis = Condition(
                id=condition, patient_id=pid, encounter_id=encounter, clinic_id=d.clinic_id,
                code=CODE, title=self.title, category="encounter-diagnosis", rank="primary",
                course="acute", clinical_status="active", verification_status="confirmed",
                onset=day, abatement=None, note=None, recorded_at=v.ends, author_id=author,
                version=1,
            )  # fmt: skip
            visit = Encounter(
                id=encounter, patient_id=pid, clinic_id=d.clinic_id,
                clinic_name=self.clinic_name[d.clinic_id], doctor_id=d.id,
                doctor_name=f"{d.family_name} {d.given_name} {d.patronymic}",
                specialty=specialty, appointment_id=appointment, kind="outpatient",
                status="finished", started_at=v.starts, signed_at=v.ends, version=1,
                protocol=protocol, diagnoses=[diagnosis],
            )  # fmt: skip
            out["ehr_versions"].append(
                (pid, "Encounter", encounter, 1, _ENCODE.encode(visit).decode(), author, v.ends)
            )
            out["ehr_versions"].append(
                (pid, "Condition", condition, 1, _ENCODE.encode(diagnosis).decode(), author,
                 v.ends)
            )  # fmt: skip
            out["exam_conclusions"].append(
                (pid, self._next("exam_conclusions"), encounter, d.clinic_id, d.id, author,
                 v.examiner, v.verdict, list(v.restrictions), v.ends)
            )  # fmt: skip
        chair = h.visits[-1]
        clinic = chair.doctor.clinic_id
        kid, private = self.plan.keys[clinic]
        restrictions = sorted({r for v in h.visits for r in v.restrictions})
        content: dict[str, Any] = {
            "v": 1,
            "n": h.number,
            "k": "driver",
            "nm": h.name,
            "dob": h.birth_date.isoformat(),
            "cat": h.categories,
            "res": restrictions,
            "df": h.issued.isoformat(),
            "du": h.until.isoformat(),
            "org": self.clinic_name[clinic],
        }
        expires = datetime.combine(h.until + timedelta(days=1), time(), UTC)
        qr = cose.encode_qr(
            private,
            kid,
            iss=self.city,
            iat=int(chair.ends.timestamp()),
            exp=int(expires.timestamp()),
            content=content,
        )
        author = self.staff[chair.doctor.id]
        revoked_at, reason, by = (None, None, None)
        if h.revoked is not None:
            revoked_at, reason, by = h.revoked[0], h.revoked[1], author
        out["certificates"].append(
            (pid, self._next("certificates"), h.number, "driver", clinic, chair.doctor.id, author,
             h.name, h.birth_date, h.categories, restrictions, None, h.issued, h.until,
             chair.ends, kid, qr, "issued" if revoked_at is None else "revoked", revoked_at,
             reason, by)
        )  # fmt: skip


async def _last_ids(conn: Connection) -> dict[str, int]:
    """The last id each table's sequence gave (0: none yet)."""
    out = {}
    for table in SEQUENCED:
        seq = await conn.fetchval("SELECT pg_get_serial_sequence($1, 'id')", table)
        row = await conn.fetchrow(f"SELECT last_value, is_called FROM {seq}")
        assert row is not None
        out[table] = row["last_value"] if row["is_called"] else row["last_value"] - 1
    return out


def add_bars(bars: Bars, patients: int) -> None:
    bars.add("certificate_keys", 0)
    for name, rows in estimate(patients).items():
        bars.add(bar_name(name), rows)


async def load(
    conn: Connection,
    *,
    clinics: Sequence[citygen.Clinic],
    doctors: Sequence[citygen.Doctor],
    staff: Sequence[tuple[Any, ...]],
    patients: int,
    start: date,
    history_days: int,
    seed: int,
    secret: str,
    city_code: str,
    bars: Bars,
    batch_rows: int,
    count: int | None = None,
) -> list[tuple[str, int, float]]:
    """Plan, sign and COPY the city's certificates in the caller's transaction (its
    patients and staff loaded), a chunk of holders made in a thread while the one before
    is copied; (table, rows, seconds) of each table."""
    began = clock.perf_counter()
    # Only new_key is used: no pool needed.
    keys = ehr_certificates.CertificateKeys(conn, secret, city_code)  # type: ignore[arg-type]
    planned = await plan(
        conn, clinics=clinics, doctors=doctors, patients=patients, start=start,
        history_days=history_days, seed=seed, keys=keys, count=count,
    )  # fmt: skip
    seconds = dict.fromkeys([name for name, _ in TABLES], 0.0)
    bars.start("certificate_keys")
    await conn.copy_records_to_table(
        "certificate_keys", records=planned.key_rows, columns=KEY_COLUMNS
    )
    bars.finish("certificate_keys", len(planned.key_rows))
    writer = Writer(planned, clinics, staff, await _last_ids(conn), city_code)
    # A table still empty (no history) is loaded with its foreign keys, non-unique
    # indexes and the appointments' trigger set aside and made again after it (a third
    # faster here); one that holds the history is loaded as it is (remaking its indexes
    # would cost more than the rows added).
    aside: list[str] = []
    for name, _ in TABLES:
        if not await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {name})"):
            triggers = ("appointments_occupy_units",) if name == "appointments" else ()
            aside += await bulkload.set_aside(conn, name, triggers=triggers)
    for name, _ in TABLES:
        bars.start(bar_name(name))
    chunks: Iterator[list[Holder]] = (
        planned.holders[i : i + CHUNK] for i in range(0, len(planned.holders), CHUNK)
    )

    def made() -> dict[str, list[tuple[Any, ...]]] | None:
        chunk = next(chunks, None)
        return None if chunk is None else writer.rows(chunk)

    pending = asyncio.ensure_future(asyncio.to_thread(made))
    try:
        while (batch := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(made))
            for name, columns in TABLES:
                copied = clock.perf_counter()
                rows = batch[name]
                for i in range(0, len(rows), batch_rows):
                    part = rows[i : i + batch_rows]
                    await conn.copy_records_to_table(name, records=part, columns=columns)
                    bars.advance(bar_name(name), len(part))
                seconds[name] += clock.perf_counter() - copied
    finally:
        await asyncio.gather(pending, return_exceptions=True)
    restored = clock.perf_counter()
    await bulkload.restore(conn, aside)
    seconds["appointments"] += clock.perf_counter() - restored
    for table in SEQUENCED:
        if writer.counts[table]:
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)", table, writer.ids[table]
            )
    for name, _ in TABLES:
        bars.finish(bar_name(name), writer.counts[name])
    # The signing and the rest of the making (in the thread, waited for) are the
    # certificates' time.
    seconds["certificates"] = (
        clock.perf_counter()
        - began
        - sum(s for name, s in seconds.items() if name != "certificates")
    )
    planned.counts = writer.counts
    return [("certificate_keys", len(planned.key_rows), 0.0)] + [
        (bar_name(name), writer.counts[name], seconds[name]) for name, _ in TABLES
    ]
