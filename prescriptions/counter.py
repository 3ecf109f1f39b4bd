"""The pharmacy's counter: a prescription found by what its holder shows (the QR code,
its number with the birth date, or at a subsidised pharmacy the policy number), its
signature checked against what is stored, and dispensing by period, where the database
is the arbiter of what is left.

:class:`Counter` is the part of :class:`~prescriptions.service.Prescriptions` that the
counter uses; it reads the service's pool, signer, catalogue, city and clocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Literal

import asyncpg

from imias.identity import Principal
from imias.platform.audit import record
from imias.platform.problems import ProblemError
from imias.registry import Pharmacy, patients, pharmacy
from prescriptions import repository as repo
from prescriptions import rules
from prescriptions.formulary import Catalogue, Product
from prescriptions.model import (
    CounterView,
    DispenseIn,
    DispensingOut,
    Period,
    Prescription,
    ProductOption,
    ScanIn,
    Verification,
)
from prescriptions.refusals import refuse
from prescriptions.signing import Signer

Lang = Literal["ru", "en"]
PHARMACY_SECONDS = 60.0  # a pharmacy's row is read again after this long
FAILED_PROOFS = 20  # wrong numbers, birth dates or policies a pharmacist may type ...
WINDOW = 900.0  # ... in this many seconds (counted per server worker)


def product_option(product: Product, lang: Lang) -> ProductOption:
    en = lang == "en"
    return ProductOption(
        code=product.code,
        form=product.form_en if en else product.form_ru,
        strength=product.strength_text,
        dosage_unit=product.dosage_unit_en if en else product.dosage_unit_ru,
        pack=product.pack,
    )


class Counter:
    """The counter's use cases (a part of the service: see the module)."""

    pool: Any
    signer: Signer
    catalogue: Catalogue
    city: str
    today: Callable[[], date]
    clock: Callable[[], datetime]

    def _of_row(self, row: Any, periods: list[Period], *, with_code: bool = False) -> Prescription:
        raise NotImplementedError  # the service's

    _pharmacies: dict[int, tuple[float, Pharmacy | None]]
    _failed_proofs: dict[int, list[float]]

    async def _pharmacy(self, principal: Principal, lang: Lang) -> Pharmacy:
        """The caller's pharmacy (a small reference table: kept a minute in memory)."""
        found = None
        if principal.role == "pharmacist" and principal.org is not None:
            now = time.monotonic()
            kept = self._pharmacies.get(principal.org)
            if kept is None or kept[0] < now:
                kept = (now + PHARMACY_SECONDS, await pharmacy(self.pool, principal.org))
                self._pharmacies[principal.org] = kept
            found = kept[1]
        if found is None:
            raise refuse("no_pharmacy", lang)
        return found

    def content_of(self, row: Any, birth_date: date, periods: Sequence[Period]) -> bytes:
        """The signed bytes rebuilt from a stored prescription."""
        return rules.stored_content(
            self.city, row, birth_date, [(p.starts, p.ends, p.quantity) for p in periods]
        )

    async def _counter(self, row: Any, place: Pharmacy, lang: Lang) -> CounterView:
        """The counter's view of a :data:`~prescriptions.queries.COUNTER` row: the
        signature checked against the content rebuilt from what is stored now."""
        periods = repo.counter_periods(row)
        birth_date = row["patient_birth_date"]
        checked = await self.signer.verify(
            row["key_id"], self.content_of(row, birth_date, periods), bytes(row["signature"])
        )
        prescription = self._of_row(row, periods)
        today = self.today()
        due_number = rules.due_period([(p.period, p.starts, p.ends) for p in periods], today)
        due = next((p for p in periods if p.period == due_number), None)
        left = 0 if due is None else due.quantity - due.dispensed
        refusal: str | None = None
        prescriber = (checked.clinic_id, checked.doctor_id) == (row["clinic_id"], row["doctor_id"])
        if not checked.valid or not prescriber:  # valid, and by the prescriber's own key
            refusal = "signature_invalid"
        elif row["status"] == "cancelled":
            refusal = "cancelled"
        elif today > row["valid_until"]:
            refusal = "expired"
        elif row["benefit"] is not None and not place.subsidised:
            refusal = "not_subsidised_pharmacy"
        elif due is None:
            refusal = "period_not_due"
        elif left <= 0:
            refusal = "nothing_left"
        return CounterView(
            prescription=prescription,
            patient_name=row["patient_name"],
            patient_birth_date=birth_date,
            signature=Verification(
                valid=checked.valid and prescriber,
                key_id=checked.key_id,
                signer=prescription.doctor_name,
                reason=checked.reason if prescriber else "not_the_prescribers_key",
            ),
            due=due,
            left=max(left, 0),
            alternatives=[product_option(p, lang) for p in self._equivalents(row)],
            dispensings=repo.counter_dispensings(row),
            dispensable=refusal is None,
            refusal=refusal,
        )

    def _equivalents(self, row: Any) -> list[Product]:
        """What may be handed out for a prescription: the products of its INN in the
        same form and strength (a generic, never another dose)."""
        found = self.catalogue.product(row["product_code"])
        drug = self.catalogue.drugs.get(row["atc"])
        if found is None or drug is None:
            return []
        prescribed = found[1]
        return [
            p
            for p in drug.products
            if p.strength == prescribed.strength and p.dosage_unit_en == prescribed.dosage_unit_en
        ]

    def _attempts_left(self, principal: Principal, lang: Lang) -> None:
        """Refuse a pharmacist who typed too many wrong numbers or dates lately (429):
        a prescription's number with a birth date is guessable, its QR code is not."""
        now = time.monotonic()
        failed = [t for t in self._failed_proofs.get(principal.subject, []) if t > now - WINDOW]
        self._failed_proofs[principal.subject] = failed
        if len(failed) >= FAILED_PROOFS:
            raise refuse("too_many_attempts", lang)

    async def _failed(
        self, principal: Principal, number: int, patient_id: int | None, lang: Lang
    ) -> ProblemError:
        """A proof that did not match: counted against the pharmacist and audited (the
        holder sees the attempt in their access log); answers as a missing one."""
        self._failed_proofs.setdefault(principal.subject, []).append(time.monotonic())
        await record(self.pool, "proof_failed", "prescription", number, patient_id)
        return refuse("not_found", lang)

    async def _by_proof(
        self,
        principal: Principal,
        place: Pharmacy,
        prescription_id: int | None,
        *,
        code: str | None,
        birth_date: date | None,
        policy_number: str | None,
        lang: Lang,
    ) -> Any:
        """The counter's row of the prescription a pharmacist shows proof of: its code,
        or its number with the holder's birth date or (a subsidised pharmacy) policy
        number. No proof, no prescription; a wrong one answers as a missing one, is
        audited, and too many of them stop the pharmacist for a while."""
        if code is not None:
            try:
                number, signature = rules.parse_code(code, self.city)
            except rules.CodeError as exc:
                raise refuse(exc.code, lang) from None
            if prescription_id is not None and number != prescription_id:
                raise refuse("code_mismatch", lang)
            prescription_id = number
        elif prescription_id is None or (birth_date is None and policy_number is None):
            raise refuse("proof_required", lang)
        elif policy_number is not None and birth_date is None and not place.subsidised:
            raise refuse("not_subsidised_pharmacy", lang)
        if code is None:
            self._attempts_left(principal, lang)
        row = await repo.counter_row(self.pool, prescription_id)
        if code is not None:
            if row is None:
                raise refuse("not_found", lang)
            if bytes(row["signature"]) != signature:
                raise refuse("code_mismatch", lang)
            return row
        patient = None if row is None else row["patient_id"]
        if row is None or (
            row["patient_birth_date"] != birth_date
            if birth_date is not None
            else row["patient_policy"] != policy_number
        ):
            raise await self._failed(principal, prescription_id, patient, lang)
        return row

    async def scan(self, principal: Principal, scan: ScanIn, lang: Lang = "ru") -> CounterView:
        """A prescription at the counter, by its QR code (or number and birth date)."""
        place = await self._pharmacy(principal, lang)
        row = await self._by_proof(
            principal,
            place,
            None if scan.number is None else int(scan.number),
            code=scan.code,
            birth_date=scan.birth_date,
            policy_number=None,
            lang=lang,
        )
        view = await self._counter(row, place, lang)
        await record(self.pool, "read", "prescription", row["id"], row["patient_id"])
        return view

    async def by_policy(
        self, principal: Principal, policy_number: str, lang: Lang = "ru"
    ) -> list[CounterView]:
        """A subsidised pharmacy finds the holder's subsidised prescriptions by the
        insurance policy alone."""
        place = await self._pharmacy(principal, lang)
        if not place.subsidised:
            raise refuse("not_subsidised_pharmacy", lang)
        self._attempts_left(principal, lang)
        found = await patients.by_policy(self.pool, policy_number)
        if found is None:  # the same answer as a holder with none: a policy is not probed
            self._failed_proofs.setdefault(principal.subject, []).append(time.monotonic())
            await record(self.pool, "read", "subsidised_prescriptions", None, None)
            return []
        rows = await repo.subsidised_of_patient(self.pool, found.id, self.today())
        views = []
        for listed in rows:
            row = await repo.counter_row(self.pool, listed["id"])
            if row is not None:
                views.append(await self._counter(row, place, lang))
        await record(self.pool, "read", "subsidised_prescriptions", found.id, found.id)
        return views

    async def dispense(
        self, principal: Principal, prescription_id: int, dispense: DispenseIn, lang: Lang = "ru"
    ) -> tuple[DispensingOut, bool]:
        """Hand out ``dispense.quantity`` of the period due: (the dispensing, whether it
        is new; a retried request id gives the first one back). The database refuses a
        quantity above what is left, whoever dispensed the rest a moment before."""
        place = await self._pharmacy(principal, lang)
        row = await self._by_proof(
            principal,
            place,
            prescription_id,
            code=dispense.code,
            birth_date=dispense.birth_date,
            policy_number=dispense.policy_number,
            lang=lang,
        )
        patient = row["patient_id"]
        product = dispense.product or row["product_code"]
        if dispense.request_id is not None:
            earlier = await repo.dispensing_of_request(self.pool, patient, dispense.request_id)
            if earlier is not None:
                return self._same_request(earlier, prescription_id, dispense, product, lang)
        view = await self._counter(row, place, lang)
        if view.refusal is not None and view.refusal != "nothing_left":
            raise refuse(view.refusal, lang)
        assert view.due is not None
        if dispense.period != view.due.period:
            raise refuse("period_not_due", lang, due=view.due.period)
        if product not in {p.code for p in self._equivalents(row)}:
            raise refuse("not_equivalent", lang)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                out = await repo.dispense(
                    conn,
                    patient,
                    prescription_id,
                    dispense.period,
                    dispense.quantity,
                    place.id,
                    principal.subject,
                    product,
                    dispense.request_id,
                    self.clock(),
                )
                if out is None:
                    left = await repo.left_in_period(
                        conn, patient, prescription_id, dispense.period
                    )
                    raise refuse("nothing_left" if left <= 0 else "more_than_left", lang, left=left)
                await record(conn, "dispense", "prescription", prescription_id, patient)
        except asyncpg.UniqueViolationError:  # the same request, retried at the same moment
            assert dispense.request_id is not None
            earlier = await repo.dispensing_of_request(self.pool, patient, dispense.request_id)
            assert earlier is not None
            return self._same_request(earlier, prescription_id, dispense, product, lang)
        return out, True

    @staticmethod
    def _same_request(
        earlier: DispensingOut,
        prescription_id: int,
        dispense: DispenseIn,
        product: str,
        lang: Lang,
    ) -> tuple[DispensingOut, bool]:
        """A retried request answers with its first dispensing; a request id used for
        another dispensing is refused, never taken for it."""
        if (earlier.prescription_id, earlier.period, earlier.quantity, earlier.product_code) != (
            prescription_id,
            dispense.period,
            dispense.quantity,
            product,
        ):
            raise refuse("request_id_reused", lang)
        return earlier, False
