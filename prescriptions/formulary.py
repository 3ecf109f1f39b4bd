"""The drug catalogue: what a doctor may prescribe and what the checks read.

One versioned data file (``prescriptions/catalogue/drugs.json``, its sources named in it)
holds the drugs by international non-proprietary name (INN) with their WHO ATC code,
their forms and strengths (products), the maximum daily dose, the age limits, whether
the drug is on the subsidised list, a table of well-documented interactions and the
benefit categories that give a right to subsidised drugs. ``imias catalogue import
FILE`` stores a file of this shape in the database (a deployment can load the national
register instead); every worker holds the newest one in memory (:class:`Catalogue`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from functools import cached_property
from importlib import resources
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

AtcCode = Annotated[str, Meta(pattern=r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")]
#: An ATC code at any level (A, A10, A10B, A10BA, A10BA02): a class matches every drug
#: whose code starts with it.
AtcPrefix = Annotated[str, Meta(pattern=r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$")]
ProductCode = Annotated[str, Meta(pattern=r"^[A-Z0-9][A-Z0-9.-]{2,39}$")]
Severity = Literal["contraindicated", "major", "moderate"]
DoseUnit = Literal["mg", "mcg", "g", "IU", "ml"]

BUNDLED = "drugs.json"


class Source(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    title: str
    url: str


class Product(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A form and strength of a drug, as a pharmacy dispenses it."""

    code: ProductCode  # stable, unique in the catalogue (e.g. "C08CA01-TAB-5")
    form_en: str  # "tablets"
    form_ru: str  # "таблетки"
    #: The amount of the drug (in its :attr:`Drug.unit`) in one dosage unit: 5 (mg in a
    #: tablet), 100 (mcg in an inhaler's dose), 50 (mg in a ml of a solution).
    strength: Annotated[float, Meta(gt=0)]
    strength_text: str  # "5 мг", "100 мкг/доза"
    dosage_unit_en: str  # "tablet", "dose", "ml"
    dosage_unit_ru: str  # "таблетка", "доза", "мл"
    pack: Annotated[int, Meta(ge=1, le=1000)]  # dosage units in a pack


class Drug(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    atc: AtcCode
    inn: str  # English INN, lower case ("amlodipine")
    inn_ru: str  # "амлодипин"
    trade_names: list[str]
    unit: DoseUnit
    max_daily: Annotated[float, Meta(gt=0)]  # adult maximum daily dose, in ``unit``
    min_age: Annotated[int, Meta(ge=0, le=100)]  # years
    max_age: Annotated[int, Meta(ge=0, le=130)] | None
    subsidised: bool  # on the list of drugs dispensed free under a benefit
    products: list[Product]
    sources: list[str]  # ids of :attr:`CatalogueFile.sources`


class Interaction(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    a: AtcPrefix
    b: AtcPrefix
    severity: Severity
    effect_en: str
    effect_ru: str
    source: str


class BenefitCategory(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A right to subsidised drugs: every drug of the list (``covers`` empty) or the
    drugs of the list in these ATC classes (a disease's category: diabetes, A10)."""

    code: Annotated[str, Meta(pattern=r"^[0-9A-Z]{1,8}$")]
    title_en: str
    title_ru: str
    covers: list[AtcPrefix]


class CatalogueFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: Annotated[str, Meta(pattern=r"^[0-9A-Za-z.-]{1,32}$")]
    published: date
    sources: list[Source]
    drugs: list[Drug]
    interactions: list[Interaction]
    benefits: list[BenefitCategory]


class CatalogueError(ValueError):
    """A catalogue file that cannot be used (a duplicate code, an unknown source...)."""


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold().replace("ё", "е")).strip()


class Catalogue:
    """A catalogue file checked and indexed for the checks and the type-ahead."""

    def __init__(self, data: CatalogueFile) -> None:
        self.data = data
        self.version = data.version
        self.drugs: dict[str, Drug] = {}
        self.products: dict[str, tuple[Drug, Product]] = {}
        sources = {s.id for s in data.sources}
        for drug in data.drugs:
            if drug.atc in self.drugs:
                raise CatalogueError(f"drug {drug.atc} is listed twice")
            if not drug.products:
                raise CatalogueError(f"drug {drug.atc} has no product")
            if unknown := set(drug.sources) - sources:
                raise CatalogueError(f"drug {drug.atc} names unknown sources {sorted(unknown)}")
            if drug.max_age is not None and drug.max_age < drug.min_age:
                raise CatalogueError(f"drug {drug.atc}: max_age below min_age")
            self.drugs[drug.atc] = drug
            for product in drug.products:
                if product.code in self.products:
                    raise CatalogueError(f"product {product.code} is listed twice")
                self.products[product.code] = (drug, product)
        for pair in data.interactions:
            if pair.source not in sources:
                raise CatalogueError(f"interaction {pair.a}/{pair.b} names unknown source")
        self.benefits = {b.code: b for b in data.benefits}
        self._partners: dict[str, list[tuple[str, Interaction]]] = {}
        if len(self.benefits) != len(data.benefits):
            raise CatalogueError("a benefit category is listed twice")

    @classmethod
    def decode(cls, raw: bytes) -> Catalogue:
        try:
            return cls(msgspec.json.decode(raw, type=CatalogueFile))
        except msgspec.ValidationError as exc:
            raise CatalogueError(str(exc)) from None
        except msgspec.DecodeError as exc:
            raise CatalogueError(f"not JSON: {exc}") from None

    @classmethod
    def bundled(cls) -> Catalogue:
        return cls.decode(resources.files("prescriptions.catalogue").joinpath(BUNDLED).read_bytes())

    @cached_property
    def _index(self) -> list[tuple[str, str, Drug]]:
        """(searchable words, the name matched, drug): the INN in both languages and
        every trade name."""
        rows = []
        for drug in self.drugs.values():
            for name in (drug.inn_ru, drug.inn, *drug.trade_names):
                rows.append((_words(name), name, drug))
        return rows

    def search(self, query: str, limit: int = 20) -> list[tuple[Drug, str]]:
        """Drugs whose INN or trade name starts with ``query`` (then contains it), each
        once, with the name it matched by."""
        q = _words(query)
        if not q:
            return []
        found: dict[str, tuple[int, Drug, str]] = {}
        for words, name, drug in self._index:
            if words.startswith(q):
                rank = 0
            elif f" {q}" in f" {words}" or q in words:
                rank = 1
            else:
                continue
            if drug.atc not in found or rank < found[drug.atc][0]:
                found[drug.atc] = (rank, drug, name)
        ordered = sorted(found.values(), key=lambda t: (t[0], t[1].inn_ru))
        return [(drug, name) for _, drug, name in ordered[:limit]]

    def product(self, code: str) -> tuple[Drug, Product] | None:
        return self.products.get(code)

    def _partners_of(self, atc: str) -> list[tuple[str, Interaction]]:
        """(the other side's ATC prefix, the pair) of every listed interaction of a drug,
        worked out once per drug."""
        found = self._partners.get(atc)
        if found is None:
            found = []
            for pair in self.data.interactions:
                if atc.startswith(pair.a):
                    found.append((pair.b, pair))
                if atc.startswith(pair.b) and pair.b != pair.a:
                    found.append((pair.a, pair))
            self._partners[atc] = found
        return found

    def interactions_between(
        self, atc: str, others: Iterable[str]
    ) -> list[tuple[str, Interaction]]:
        """The listed interactions of a drug with each of ``others`` (ATC codes)."""
        partners = self._partners_of(atc)
        out: list[tuple[str, Interaction]] = []
        for other in others:
            matched: list[Interaction] = []
            for prefix, pair in partners:  # a pair may match both ways (a class and its drug)
                if other.startswith(prefix) and not any(m is pair for m in matched):
                    matched.append(pair)
            out.extend((other, pair) for pair in matched)
        return out

    def covered(self, category: str, atc: str) -> bool:
        """Whether a benefit category gives ``atc`` free (the drug on the list)."""
        drug = self.drugs.get(atc)
        benefit = self.benefits.get(category)
        if drug is None or benefit is None or not drug.subsidised:
            return False
        return not benefit.covers or any(atc.startswith(c) for c in benefit.covers)
