"""The record's code systems and its rule of restricted entries."""

from decimal import Decimal
from importlib import resources

import pytest

from ehr import codes
from ehr.access import Reader


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("F10.2", "mental"),
        ("F32.0", "mental"),
        ("F99", "mental"),
        ("B20.9", "hiv"),
        ("B24", "hiv"),
        ("Z21", "hiv"),
        ("A50.0", "sti"),
        ("A64", "sti"),
        ("A49.9", None),
        ("A65", None),
        ("B19.9", None),
        ("B25.0", None),
        ("Z20.6", None),
        ("E11.9", None),
    ],
)
def test_restricted_classes_follow_the_icd10_ranges(code, expected):
    assert codes.restricted_class(code) == expected


def test_who_sees_a_restricted_entry():
    author = 501
    psychiatrist = Reader("doctor", 7, 70, 1, "psychiatrist")
    therapist = Reader("doctor", 8, 80, 1, "therapist")
    glass = Reader("doctor", 9, 90, 2, "therapist", break_glass=True)
    patient = Reader("patient", None, None, None, None)
    assert psychiatrist.sees("mental", author) and not psychiatrist.sees("hiv", author)
    narcologist = Reader("doctor", 11, 110, 1, "narcologist")
    assert narcologist.sees("mental", author) and not narcologist.sees("sti", author)
    assert not therapist.sees("mental", author) and therapist.sees(None, author)
    assert Reader("doctor", author, 1, 1, "therapist").sees("mental", author)
    assert glass.sees("mental", author) and patient.sees("hiv", author)
    # Two classes in one visit: no specialty group reads its protocol.
    assert not psychiatrist.sees("mixed", author)
    infectionist = Reader("doctor", 10, 100, 1, "infectious_disease")
    assert infectionist.sees("hiv", author) and infectionist.sees("sti", author)


def test_every_catalogue_code_is_whole():
    for code in codes.measures():
        m = codes.measure(code)
        assert m is not None and m.plausible_min < m.plausible_max
        if m.low is not None and m.high is not None:
            assert m.low < m.high, code
        for bound in (m.low, m.high):
            assert bound is None or m.plausible_min <= bound <= m.plausible_max, code
    assert codes.vaccines()["mmr"].atc == "J07BD52"
    assert codes.substances()["J01CA04"].system == codes.ATC_SYSTEM
    assert codes.substances()["x-peanut"].system == codes.SUBSTANCE_SYSTEM


def test_every_russian_title_names_a_real_icd10_code():
    text = resources.files("ehr.catalogue").joinpath("icd10_ru.tsv").read_text("utf-8")
    listed = [line.split("\t")[0] for line in text.splitlines() if line and line[0] != "#"]
    assert len(listed) > 50
    for code in listed:
        found = codes.diagnosis(code)
        assert found is not None and found.title_ru, code
    assert codes.diagnosis("X99.99") is None and codes.diagnosis("j06.9") is not None


def test_interpretation_against_the_range():
    low, high = Decimal("3.9"), Decimal("6.1")
    assert codes.interpretation(Decimal("3.8"), low, high) == "L"
    assert codes.interpretation(Decimal("6.1"), low, high) == "N"
    assert codes.interpretation(Decimal("6.2"), low, high) == "H"
    assert codes.interpretation(Decimal("70"), None, None) is None


def test_an_allergy_to_a_class_covers_its_drugs():
    assert codes.allergy_matches("J01C", "J01CA04")  # penicillins: amoxicillin
    assert codes.allergy_matches("J01CA04", "J01CA04")
    assert not codes.allergy_matches("J01CA04", "J01C")  # a drug does not cover its class
    assert not codes.allergy_matches("x-peanut", "x-peanut")  # foods are no drugs
