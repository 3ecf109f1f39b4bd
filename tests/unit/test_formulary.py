"""The bundled drug catalogue (prescriptions/catalogue/drugs.json): it loads, its codes
are well formed and unique, every interaction and benefit class names drugs that are in
it, each product's strength is per dosage unit, and the look-ups the checks use (search,
interactions, benefit coverage) answer as a doctor expects. A broken file is refused."""

from __future__ import annotations

import json
import re
from importlib import resources

import msgspec
import pytest

from prescriptions.formulary import BUNDLED, Catalogue, CatalogueError, CatalogueFile

ATC = re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")
#: "5 мг", "0,4 мг/доза", "100 мг/5 мл", "100 ЕД/мл", "875 мг + 125 мг",
#: "160 мкг + 4,5 мкг/доза", "250 мг + 62,5 мг/5 мл", "3 г": the first component's
#: amount, then what it is per (a dose, a ml, or 5 ml).
STRENGTH = re.compile(
    r"^(?P<amount>\d+(?:,\d+)?) (?P<unit>мкг|мг|г|ЕД|МЕ)"
    r"(?: \+ [^/]+)?"
    r"(?:/(?:(?P<ml>\d+ )?мл|(?P<dose>доза)))?$"
)
#: (unit written in the strength text, the drug's unit) -> factor
TO_DRUG_UNIT = {
    ("мг", "mg"): 1,
    ("г", "mg"): 1000,
    ("мкг", "mcg"): 1,
    ("ЕД", "IU"): 1,
    ("МЕ", "IU"): 1,
}

AMLODIPINE, METFORMIN, WARFARIN, IBUPROFEN = "C08CA01", "A10BA02", "B01AA03", "M01AE01"
SILDENAFIL, NITROGLYCERIN, SALBUTAMOL, NIMESULIDE = "G04BE03", "C01DA02", "R03AC02", "M01AX17"
PARACETAMOL, AMOXICILLIN = "N02BE01", "J01CA04"


def raw() -> bytes:
    return resources.files("prescriptions.catalogue").joinpath(BUNDLED).read_bytes()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.bundled()


@pytest.fixture(scope="module")
def data() -> CatalogueFile:
    return msgspec.json.decode(raw(), type=CatalogueFile)


def matching(catalogue: Catalogue, prefix: str, *, subsidised: bool = False) -> list[str]:
    return [
        atc
        for atc, drug in catalogue.drugs.items()
        if atc.startswith(prefix) and (drug.subsidised or not subsidised)
    ]


# --- The file ---------------------------------------------------------------------


def test_the_bundled_catalogue_loads(catalogue, data):
    assert re.fullmatch(r"\d{4}\.\d{2}-\d+", catalogue.version), catalogue.version
    assert str(data.published) == f"{catalogue.version[:4]}-{catalogue.version[5:7]}-01"
    assert 80 <= len(catalogue.drugs) <= 100
    assert len(catalogue.products) >= len(catalogue.drugs)
    assert 40 <= len(data.interactions) <= 60
    assert 5 <= len(catalogue.benefits) <= 12


def test_atc_codes_are_valid_and_listed_once(data):
    codes = [drug.atc for drug in data.drugs]
    assert [c for c in codes if not ATC.fullmatch(c)] == []
    assert sorted(c for c in set(codes) if codes.count(c) > 1) == []


def test_names_are_filled_in(data):
    for drug in data.drugs:
        assert drug.inn == drug.inn.lower() and drug.inn.strip() == drug.inn, drug.atc
        assert drug.inn_ru == drug.inn_ru.lower() and re.search("[а-я]", drug.inn_ru), drug.atc
        assert 1 <= len(drug.trade_names) <= 4, drug.atc
        assert len(set(drug.trade_names)) == len(drug.trade_names), drug.atc
        assert all(name.strip() == name and name for name in drug.trade_names), drug.atc


def test_sources_are_named_and_every_drug_cites_the_atc_index(data):
    ids = [s.id for s in data.sources]
    assert len(set(ids)) == len(ids)
    assert all(s.url.startswith("https://") and s.title for s in data.sources)
    assert [d.atc for d in data.drugs if "who-atc" not in d.sources] == []
    assert [d.atc for d in data.drugs if d.subsidised and "rf-2406r" not in d.sources] == []


def test_product_codes_start_with_their_drugs_atc(data):
    wrong = [p.code for d in data.drugs for p in d.products if not p.code.startswith(f"{d.atc}-")]
    assert wrong == []


def test_strength_is_per_dosage_unit(data):
    """The number in ``strength`` is the text's amount per tablet, dose or ml: "100 мг/5 мл"
    is 20 (mg per ml), and a liquid is counted in ml."""
    for drug in data.drugs:
        for p in drug.products:
            m = STRENGTH.fullmatch(p.strength_text)
            assert m, f"{p.code}: {p.strength_text!r}"
            factor = TO_DRUG_UNIT[(m["unit"], drug.unit)]
            per_ml = m["ml"] is not None or p.strength_text.endswith("/мл")
            volume = int(m["ml"]) if m["ml"] else 1
            expected = float(m["amount"].replace(",", ".")) * factor / volume
            assert p.strength == pytest.approx(expected), p.code
            assert (p.dosage_unit_en == "ml") == per_ml, p.code
            assert (p.dosage_unit_en == "dose") == (m["dose"] is not None), p.code
            assert p.dosage_unit_ru == {"ml": "мл", "dose": "доза"}.get(
                p.dosage_unit_en, p.dosage_unit_ru
            ), p.code


def test_a_days_maximum_allows_at_least_one_dosage_unit(data):
    assert [d.atc for d in data.drugs if d.max_daily < min(p.strength for p in d.products)] == []


def test_children_can_be_prescribed_liquid_forms(catalogue):
    for atc in (IBUPROFEN, PARACETAMOL, AMOXICILLIN):
        drug = catalogue.drugs[atc]
        assert drug.min_age == 0, atc
        assert any(p.dosage_unit_en == "ml" for p in drug.products), atc
    assert catalogue.drugs["J01MA02"].min_age == 18  # ciprofloxacin
    assert catalogue.drugs["J01AA02"].min_age == 8  # doxycycline


# --- Interactions and benefits ----------------------------------------------------------


def test_every_interaction_names_catalogue_drugs_on_both_sides(catalogue, data):
    for pair in data.interactions:
        assert matching(catalogue, pair.a), f"{pair.a} matches no drug"
        assert matching(catalogue, pair.b), f"{pair.b} matches no drug"
        assert pair.a != pair.b
        assert pair.effect_en.endswith(".") and pair.effect_ru.endswith("."), (pair.a, pair.b)


def test_no_interaction_is_listed_twice(data):
    pairs = [frozenset((p.a, p.b)) for p in data.interactions]
    assert [sorted(p) for p in set(pairs) if pairs.count(p) > 1] == []


def test_every_benefit_class_covers_a_subsidised_drug(catalogue):
    for benefit in catalogue.benefits.values():
        for prefix in benefit.covers:
            assert matching(catalogue, prefix, subsidised=True), f"{benefit.code}: {prefix}"


# --- Look-ups ---------------------------------------------------------------------------


def test_search_finds_amlodipine_first_by_the_start_of_its_name(catalogue):
    found = catalogue.search("амло")
    assert found[0][0].atc == AMLODIPINE
    assert found[0][1] == "амлодипин"


@pytest.mark.parametrize("query", ["Норваск", "норваск", "НОРВАСК", " норваск "])
def test_search_finds_a_drug_by_trade_name_whatever_the_case(catalogue, query):
    drug, name = catalogue.search(query)[0]
    assert (drug.atc, name) == (AMLODIPINE, "Норваск")


@pytest.mark.parametrize("query", ["флемоксин", "флёмоксин", "ФЛЁМОКСИН"])
def test_search_treats_yo_as_ye(catalogue, query):
    assert [(d.atc, n) for d, n in catalogue.search(query)] == [(AMOXICILLIN, "Флемоксин Солютаб")]


def test_search_by_english_inn_and_unknown_names(catalogue):
    assert [d.atc for d, _ in catalogue.search("metformin")] == [METFORMIN]
    assert catalogue.search("глюкофаж")[0][0].atc == METFORMIN
    assert catalogue.search("несуществующий") == []


def test_warfarin_and_ibuprofen_are_a_major_interaction_both_ways(catalogue):
    forward = catalogue.interactions_between(WARFARIN, [IBUPROFEN])
    backward = catalogue.interactions_between(IBUPROFEN, [WARFARIN])
    assert [(other, pair.severity) for other, pair in forward] == [(IBUPROFEN, "major")]
    assert [(other, pair.severity) for other, pair in backward] == [(WARFARIN, "major")]
    assert forward[0][1] is backward[0][1]


def test_sildenafil_and_nitroglycerin_are_contraindicated(catalogue):
    found = catalogue.interactions_between(NITROGLYCERIN, [AMLODIPINE, SILDENAFIL])
    assert [(other, pair.severity) for other, pair in found] == [(SILDENAFIL, "contraindicated")]


def test_unrelated_drugs_do_not_interact(catalogue):
    assert catalogue.interactions_between(AMLODIPINE, [PARACETAMOL, METFORMIN]) == []


def test_benefit_coverage(catalogue):
    assert catalogue.covered("DDM", METFORMIN) is True
    assert catalogue.drugs[NIMESULIDE].subsidised is False
    assert catalogue.covered("DDM", NIMESULIDE) is False  # not on the list
    assert catalogue.covered("DBA", SALBUTAMOL) is True
    assert catalogue.covered("DBA", AMLODIPINE) is False  # on the list, not for asthma
    assert catalogue.covered("081", AMLODIPINE) is True  # the whole list
    assert catalogue.covered("NOSUCH", AMLODIPINE) is False


# --- A broken file ----------------------------------------------------------------------


def broken(change) -> bytes:
    doc = json.loads(raw())
    change(doc)
    return json.dumps(doc, ensure_ascii=False).encode()


def test_an_unchanged_copy_decodes():
    assert len(Catalogue.decode(broken(lambda doc: None)).drugs) == len(json.loads(raw())["drugs"])


def _duplicate_product(doc):
    doc["drugs"][1]["products"][0]["code"] = doc["drugs"][0]["products"][0]["code"]


def _unknown_source(doc):
    doc["drugs"][0]["sources"].append("no-such-source")


def _unknown_interaction_source(doc):
    doc["interactions"][0]["source"] = "no-such-source"


def _unknown_field(doc):
    doc["drugs"][0]["colour"] = "white"


def _bad_atc(doc):
    doc["drugs"][0]["atc"] = "C08CA1"


def _duplicate_drug(doc):
    doc["drugs"].append(doc["drugs"][0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_duplicate_product, "is listed twice"),
        (_unknown_source, "unknown sources"),
        (_unknown_interaction_source, "unknown source"),
        (_unknown_field, "unknown field `colour`"),
        (_bad_atc, "matching regex"),
        (_duplicate_drug, "is listed twice"),
    ],
    ids=[
        "duplicate-product",
        "unknown-source",
        "unknown-interaction-source",
        "unknown-field",
        "bad-atc",
        "duplicate-drug",
    ],
)
def test_a_broken_file_is_refused(change, message):
    with pytest.raises(CatalogueError, match=re.escape(message)):
        Catalogue.decode(broken(change))


def test_not_json_is_refused():
    with pytest.raises(CatalogueError, match="not JSON"):
        Catalogue.decode(raw()[:-10])


def test_the_interaction_index_finds_what_a_scan_of_the_table_finds():
    catalogue = Catalogue.bundled()
    codes = sorted(catalogue.drugs)
    found_any = 0
    for atc in codes:
        indexed = catalogue.interactions_between(atc, codes)
        scanned = [
            (other, pair)
            for other in codes
            for pair in catalogue.data.interactions
            if (atc.startswith(pair.a) and other.startswith(pair.b))
            or (atc.startswith(pair.b) and other.startswith(pair.a))
        ]
        assert sorted(indexed, key=repr) == sorted(scanned, key=repr), atc
        found_any += len(indexed)
    assert found_any > 60  # every pair is found from both sides
