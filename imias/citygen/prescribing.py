"""The city's pharmacies, its patients' benefit categories and, with the medical history,
the prescriptions written at the past visits and what the pharmacies dispensed of them.

Pharmacies: over the okrugs by population like the clinics, scaled with them (the full
city's 678 clinics: 1,574 pharmacies, 351 of them subsidised city pharmacies, 1,223
commercial); pharmacy 1 is a subsidised one (``pharmacist.1`` works there), the first
commercial one is ``pharmacist.2``'s (:data:`imias.citygen.city.OTHER_STAFF`).

Benefits (``patient_benefits``): the categories of the catalogue
(:meth:`prescriptions.Catalogue.bundled`). A general category (one that covers the whole
subsidised list: disability groups, veterans) for a share of the patients that grows
with age (:data:`GENERAL_BENEFIT`), the children's categories by age
(:data:`CHILD_BENEFIT`), fixed by a hash of the seed and the patient, so it needs no
memory; a disease category (diabetes, asthma: :data:`DISEASE_CODES`) for most patients
whose seeded record has the disease, from the visit that records it.

Prescriptions (with ``history_days`` and the records): at some completed visits with a
chronic diagnosis, a drug of the catalogue that treats it (:data:`DRUGS_FOR`), as
:meth:`prescriptions.Prescriptions.prescribe` would write it: the checks of
:func:`prescriptions.rules.check` pass (no allergy, interaction or duplicate therapy is
seeded), the periods and the validity are :func:`prescriptions.rules.periods`', free
under the patient's benefit where the category covers the drug, a few long-term monthly.
Each is signed for real: the prescribing doctor gets a key from
:class:`prescriptions.LocalAuthority` over the deployment's secret (the one the server
resolves), and signs :func:`prescriptions.rules.stored_content` of the very row loaded,
which is what the counter rebuilds and checks. Then the pharmacies: some dispensed in
full, some in part, some never (they expire), month by month for the long-term ones;
never more than a period's quantity, never after the city's today.

Deterministic, as the rest of the city, but for the keys and so the signatures.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from imias.citygen import catalogue as cat
from imias.citygen import city as citygen
from imias.citygen.history import PG_EPOCH
from imias.citygen.records import _hash01, _share
from imias.platform.dates import add_months
from prescriptions import Catalogue, LocalAuthority, PrescriptionIn, drug_text, rules

#: The full city's pharmacies against its 678 clinics.
FULL_CLINICS, FULL_PHARMACIES, FULL_SUBSIDISED = 678, 1_574, 351
PHARMACY_COLUMNS = ("id", "name", "address", "district", "lat", "lon", "subsidised")
BENEFIT_COLUMNS = ("patient_id", "category", "valid_from", "valid_to")
PRESCRIPTION_COLUMNS = (
    "patient_id", "id", "encounter_id", "clinic_id", "doctor_id", "author_id", "atc", "inn",
    "product_code", "drug_text", "dose", "per_day", "days", "quantity", "schedule", "benefit",
    "issued_on", "valid_until", "instructions", "catalogue", "key_id", "signature", "signed_at",
)  # fmt: skip
PERIOD_COLUMNS = (
    "patient_id", "prescription_id", "period", "starts", "ends", "quantity", "dispensed",
)  # fmt: skip
DISPENSING_COLUMNS = (
    "patient_id", "id", "prescription_id", "period", "pharmacy_id", "pharmacist_id",
    "product_code", "quantity", "dispensed_at",
)  # fmt: skip
KEY_COLUMNS = (
    "id", "clinic_id", "doctor_id", "public_key", "certificate", "private_key", "issued_at",
)  # fmt: skip
#: The tables a history of prescriptions loads, parents first.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("signing_keys", KEY_COLUMNS),
    ("patient_benefits", BENEFIT_COLUMNS),
    ("prescriptions", PRESCRIPTION_COLUMNS),
    ("prescription_periods", PERIOD_COLUMNS),
    ("dispensings", DISPENSING_COLUMNS),
)

_CHAINS = ("Здоровье", "Панацея", "Лекарь", "Вита", "Гармония", "Семейная", "Фарма+", "Доктор")

#: Share of adults with a general benefit category (a disability group; a war invalid
#: from 80), by age (upper age, share): about one adult in eight, many more of the elderly.
GENERAL_BENEFIT = ((44, 0.05), (59, 0.10), (74, 0.25), (150, 0.42))
#: The catalogue's categories of children (code: below this age, share of those children).
CHILD_BENEFIT = {"DET3": (3, 0.95), "MNOG": (6, 0.12), "084": (18, 0.02)}
WAR_INVALID, WAR_AGE = "010", 80
#: The catalogue's disease categories (code: the ICD-10 codes or prefixes of the disease),
#: given only to patients whose record has the disease; a catalogue's other categories
#: with ``covers`` count as a disease's by the drugs (:data:`DISEASE_DRUGS`).
DISEASE_CODES: dict[str, tuple[str, ...]] = {
    "DDM": ("E10", "E11"),
    "DBA": ("J45",),
    "DEPI": ("G40",),
    "DMI": ("I21", "I22"),
    "DVALVE": ("Z95.2",),
}
DISEASE_DRUGS = {"E10": "A10", "E11": "A10", "J45": "R03"}
DISEASE_BENEFIT = 0.85  # of the patients whose record has the disease


def disease_categories(catalogue: Catalogue) -> dict[str, tuple[str, ...]]:
    """The catalogue's disease categories with the ICD-10 codes (prefixes) of each."""
    out = {code: icd for code, icd in DISEASE_CODES.items() if code in catalogue.benefits}
    for icd, atc_class in DISEASE_DRUGS.items():
        if any(icd in codes for codes in out.values()):
            continue
        for b in sorted(catalogue.benefits.values(), key=lambda b: b.code):
            if any(atc_class.startswith(c) or c.startswith(atc_class) for c in b.covers):
                out[b.code] = (*out.get(b.code, ()), icd)
                break
    return out


#: A chronic diagnosis (ICD-10 code or its prefix) -> drugs that treat it (ATC), those
#: of the catalogue used.
DRUGS_FOR: dict[str, tuple[str, ...]] = {
    "I10": ("C08CA01", "C09AA02", "C09CA01", "C07AB07", "C03CA01"),
    "I11": ("C09AA02", "C09CA01", "C07AB07", "C08CA01"),
    "I25": ("C10AA05", "C10AA01", "C07AB07"),
    "I20": ("C07AB07", "C10AA05"),
    "I48": ("C07AB07", "B01AA03"),
    "E10": ("A10AB05", "A10AE04"),
    "E11": ("A10BA02", "A10BB09", "A10BH01"),
    "E78": ("C10AA05", "C10AA01"),
    "E03": ("H03AA01",),
    "J45": ("R03AC02", "R03BA02"),
    "J44": ("R03BB04", "R03AC02"),
    "K29": ("A02BC01",),
    "K21": ("A02BC01",),
    "N40": ("G04CA02",),
    "M81": ("M05BA04",),
    "J30": ("R06AE07",),
    "H40": ("S01ED01",),
    "M10": ("M04AA01",),
}
#: (dosage units an intake, intakes a day) by ATC; others: one, once a day.
REGIMEN: dict[str, tuple[float, int]] = {
    "A10BA02": (1, 2),
    "C09AA02": (1, 2),
    "R03AC02": (2, 2),
    "R03BA02": (1, 2),
    "A10AB05": (8, 3),
    "A10AE04": (20, 1),
}
PRESCRIBE = 0.6  # chance a chronic diagnosis of a visit gets a prescription
MONTHLY = 0.08  # of those, long-term, dispensed month by month
FULLY, PARTLY = 0.6, 0.15  # dispensed in full, in part (the rest never: active, expired)
_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000
_MOSCOW_US = 3 * _HOUR_US  # the city's zone keeps no summer time
_EPOCH_ORDINAL = PG_EPOCH.date().toordinal()


@dataclass(frozen=True, slots=True)
class Pharmacy:
    id: int
    name: str
    address: str
    district: cat.District
    lat: float
    lon: float
    subsidised: bool

    def row(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.name,
            self.address,
            self.district.code,
            self.lat,
            self.lon,
            self.subsidised,
        )


def pharmacy_counts(clinics: int) -> tuple[int, int]:
    """(subsidised, commercial) pharmacies of a city of ``clinics`` clinics: the full
    city's proportions, at least one of each."""
    total = max(2, round(clinics * FULL_PHARMACIES / FULL_CLINICS))
    subsidised = min(total - 1, max(1, round(clinics * FULL_SUBSIDISED / FULL_CLINICS)))
    return subsidised, total - subsidised


def plan_pharmacies(clinics: int, rng: random.Random, pools: citygen.NamePools) -> list[Pharmacy]:
    """The city's pharmacies over the okrugs by population (each okrug one first when
    there are enough); pharmacy 1 subsidised, pharmacy 2 commercial."""
    subsidised, commercial = pharmacy_counts(clinics)
    total = subsidised + commercial
    kinds = [True] * subsidised + [False] * commercial
    rng.shuffle(kinds)
    # The demo pharmacists' places: 1 a city pharmacy, 2 a commercial one.
    kinds.remove(True)
    kinds.remove(False)
    kinds[:0] = [True, False]
    per_district = citygen.apportion(total, [d.population for d in cat.DISTRICTS], minimum=1)
    places = [d for d, count in zip(cat.DISTRICTS, per_district, strict=True) for _ in range(count)]
    numbers = {True: 0, False: 0}
    out: list[Pharmacy] = []
    for district, kind in zip(places, kinds, strict=True):
        numbers[kind] += 1
        name = (
            f"Городская аптека № {numbers[kind]}"
            if kind
            else f"Аптека «{_CHAINS[numbers[kind] % len(_CHAINS)]}» № {numbers[kind]}"
        )
        out.append(
            Pharmacy(
                id=len(out) + 1,
                name=name,
                address=citygen._address(district, rng, pools.streets),
                district=district,
                lat=round(rng.triangular(*district.lat_range, district.lat), 6),
                lon=round(rng.triangular(*district.lon_range, district.lon), 6),
                subsidised=kind,
            )
        )
    return out


class Benefits:
    """The patients' general benefit categories, each a pure function of (seed, patient,
    birth date): made for every patient batch, asked again when prescribing."""

    def __init__(self, catalogue: Catalogue, seed: int, start: date) -> None:
        disease = disease_categories(catalogue)
        self._children = {c: v for c, v in CHILD_BENEFIT.items() if c in catalogue.benefits}
        self._adults = sorted(
            code
            for code, b in catalogue.benefits.items()
            if not b.covers
            and code not in disease
            and code not in CHILD_BENEFIT
            and code != WAR_INVALID
        )
        self._war = WAR_INVALID if WAR_INVALID in catalogue.benefits else None
        self._seed = seed
        self._start = start

    def general(self, pid: int, birth: date) -> tuple[str, date, date | None] | None:
        """(category, valid from, valid to) of the patient's category that is not a
        disease's (a child's, a disability group, a war invalid), if any."""
        age = rules.age_on(birth, self._start)
        draw = _hash01(self._seed, pid, 21)
        if age < cat.ADULT_AGE:
            for code, (below, share) in self._children.items():
                if age < below and draw < share:
                    until = add_months(birth, 12 * below) - timedelta(days=1)
                    return code, birth, None if code == "084" else until
            return None
        if draw >= _share(age, GENERAL_BENEFIT):
            return None
        choices = self._adults + ([self._war] if self._war and age >= WAR_AGE else [])
        if not choices:
            return None
        category = choices[int(_hash01(self._seed, pid, 22) * len(choices))]
        years = max(1, min(age - cat.ADULT_AGE, 20))
        since = int(_hash01(self._seed, pid, 23) * 365 * years)
        valid_from = max(birth, self._start - timedelta(days=30 + since))
        # One in five is granted for a term and reviewed (a disability group).
        to = _hash01(self._seed, pid, 24)
        valid_to = self._start + timedelta(days=int(to * 5 * 365)) if to < 0.2 else None
        return category, valid_from, valid_to

    def rows(self, patients: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The benefit rows of a batch of patient rows (the seed's PATIENT_COLUMNS)."""
        out = []
        for p in patients:
            found = self.general(p[0], p[5])
            if found is not None:
                out.append((p[0], *found))
        return out


def _wire(at: datetime) -> tuple[int]:
    return ((at - PG_EPOCH) // timedelta(microseconds=1),)


class PrescriptionStream:
    """The prescriptions of the past visits, a batch of records at a time (the records'
    rows as :class:`imias.citygen.records.RecordsStream` makes them, with ``wire``
    times)."""

    def __init__(
        self,
        catalogue: Catalogue,
        benefits: Benefits,
        authority: LocalAuthority,
        *,
        city: str,
        clinics: Sequence[citygen.Clinic],
        pharmacies: Sequence[Pharmacy],
        pharmacists: tuple[int, int],
        birth: Any,
        start: date,
        history_days: int,
        seed: int,
    ) -> None:
        """``pharmacists``: the staff ids of the subsidised and the commercial pharmacy's
        demo pharmacist (who the dispensings are written by); ``birth``: the patients'
        birth dates as ordinals by id (:class:`imias.citygen.history.PatientIndex`)."""
        self._catalogue = catalogue
        self._benefits = benefits
        self._authority = authority
        self._city = city
        self._birth = birth
        self._start = start
        self._today = start.toordinal()
        self._rng = random.Random(f"imias-prescriptions-{seed}")
        self._pharmacists = pharmacists
        self._keys: dict[tuple[int, int], tuple[str, Any]] = {}
        self._key_issued = datetime.combine(
            start - timedelta(days=history_days + 1), datetime.min.time(), PG_EPOCH.tzinfo
        ) + timedelta(hours=5)
        self._drugs: dict[str, list[tuple[Any, list[Any], float, int]]] = {}
        for code, atcs in DRUGS_FOR.items():
            options = []
            for atc in atcs:
                drug = catalogue.drugs.get(atc)
                if drug is None:
                    continue
                dose, per_day = REGIMEN.get(atc, (1, 1))
                fits = [p for p in drug.products if dose * per_day * p.strength <= drug.max_daily]
                if fits:
                    options.append((drug, fits, dose, per_day))
            if options:
                self._drugs[code] = options
        self._disease = [
            (prefix, category)
            for category, prefixes in disease_categories(catalogue).items()
            for prefix in prefixes
        ]
        district_of = {c.id: c.district.code for c in clinics}
        near: dict[tuple[str, bool], list[int]] = {}
        for p in pharmacies:
            near.setdefault((p.district.code, p.subsidised), []).append(p.id)
        anywhere = {k: [p.id for p in pharmacies if p.subsidised == k] for k in (True, False)}
        self._near = {
            (clinic, kind): near.get((district, kind)) or anywhere[kind]
            for clinic, district in district_of.items()
            for kind in (True, False)
        }
        self._given: dict[int, dict[str, date]] = {}  # disease categories given: from
        self._active: dict[int, dict[str, int]] = {}  # patient -> atc -> valid until
        self._allergies: dict[int, list[tuple[str, str]]] = {}
        self.last_prescription = 0
        self.last_dispensing = 0
        self.counts = {name: 0 for name, _ in TABLES}

    # -- helpers ------------------------------------------------------------------------

    def _key(self, clinic_id: int, doctor_id: int, out: dict[str, list[Any]]) -> tuple[str, Any]:
        found = self._keys.get((clinic_id, doctor_id))
        if found is None:
            row, private = self._authority.new_key(clinic_id, doctor_id, self._key_issued)
            out["signing_keys"].append((*row[:-1], _wire(row[-1])))
            found = self._keys[(clinic_id, doctor_id)] = (row[0], private)
        return found

    def _categories(self, pid: int, birth: date, day: date) -> list[str]:
        """The patient's benefit categories valid on ``day``."""
        out = [c for c, since in self._given.get(pid, {}).items() if since <= day]
        general = self._benefits.general(pid, birth)
        if general is not None and general[1] <= day and (general[2] is None or day <= general[2]):
            out.append(general[0])
        return out

    def _options(self, code: str) -> list[tuple[Any, list[Any], float, int]]:
        return self._drugs.get(code) or self._drugs.get(code[:3]) or []

    # -- a batch ------------------------------------------------------------------------

    def batch(self, records: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
        """The rows of the prescriptions (and keys, disease benefits, dispensings) of a
        batch of records."""
        out: dict[str, list[Any]] = {name: [] for name, _ in TABLES}
        for a in records["allergies"]:
            self._allergies.setdefault(a[0], []).append((a[4], a[4]))
        chronic: dict[int, list[tuple[str, date]]] = {}
        for c in records["conditions"]:
            if c[6] == "chronic":
                chronic.setdefault(c[2], []).append((c[4], c[9]))
        for e in records["encounters"]:
            found = chronic.get(e[1])
            if found and e[11] is None:  # a restricted visit's record is not seeded with these
                self._visit(e, found, out)
        for name, rows in out.items():
            self.counts[name] += len(rows)
        return out

    def _visit(
        self, e: tuple[Any, ...], diagnoses: list[tuple[str, date]], out: dict[str, list[Any]]
    ) -> None:
        pid, encounter_id, clinic_id, doctor_id = e[0], e[1], e[2], e[3]
        signed, author = e[9], e[14]
        rnd = self._rng.random
        day_ordinal = _EPOCH_ORDINAL + (signed[0] + _MOSCOW_US) // _DAY_US
        day = date.fromordinal(day_ordinal)
        birth = date.fromordinal(self._birth[pid])
        given = self._given.setdefault(pid, {})
        for code, onset in diagnoses:
            category = next((c for p, c in self._disease if code.startswith(p)), None)
            if category is not None and category not in given and rnd() < DISEASE_BENEFIT:
                given[category] = onset
                out["patient_benefits"].append((pid, category, onset, None))
        if not given:
            del self._given[pid]
        age = rules.age_on(birth, day)
        active = self._active.setdefault(pid, {})
        for atc in [a for a, until in active.items() if until < day_ordinal]:
            del active[atc]
        for code, _ in diagnoses:
            options = self._options(code)
            if not options or rnd() >= PRESCRIBE:
                continue
            drug, products, dose, per_day = options[int(rnd() * len(options))]
            product = products[int(rnd() * len(products))]
            monthly = rnd() < MONTHLY
            rx = PrescriptionIn(
                product=product.code,
                dose=dose,
                per_day=per_day,
                days=30,
                schedule="monthly" if monthly else "once",
                months=(6, 12)[int(rnd() * 2)] if monthly else None,
            )
            findings = rules.check(
                self._catalogue,
                drug,
                product,
                rx,
                age=age,
                allergies=self._allergies.get(pid, ()),
                active=list(active),
            )
            if findings:  # the seed writes what a careful doctor signs without a warning
                continue
            benefit = next(
                (
                    c
                    for c in self._categories(pid, birth, day)
                    if self._catalogue.covered(c, drug.atc)
                ),
                None,
            )
            spans = rules.periods(
                day, rx.schedule, rx.months, subsidised=benefit is not None, chronic=True
            )
            quantity = rules.quantity_of(rx)
            self.last_prescription += 1
            number = self.last_prescription
            key_id, private = self._key(clinic_id, doctor_id, out)
            row = {
                "patient_id": pid,
                "id": number,
                "encounter_id": encounter_id,
                "clinic_id": clinic_id,
                "doctor_id": doctor_id,
                "author_id": author,
                "atc": drug.atc,
                "inn": drug.inn,
                "product_code": product.code,
                "drug_text": drug_text(drug, product),
                "dose": Decimal(rules.dose_text(dose)),
                "per_day": per_day,
                "days": rx.days,
                "quantity": quantity,
                "schedule": rx.schedule,
                "benefit": benefit,
                "issued_on": day,
                "valid_until": spans[-1][1],
                "instructions": f"По {rules.dose_text(dose).rstrip('0').rstrip('.')} "
                f"{product.dosage_unit_ru} {per_day} р/сут",
                "catalogue": self._catalogue.version,
                "key_id": key_id,
            }
            signature = private.sign(
                rules.stored_content(self._city, row, birth, [(s, e, quantity) for s, e in spans])
            )
            out["prescriptions"].append(
                (*(row[c] for c in PRESCRIPTION_COLUMNS[:-2]), signature, signed)
            )
            active[drug.atc] = spans[-1][1].toordinal()
            self._dispense(pid, number, clinic_id, product, benefit, spans, quantity, signed, out)

    def _dispense(
        self,
        pid: int,
        number: int,
        clinic_id: int,
        product: Any,
        benefit: str | None,
        spans: list[tuple[date, date]],
        quantity: int,
        signed: tuple[int],
        out: dict[str, list[Any]],
    ) -> None:
        """What the pharmacies handed out of a prescription, period by period, before
        the city's today; and the periods' rows with their counts."""
        rnd = self._rng.random
        subsidised = benefit is not None or rnd() < 0.3
        places = self._near[(clinic_id, subsidised)]
        pharmacist = self._pharmacists[0 if subsidised else 1]
        # The first period from the visit on; a later one from its own first day.
        moment = signed[0]
        for period, (starts, ends) in enumerate(spans, 1):
            dispensed = 0
            r = rnd()
            share = quantity if r < FULLY else quantity // 2 if r < FULLY + PARTLY else 0
            if period > 1:
                moment = (starts.toordinal() - _EPOCH_ORDINAL) * _DAY_US - _MOSCOW_US + 9 * _HOUR_US
            last = min(ends.toordinal(), self._today - 1)
            at = moment + int(rnd() * 4) * _DAY_US + (1 + int(rnd() * 8)) * _HOUR_US
            # The last moment of a split dispensing must be before the city's today too.
            at_day = _EPOCH_ORDINAL + (at + _HOUR_US // 4 + _MOSCOW_US) // _DAY_US
            if share and at_day <= last:
                parts = [share] if share < 2 or rnd() < 0.8 else [share // 2, share - share // 2]
                for i, part in enumerate(parts):
                    self.last_dispensing += 1
                    when = at + i * _HOUR_US // 4
                    out["dispensings"].append(
                        (pid, self.last_dispensing, number, period,
                         places[int(rnd() * len(places))], pharmacist, product.code, part,
                         (when,))
                    )  # fmt: skip
                    dispensed += part
            out["prescription_periods"].append(
                (pid, number, period, starts, ends, quantity, dispensed)
            )
