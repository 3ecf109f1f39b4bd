"""Certificates' use cases: a specialist's conclusion in her visit, the driver's checklist,
the chair's issue, revocation, the holder's list, and the officer's check.

Who reads a patient's certificates is the record's access rule (:meth:`Records.reader_of`):
the patient (and a guardian), and the doctors who may read the record. An officer
reads nothing of the record: a check answers only what the signed certificate says,
and is written to the audit log with the officer, the place and the holder, so the
holder sees it in the access log.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import msgspec

from ehr import repository as ehr_repo
from ehr.access import not_found
from ehr.certificates import cose
from ehr.certificates import repository as repo
from ehr.certificates.events import TOPIC, CertificateIssued, CertificateRevoked
from ehr.certificates.keys import CertificateKeys
from ehr.certificates.limits import CheckLimiter
from ehr.certificates.model import (
    Certificate,
    CertificateIn,
    Check,
    Checklist,
    ChecklistItem,
    Conclusion,
    ConclusionIn,
    PeGroupHeld,
    Shown,
    VerifyIn,
)
from ehr.certificates.rules import (
    BASE_EXAMINERS,
    CATEGORIES,
    CHAIRS,
    CONCLUSION_DAYS,
    EXAMINER_TITLES,
    FORMS,
    PROFESSIONAL,
    Concluded,
    check_categories,
    check_conclusion,
    driver_decision,
    examiners_for,
    latest,
    refused,
    status_on,
    valid_until,
)
from ehr.certificates.trust import genuine
from ehr.service import Records
from imias.identity import Principal
from imias.platform.audit import record
from imias.platform.outbox import write_event
from imias.platform.problems import ProblemError
from imias.registry import patients

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I, L, O, U


def new_number(year: int, clinic_id: int) -> str:
    """A certificate's number: the year, the clinic, and 40 random bits (so a number is
    not guessed from another; the birth date is asked with it besides)."""
    return f"{year:04d}-{clinic_id}-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def _status(row: Any, today: date) -> str:
    if row["status"] == "revoked":
        return "revoked"
    return "expired" if today > row["valid_until"] else "valid"


def certificate_of(row: Any, today: date) -> Certificate:
    return Certificate(
        id=row["id"],
        number=row["number"],
        kind=row["kind"],
        form=FORMS[row["kind"]],
        patient_id=row["patient_id"],
        clinic_id=row["clinic_id"],
        clinic=row["clinic"],
        holder=row["holder"],
        birth_date=row["birth_date"],
        categories=list(row["categories"]),
        restrictions=list(row["restrictions"]),
        pe_group=row["pe_group"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        issued_at=row["issued_at"],
        status=_status(row, today),  # type: ignore[arg-type]
        revoked_at=row["revoked_at"],
        revoked_reason=row["revoked_reason"],
        qr=row["qr"],
        key_id=bytes(row["kid"]).hex(),
    )


def shown_of(row: Any) -> Shown:
    return Shown(
        number=row["number"],
        kind=row["kind"],
        holder=row["holder"],
        birth_date=row["birth_date"],
        categories=list(row["categories"]),
        restrictions=list(row["restrictions"]),
        pe_group=row["pe_group"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        clinic=row["clinic"],
    )


async def _revoked_event(
    conn: Any, clinic: int, patient: int, certificate_id: int, number: str, kind: str,
    at: datetime,
) -> None:  # fmt: skip
    event = CertificateRevoked(
        certificate_id=certificate_id, patient_id=patient, number=number, kind=kind, at=at,  # type: ignore[arg-type]
    )  # fmt: skip
    await write_event(conn, topic=TOPIC, payload=msgspec.json.encode(event), clinic_id=clinic)


class Certificates:
    """The use cases over the pool (``today``: the city's day; ``clock``: UTC now)."""

    def __init__(
        self,
        pool: Any,
        records: Records,
        keys: CertificateKeys,
        *,
        city: str,
        today: Callable[[], date],
        zone: tzinfo = UTC,
        limiter: CheckLimiter | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.pool = pool
        self.records = records
        self.keys = keys
        self.city = city
        self.today = today
        self.zone = zone  # the city's: a conclusion counts from its local day
        self.limiter = limiter
        self.clock = clock or (lambda: datetime.now(UTC))

    async def _doctor(self, principal: Principal) -> tuple[int, int, str | None]:
        if principal.role != "doctor" or principal.doc is None or principal.org is None:
            raise ProblemError(403, "forbidden", "Only a doctor does this.")
        specialty = await self.records.access.specialty(principal.org, principal.doc)
        return principal.doc, principal.org, specialty

    # -- the specialists' conclusions ------------------------------------------------------

    async def conclude(
        self, principal: Principal, encounter_id: int, data: ConclusionIn
    ) -> Conclusion:
        """The calling specialist's conclusion in her visit; an unfit one revokes the
        driver's certificates whose categories needed it."""
        doctor, clinic, specialty = await self._doctor(principal)
        examiner = check_conclusion(specialty, data.verdict, data.restrictions)
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await ehr_repo.lock_encounter(conn, encounter_id)
            if row is None or row["clinic_id"] != clinic:
                raise not_found("encounter")
            if row["doctor_id"] != doctor:
                raise ProblemError(403, "forbidden", "This is another doctor's visit.")
            if row["status"] == "entered-in-error":
                raise ProblemError(409, "visit_in_error", "This visit was entered in error.")
            patient = row["patient_id"]
            conclusion_id = await repo.insert_conclusion(
                conn, patient, encounter_id, clinic, doctor, principal.subject, examiner,
                data.verdict, data.restrictions, now,
            )  # fmt: skip
            await record(conn, "conclude", "exam_conclusion", conclusion_id, patient)
            revoked: list[str] = []
            if data.verdict == "unfit":
                needing = CATEGORIES if examiner in BASE_EXAMINERS else sorted(PROFESSIONAL)
                reason = f"unfit: a later conclusion of the {examiner}"
                for c in await repo.lock_driver_certificates(conn, patient, needing):
                    await repo.revoke(conn, patient, c["id"], now, reason, None)
                    await record(conn, "revoke", "certificate", c["id"], patient, reason=reason)
                    await _revoked_event(conn, clinic, patient, c["id"], c["number"], "driver", now)
                    revoked.append(c["number"])
        return Conclusion(
            id=conclusion_id,
            encounter_id=encounter_id,
            patient_id=patient,
            clinic_id=clinic,
            examiner=examiner,
            verdict=data.verdict,
            restrictions=list(data.restrictions),
            recorded_at=now,
            revoked=revoked,
        )

    async def _concluded(self, conn: Any, patient_id: int, today: date) -> list[Concluded]:
        since = datetime.combine(today - timedelta(days=CONCLUSION_DAYS + 1), time(), UTC)
        rows = await repo.conclusions(conn, patient_id, since)
        zone = self.zone
        return [
            Concluded(
                r["examiner"],
                r["verdict"],
                list(r["restrictions"]),
                r["recorded_at"].astimezone(zone).date(),
            )
            for r in rows
        ]

    async def checklist(
        self, principal: Principal, patient_id: int, categories: Sequence[str], lang: str = "ru"
    ) -> Checklist:
        """Which examinations a driver's certificate for ``categories`` needs, and which
        are concluded (an audited read of the conclusions, never of a diagnosis)."""
        await self.records.reader_of(principal, patient_id)
        cats = check_categories(categories)
        today = self.today()
        async with self.pool.acquire() as conn:
            have = latest(await self._concluded(conn, patient_id, today), today)
            await record(conn, "read", "exam_conclusions", None, patient_id)
        items = []
        for examiner in examiners_for(cats):
            c = have.get(examiner)
            ru, en = EXAMINER_TITLES[examiner]
            items.append(
                ChecklistItem(
                    examiner=examiner,
                    specialty=examiner,
                    title=ru if lang == "ru" else en,
                    verdict=None if c is None else c.verdict,  # type: ignore[arg-type]
                    restrictions=[] if c is None else list(c.restrictions),
                    recorded_on=None if c is None else c.day,
                    counts_until=None if c is None else c.day + timedelta(days=CONCLUSION_DAYS),
                )
            )
        unfit = [i.examiner for i in items if i.verdict == "unfit"]
        complete = all(i.verdict is not None for i in items) and not unfit
        return Checklist(
            patient_id=patient_id, categories=cats, items=items, complete=complete, unfit=unfit
        )

    # -- issuing and revoking --------------------------------------------------------------

    async def issue(self, principal: Principal, data: CertificateIn) -> Certificate:
        """The chair issues a certificate, signed by her clinic's key."""
        doctor, clinic, specialty = await self._doctor(principal)
        if specialty not in CHAIRS[data.kind]:
            raise ProblemError(
                403, "not_the_chair", "This certificate is issued by a therapist or paediatrician."
            )
        await self.records.reader_of(principal, data.patient_id)
        today = self.today()
        now = self.clock()
        categories: list[str] = []
        restrictions: list[str] = []
        if data.kind == "driver":
            if data.pe_group is not None:
                raise refused("pe_group_not_allowed", "A driver's certificate has no PE group.")
        else:
            if data.categories:
                raise refused(
                    "categories_not_allowed", "Only a driver's certificate has categories."
                )
            if data.kind == "pe_group" and data.pe_group is None:
                raise refused("pe_group_missing", "Name the physical-education group.")
        kid, private = await self.keys.signing_key(clinic)
        async with self.pool.acquire() as conn, conn.transaction():
            holder = await patients.card(conn, data.patient_id)
            if holder is None:
                raise not_found()
            if data.kind == "driver":
                concluded = await self._concluded(conn, data.patient_id, today)
                categories, restrictions = driver_decision(data.categories, concluded, today)
            until = valid_until(data.kind, categories, today, data.valid_until)
            clinic_name = await conn.fetchval("SELECT name FROM clinics WHERE id = $1", clinic)
            number = new_number(today.year, clinic)
            content: dict[str, Any] = {
                "v": 1,
                "n": number,
                "k": data.kind,
                "nm": holder.name,
                "dob": holder.birth_date.isoformat(),
                "cat": categories,
                "res": restrictions,
                "df": today.isoformat(),
                "du": until.isoformat(),
                "org": clinic_name,
            }
            if data.pe_group is not None:
                content["grp"] = data.pe_group
            expires = datetime.combine(until + timedelta(days=1), time(), UTC)
            qr = cose.encode_qr(
                private,
                kid,
                iss=self.city,
                iat=int(now.timestamp()),
                exp=int(expires.timestamp()),
                content=content,
            )
            certificate_id = await repo.insert_certificate(
                conn, data.patient_id, number, data.kind, clinic, doctor, principal.subject,
                holder.name, holder.birth_date, categories, restrictions, data.pe_group, today,
                until, now, kid, qr,
            )  # fmt: skip
            await record(conn, "issue", "certificate", certificate_id, data.patient_id)
            issued = CertificateIssued(
                certificate_id=certificate_id, patient_id=data.patient_id, number=number,
                kind=data.kind, pe_group=data.pe_group, valid_from=today, valid_until=until,
                at=now,
            )  # fmt: skip
            await write_event(
                conn, topic=TOPIC, payload=msgspec.json.encode(issued), clinic_id=clinic
            )
            rows = await repo.by_number(conn, number)
        return certificate_of(rows[0], today)

    async def revoke(self, principal: Principal, number: str, reason: str) -> Certificate:
        """A doctor of the issuing clinic revokes a certificate, with a reason."""
        if principal.role != "doctor" or principal.org is None:
            raise ProblemError(403, "forbidden", "A doctor of the issuing clinic revokes it.")
        reason = reason.strip()
        if not 5 <= len(reason) <= 500:
            raise refused(
                "reason_required", "Say why the certificate is revoked (5-500 characters)."
            )
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.lock_certificate(conn, number)
            if row is None or row["clinic_id"] != principal.org:
                raise not_found("certificate")
            if row["status"] == "revoked":
                raise ProblemError(409, "already_revoked", "This certificate is revoked already.")
            now = self.clock()
            await repo.revoke(conn, row["patient_id"], row["id"], now, reason, principal.subject)
            await record(conn, "revoke", "certificate", row["id"], row["patient_id"], reason=reason)
            await _revoked_event(
                conn, principal.org, row["patient_id"], row["id"], number, row["kind"], now
            )
            rows = await repo.by_number(conn, number)
        return certificate_of(rows[0], self.today())

    # -- reading ---------------------------------------------------------------------------

    async def of_patient(self, principal: Principal, patient_id: int) -> list[Certificate]:
        await self.records.reader_of(principal, patient_id)
        async with self.pool.acquire() as conn:
            rows = await repo.certificates_of(conn, patient_id)
            await record(conn, "read", "certificates", None, patient_id)
        today = self.today()
        return [certificate_of(r, today) for r in rows]

    async def one(self, principal: Principal, number: str) -> Certificate:
        """One certificate for its holder or a doctor who may read the record (404 else)."""
        rows = await repo.by_number(self.pool, number)
        if not rows:
            raise not_found("certificate")
        row = rows[0]
        await self.records.reader_of(principal, row["patient_id"])
        await record(self.pool, "read", "certificate", row["id"], row["patient_id"])
        return certificate_of(row, self.today())

    # -- the officer's check ---------------------------------------------------------------

    async def check(self, principal: Principal, data: VerifyIn, address: str | None) -> Check:
        """An officer's check of a QR or of a number with the birth date (rate-limited,
        audited with the place): the verdict and only what a traffic stop needs."""
        if self.limiter is not None:
            await self.limiter.admit(principal.sub, address)
        today = self.today()
        row: Any = None
        if data.qr is not None:
            verdict, content = await self._genuine(data.qr)
            if content is not None:
                # Its row by what was signed (the number, the holder's birth date), not by
                # the text: the same signature recompressed is the same certificate.
                row = next(
                    (r for r in await repo.by_number(self.pool, content.number)
                     if r["birth_date"] == content.birth_date),
                    None,
                )  # fmt: skip
                revoked = row is not None and row["status"] == "revoked"
                verdict = status_on(content.valid_from, content.valid_until, revoked, today)
        else:
            assert data.number is not None
            rows = await repo.by_number(self.pool, data.number.strip().upper())
            row = next((r for r in rows if r["birth_date"] == data.birth_date), None)
            content = None
            if row is None:
                verdict = "not_found"
                if self.limiter is not None:
                    await self.limiter.missed(principal.sub)
            else:
                trust = await self.keys.trust(bytes(row["kid"]))
                key = trust.keys.get(bytes(row["kid"]))
                if key is None or key.withdrawn is not None:
                    verdict = "key_withdrawn"
                else:
                    content = shown_of(row)
                    verdict = status_on(
                        row["valid_from"], row["valid_until"], row["status"] == "revoked", today
                    )
        await record(
            self.pool,
            "verify",
            "certificate",
            None if row is None else row["id"],
            None if row is None else row["patient_id"],
            reason=f"{data.place} ({verdict})",
        )
        return Check(verdict=verdict, certificate=content, checked="online")  # type: ignore[arg-type]

    async def _genuine(self, text: str) -> tuple[str, Shown | None]:
        """The QR against the trust list (read again at once for a key id not in it)."""
        try:
            parsed = cose.open_qr(text)
        except cose.Malformed:
            return "not_genuine", None
        verdict, content, _ = genuine(text, await self.keys.trust(parsed[0].kid), parsed)
        return verdict, content


async def pe_groups(conn: Any, patient_ids: Sequence[int], day: date) -> dict[int, PeGroupHeld]:
    """Of ``patient_ids``, each one's physical-education group valid on ``day`` (their
    latest certificate of kind ``pe_group``); not audited here: the caller audits what it
    shows."""
    rows = await repo.pe_groups(conn, patient_ids, day)
    return {
        r["patient_id"]: PeGroupHeld(
            patient_id=r["patient_id"],
            number=r["number"],
            pe_group=r["pe_group"],
            valid_from=r["valid_from"],
            valid_until=r["valid_until"],
        )  # fmt: skip
        for r in rows
    }
