"""The use cases of prescriptions: the doctor's checks, signature and cancellation, the
patient's list and QR code (the pharmacy's counter is :mod:`prescriptions.counter`).

Whose prescriptions a caller reaches: the patient their own and a linked child's; a
doctor those of patients whose record she may read (the record's access rule,
:meth:`ehr.Records.reader_of`); a pharmacist one prescription at a time, by its code, by
its number with the holder's birth date, or (a subsidised pharmacy) the subsidised ones
by the holder's policy number. Every read and write is audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal

import asyncpg
import msgspec

from ehr import Records
from imias.identity import Identity, Principal
from imias.platform.audit import record
from imias.platform.problems import ProblemError
from imias.registry import PatientCard, patients
from prescriptions import repository as repo
from prescriptions import rules
from prescriptions.counter import Counter, product_option
from prescriptions.formulary import Catalogue, Drug, Product
from prescriptions.model import (
    CheckOut,
    DispensingRecord,
    DrugOption,
    Finding,
    Period,
    Prescription,
    PrescriptionIn,
    State,
)
from prescriptions.refusals import refuse
from prescriptions.signing import Signer

Lang = Literal["ru", "en"]


def drug_text(drug: Drug, product: Product) -> str:
    return f"{drug.inn_ru}, {product.form_ru}, {product.strength_text}"


class Prescriptions(Counter):
    """Prescriptions over the pool; ``catalogue`` is the one held in memory. The
    pharmacy's counter (scan, find by policy, dispense) is :class:`~.counter.Counter`."""

    def __init__(
        self,
        pool: Any,
        identity: Identity,
        records: Records,
        signer: Signer,
        catalogue: Catalogue,
        *,
        city: str,
        today: Callable[[], date],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.pool = pool
        self.identity = identity
        self.records = records
        self.signer = signer
        self.catalogue = catalogue
        self.city = city
        self.today = today
        self.clock = clock or (lambda: datetime.now(UTC))
        self._pharmacies = {}
        self._failed_proofs = {}

    # -- the catalogue -----------------------------------------------------------------

    def drugs(self, query: str, limit: int, lang: Lang) -> list[DrugOption]:
        en = lang == "en"
        return [
            DrugOption(
                atc=drug.atc,
                inn=drug.inn,
                name=drug.inn if en else drug.inn_ru,
                matched=matched,
                trade_names=drug.trade_names,
                subsidised=drug.subsidised,
                products=[product_option(p, lang) for p in drug.products],
            )
            for drug, matched in self.catalogue.search(query, limit)
        ]

    def _product(self, code: str, lang: Lang) -> tuple[Drug, Product]:
        found = self.catalogue.product(code)
        if found is None:
            raise refuse("unknown_drug", lang, product=code)
        return found

    # -- prescribing -------------------------------------------------------------------

    async def _assess(
        self, principal: Principal, encounter_id: int, rx: PrescriptionIn, lang: Lang
    ) -> tuple[Any, PatientCard, Drug, Product, list[Finding], list[tuple[date, date]], int]:
        """The facts and the checks' findings of ``rx`` in the doctor's visit."""
        drug, product = self._product(rx.product, lang)
        ctx = await self.records.prescribing_context(principal, encounter_id, lang)
        card = await patients.card(self.pool, ctx.patient_id)
        if card is None:
            raise refuse("not_found", lang)
        today = self.today()
        async with self.pool.acquire() as conn:
            active = await repo.active_atc(conn, ctx.patient_id, today)
            benefits = await repo.benefits(conn, ctx.patient_id, today)
        findings = rules.check(
            self.catalogue,
            drug,
            product,
            rx,
            age=rules.age_on(card.birth_date, today),
            allergies=ctx.allergies,
            active=active,
            lang=lang,
        )
        if rx.benefit is not None:
            if not drug.subsidised:
                raise refuse("not_subsidised_drug", lang)
            if rx.benefit not in benefits or not self.catalogue.covered(rx.benefit, drug.atc):
                raise refuse("no_benefit", lang, benefits=benefits)
        try:
            spans = rules.periods(
                today,
                rx.schedule,
                rx.months,
                subsidised=rx.benefit is not None,
                chronic=ctx.chronic,
            )
        except rules.ValidityError as exc:
            raise refuse(exc.code, lang) from None
        return ctx, card, drug, product, findings, spans, rules.quantity_of(rx)

    async def check(
        self, principal: Principal, encounter_id: int, rx: PrescriptionIn, lang: Lang = "ru"
    ) -> CheckOut:
        """What the checks find, before signing (nothing is written but the audit)."""
        _, _, _, _, findings, spans, quantity = await self._assess(
            principal, encounter_id, rx, lang
        )
        return CheckOut(
            findings=findings,
            blocked=rules.blocked(findings),
            quantity=quantity,
            valid_until=spans[-1][1],
            periods=len(spans),
        )

    async def prescribe(
        self, principal: Principal, encounter_id: int, rx: PrescriptionIn, lang: Lang = "ru"
    ) -> Prescription:
        """Check, sign and store ``rx``; a contraindicated finding needs the override's
        reason (each override is audited)."""
        ctx, card, drug, product, findings, spans, quantity = await self._assess(
            principal, encounter_id, rx, lang
        )
        blocking = [f for f in findings if f.severity == "contraindicated"]
        if blocking and rx.override_reason is None:
            raise refuse("contraindicated", lang, findings=msgspec.to_builtins(findings))
        assert principal.doc is not None and principal.org is not None
        today = spans[0][0]  # the city's day the checks ran on, even past midnight since
        key_id = await self.signer.key_id(principal.org, principal.doc)
        async with self.pool.acquire() as conn:
            number = await repo.next_id(conn)
        # The columns the signature covers, as they will be stored: the counter rebuilds
        # the signed bytes from the stored row with the same function.
        signed = {
            "id": number,
            "patient_id": ctx.patient_id,
            "atc": drug.atc,
            "inn": drug.inn,
            "product_code": product.code,
            "drug_text": drug_text(drug, product),
            "dose": rules.dose_text(rx.dose),
            "per_day": rx.per_day,
            "days": rx.days,
            "quantity": quantity,
            "schedule": rx.schedule,
            "benefit": rx.benefit,
            "instructions": rx.instructions,
            "issued_on": today,
            "valid_until": spans[-1][1],
            "doctor_id": principal.doc,
            "clinic_id": principal.org,
            "key_id": key_id,
        }
        body = rules.stored_content(
            self.city, signed, card.birth_date, [(s, e, quantity) for s, e in spans]
        )
        signed_key, signature = await self.signer.sign(principal.org, principal.doc, body)
        if signed_key != key_id:  # the key changed between the two calls: sign again
            raise ProblemError(503, "key_changed", "The signing key changed; try again.")
        now = self.clock()
        overrides = (
            [
                {"check": f.check, "message": f.message, "reason": rx.override_reason}
                for f in blocking
            ]
            if blocking
            else None
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await repo.insert(
                conn,
                signed["patient_id"],
                number,
                encounter_id,
                signed["clinic_id"],
                signed["doctor_id"],
                principal.subject,
                signed["atc"],
                signed["inn"],
                signed["product_code"],
                signed["drug_text"],
                signed["dose"],
                signed["per_day"],
                signed["days"],
                signed["quantity"],
                signed["schedule"],
                signed["benefit"],
                signed["issued_on"],
                signed["valid_until"],
                signed["instructions"],
                None if overrides is None else repo.overrides_json(overrides),
                self.catalogue.version,
                key_id,
                signature,
                now,
            )
            await repo.insert_periods(conn, ctx.patient_id, number, spans, quantity)
            await record(conn, "create", "prescription", number, ctx.patient_id)
            for finding in blocking:
                await record(
                    conn,
                    "override",
                    f"prescription_{finding.check}",
                    number,
                    ctx.patient_id,
                    reason=rx.override_reason,
                )
            row = await repo.prescription(conn, number)
            assert row is not None
            out = (await self._full(conn, [row], lang))[0]
        return msgspec.structs.replace(out, findings=findings)

    async def cancel(
        self, principal: Principal, prescription_id: int, reason: str, lang: Lang = "ru"
    ) -> Prescription:
        """Cancel a prescription the calling doctor wrote; pharmacies see it at once."""
        row = await repo.prescription(self.pool, prescription_id)
        if row is None or row["clinic_id"] != principal.org:
            raise refuse("not_found", lang)
        if row["doctor_id"] != principal.doc:
            raise refuse("not_author", lang)
        async with self.pool.acquire() as conn, conn.transaction():
            if not await repo.cancel(
                conn, row["patient_id"], prescription_id, self.clock(), reason
            ):
                raise refuse("already_cancelled", lang)
            await record(
                conn, "cancel", "prescription", prescription_id, row["patient_id"], reason=reason
            )
            fresh = await repo.prescription(conn, prescription_id)
            assert fresh is not None
            return (await self._full(conn, [fresh], lang))[0]

    async def current(self, patient_id: int, lang: str) -> list[str]:
        """The patient's current medications, a line each, for the record's card (its
        reader is checked and audited by the card)."""
        rows = await repo.current(self.pool, patient_id, self.today())
        if lang == "en":
            return [
                f"{r['inn']}: {float(r['dose']):g} x {r['per_day']} a day, "
                f"until {r['valid_until']:%Y-%m-%d}"
                for r in rows
            ]
        return [
            f"{r['drug_text']}: {float(r['dose']):g} × {r['per_day']} в день, "
            f"до {r['valid_until']:%d.%m.%Y}"
            for r in rows
        ]

    # -- reading -----------------------------------------------------------------------

    def _state(self, row: Any, periods: Sequence[Period]) -> State:
        if row["status"] == "cancelled":
            return "cancelled"
        if periods and all(p.dispensed >= p.quantity for p in periods):
            return "dispensed"
        if self.today() > row["valid_until"]:
            return "expired"
        return "active"

    async def _full(
        self, conn: Any, rows: Sequence[Any], lang: Lang, *, with_code: bool = False
    ) -> list[Prescription]:
        if not rows:
            return []
        by_patient: dict[int, list[int]] = {}
        for r in rows:
            by_patient.setdefault(r["patient_id"], []).append(r["id"])
        periods: dict[int, list[Period]] = {}
        for patient, ids in by_patient.items():
            periods.update(await repo.periods(conn, patient, ids))
        return [self._of_row(r, periods.get(r["id"], []), with_code=with_code) for r in rows]

    def _of_row(self, row: Any, periods: list[Period], *, with_code: bool = False) -> Prescription:
        return Prescription(
            id=row["id"],
            number=str(row["id"]),
            patient_id=row["patient_id"],
            encounter_id=row["encounter_id"],
            clinic_id=row["clinic_id"],
            doctor_id=row["doctor_id"],
            doctor_name=row["doctor_name"] or "",
            atc=row["atc"],
            inn=row["inn"],
            drug=row["drug_text"],
            product_code=row["product_code"],
            dose=float(row["dose"]),
            per_day=row["per_day"],
            days=row["days"],
            quantity=row["quantity"],
            schedule=row["schedule"],
            benefit=row["benefit"],
            issued_on=row["issued_on"],
            valid_until=row["valid_until"],
            instructions=row["instructions"],
            state=self._state(row, periods),
            periods=periods,
            cancel_reason=row["cancel_reason"],
            code=(
                rules.code_of(self.city, row["id"], bytes(row["signature"])) if with_code else None
            ),
        )

    async def _patient_reach(self, principal: Principal, patient_id: int) -> None:
        """A patient reaches their own and a linked child's; a doctor by the record's
        rule; anyone else nothing (404)."""
        if principal.role in ("patient", "doctor"):
            await self.records.reader_of(principal, patient_id)
            return
        raise ProblemError(404, "not_found", "There is no such patient.")

    async def of_patient(
        self,
        principal: Principal,
        patient_id: int,
        lang: Lang = "ru",
        limit: int = 50,
        before: tuple[date, int] | None = None,
    ) -> list[Prescription]:
        """A patient's prescriptions, newest first (with the QR code's text for the
        patient)."""
        await self._patient_reach(principal, patient_id)
        async with self.pool.acquire() as conn:
            rows = await repo.of_patient(conn, patient_id, limit, before)
            out = await self._full(conn, rows, lang, with_code=principal.role == "patient")
            await record(conn, "read", "prescriptions", patient_id, patient_id)
        return out

    async def of_encounter(
        self, principal: Principal, patient_id: int, encounter_id: int, lang: Lang = "ru"
    ) -> list[Prescription]:
        """The prescriptions written in one visit of the patient, newest first."""
        await self._patient_reach(principal, patient_id)
        async with self.pool.acquire() as conn:
            rows = await repo.of_encounter(conn, patient_id, encounter_id)
            out = await self._full(conn, rows, lang, with_code=principal.role == "patient")
            await record(conn, "read", "prescriptions", encounter_id, patient_id)
        return out

    async def one(
        self, principal: Principal, prescription_id: int, lang: Lang = "ru"
    ) -> Prescription:
        row = await repo.prescription(self.pool, prescription_id)
        if row is None:
            raise refuse("not_found", lang)
        try:
            await self._patient_reach(principal, row["patient_id"])
        except ProblemError as exc:
            if principal.role == "doctor" and exc.status == 403:
                raise
            raise refuse("not_found", lang) from None
        async with self.pool.acquire() as conn:
            out = (await self._full(conn, [row], lang, with_code=principal.role == "patient"))[0]
            await record(conn, "read", "prescription", prescription_id, row["patient_id"])
        return out

    async def search(
        self,
        principal: Principal,
        patient_id: int,
        *,
        status: str | None = None,
        since: date | None = None,
        until: date | None = None,
        before: tuple[date, int] | None = None,
        limit: int = 20,
        lang: Lang = "ru",
    ) -> list[Prescription]:
        """One page of a patient's prescriptions (FHIR's search): of a FHIR status
        (:data:`repo.fhir_requests`), issued in the days [since, until), newest first
        below the keyset ``before`` (issued_on, id)."""
        await self._patient_reach(principal, patient_id)
        async with self.pool.acquire() as conn:
            rows = await repo.fhir_requests(
                conn, patient_id, before, since, until, status, self.today(), limit
            )
            out = await self._full(conn, rows, lang)
            await record(conn, "read", "fhir_medicationrequest", "search", patient_id)
        return out

    async def dispensing(self, principal: Principal, dispensing_id: int) -> DispensingRecord:
        """One dispensing, to those who may read its prescription."""
        found = await repo.dispensing(self.pool, dispensing_id)
        if found is None:
            raise ProblemError(404, "not_found", "There is no such dispensing.")
        try:
            await self._patient_reach(principal, found.patient_id)
        except ProblemError as exc:
            if principal.role == "doctor" and exc.status == 403:
                raise
            raise ProblemError(404, "not_found", "There is no such dispensing.") from None
        await record(self.pool, "read", "dispensing", dispensing_id, found.patient_id)
        return found

    async def dispensings(
        self,
        principal: Principal,
        patient_id: int | None,
        prescription_id: int | None = None,
        below: int | None = None,
        limit: int = 20,
    ) -> list[DispensingRecord]:
        """One page of a patient's dispensings, or a prescription's (its patient's when
        ``patient_id`` is None), newest first below the id ``below``."""
        if patient_id is None:
            assert prescription_id is not None
            row = await repo.prescription(self.pool, prescription_id)
            if row is None:
                return []
            patient_id = row["patient_id"]
            try:
                await self._patient_reach(principal, patient_id)
            except ProblemError:
                if principal.role == "patient":  # another's: as a prescription with none
                    return []
                raise
        else:
            await self._patient_reach(principal, patient_id)
        async with self.pool.acquire() as conn:
            found = await repo.fhir_dispensings(conn, patient_id, prescription_id, below, limit)
            await record(conn, "read", "fhir_medicationdispense", "search", patient_id)
        return found


async def refresh_catalogue(service: Prescriptions, every: float = 60.0) -> None:
    """Keep the newest imported catalogue in memory (``imias catalogue import`` reaches
    every worker within ``every`` seconds)."""
    while True:
        await asyncio.sleep(every)
        try:
            latest = await repo.latest_catalogue(service.pool)
        except (OSError, asyncpg.PostgresError):
            continue
        if latest is not None and latest[0] != service.catalogue.version:
            service.catalogue = Catalogue.decode(latest[1])
