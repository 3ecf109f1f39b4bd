"""The checks at prescribing and the validity rules, on a small catalogue of their own:
allergy by the drug's ATC class, interactions by class both ways, duplicate therapy at
ATC level 4, the maximum daily dose, age limits; validity 60/30/90 days and the
periods of a long-term prescription."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imias.platform.dates import add_months
from prescriptions import rules
from prescriptions.formulary import (
    BenefitCategory,
    Catalogue,
    CatalogueFile,
    Drug,
    Interaction,
    Product,
    Source,
)
from prescriptions.model import PrescriptionIn


def drug(atc: str, inn: str, max_daily: float, strength: float, min_age: int = 18) -> Drug:
    return Drug(
        atc=atc,
        inn=inn,
        inn_ru=inn,
        trade_names=[inn.upper()],
        unit="mg",
        max_daily=max_daily,
        min_age=min_age,
        max_age=None,
        subsidised=True,
        products=[
            Product(
                code=f"{atc}-T",
                form_en="tablets",
                form_ru="таблетки",
                strength=strength,
                strength_text=f"{strength:g} мг",
                dosage_unit_en="tablet",
                dosage_unit_ru="таблетка",
                pack=30,
            )
        ],
        sources=["s"],
    )


CAT = Catalogue(
    CatalogueFile(
        version="t1",
        published=date(2026, 12, 1),
        sources=[Source(id="s", title="test", url="https://example.org")],
        drugs=[
            drug("B01AA03", "warfarin", 10, 5),
            drug("M01AE01", "ibuprofen", 1200, 200, min_age=6),
            drug("M01AB05", "diclofenac", 150, 50),
            drug("M01AE02", "naproxen", 1000, 250),
            drug("J01CA04", "amoxicillin", 3000, 500, min_age=0),
            drug("G04BE03", "sildenafil", 100, 50),
            drug("C01DA02", "nitroglycerin", 6, 0.5),
        ],
        interactions=[
            Interaction(
                a="B01AA03",
                b="M01A",
                severity="major",
                effect_en="bleeding",
                effect_ru="кровотечение",
                source="s",
            ),
            Interaction(
                a="G04BE03",
                b="C01DA",
                severity="contraindicated",
                effect_en="hypotension",
                effect_ru="гипотензия",
                source="s",
            ),
        ],
        benefits=[BenefitCategory(code="081", title_en="I", title_ru="I", covers=[])],
    )
)


def findings(
    atc: str, *, dose: float = 1, per_day: int = 1, age: int = 40, allergies=(), active=()
):
    d = CAT.drugs[atc]
    rx = PrescriptionIn(product=d.products[0].code, dose=dose, per_day=per_day, days=10)
    return rules.check(
        CAT, d, d.products[0], rx, age=age, allergies=list(allergies), active=list(active)
    )


def test_allergy_to_the_class_or_the_drug_blocks_a_food_never_matches():
    assert [f.check for f in findings("J01CA04", allergies=[("J01C", "Пенициллины")])] == [
        "allergy"
    ]
    assert rules.blocked(findings("J01CA04", allergies=[("J01CA04", "Амоксициллин")]))
    assert findings("J01CA04", allergies=[("x-peanut", "Арахис"), ("J01D", "Цефалоспорины")]) == []


def test_interactions_both_ways_with_their_severity():
    one = findings("M01AE01", active=["B01AA03"])
    assert [(f.check, f.severity) for f in one] == [("interaction", "major")]
    other = findings("B01AA03", active=["M01AB05"])
    assert [(f.check, f.severity) for f in other] == [("interaction", "major")]
    worst = findings("C01DA02", active=["G04BE03"])
    assert worst[0].severity == "contraindicated" and rules.blocked(worst)


def test_duplicate_therapy_at_atc_level_four():
    dup = findings("M01AE01", active=["M01AE02"])  # both propionic acid derivatives
    assert [f.check for f in dup] == ["duplicate"] and dup[0].severity == "major"
    assert findings("M01AE01", active=["M01AB05"]) == []  # acetic acid: another class
    assert [f.check for f in findings("M01AE01", active=["M01AE01"])] == ["duplicate"]


def test_the_maximum_daily_dose_and_the_age_limits():
    assert findings("B01AA03", dose=2, per_day=1) == []  # 10 mg: the maximum itself
    over = findings("B01AA03", dose=1, per_day=3)  # 15 mg
    assert [f.check for f in over] == ["max_daily_dose"] and "15" in over[0].message
    assert [f.check for f in findings("M01AE01", age=5)] == ["age"]
    assert findings("M01AE01", age=6) == []
    assert findings("J01CA04", age=0) == []


def test_findings_are_ordered_most_severe_first():
    many = findings("M01AE01", dose=10, per_day=1, active=["B01AA03", "M01AB05"])
    severities = [f.severity for f in many]
    assert severities == sorted(severities, key=rules.SEVERITY_ORDER.__getitem__)
    assert severities[0] == "contraindicated"


def test_validity_regular_subsidised_and_chronic():
    day = date(2026, 12, 4)
    assert rules.periods(day, "once", None, subsidised=False, chronic=False) == [
        (day, day + timedelta(days=59))
    ]
    assert rules.periods(day, "once", None, subsidised=True, chronic=False)[0][
        1
    ] == day + timedelta(days=29)
    assert rules.periods(day, "once", None, subsidised=True, chronic=True)[0][1] == day + timedelta(
        days=89
    )
    with pytest.raises(rules.ValidityError) as not_chronic:
        rules.periods(day, "monthly", 6, subsidised=False, chronic=False)
    assert not_chronic.value.code == "not_chronic"
    with pytest.raises(rules.ValidityError) as bad:
        rules.periods(day, "quarterly", 4, subsidised=False, chronic=True)
    assert bad.value.code == "bad_schedule"


@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    st.sampled_from(["monthly", "quarterly"]),
    st.integers(1, 4),
)
def test_long_term_periods_are_contiguous_and_end_within_a_year(day, schedule, n):
    months = n * rules.MONTHS[schedule]
    if months > 12:
        return
    spans = rules.periods(day, schedule, months, subsidised=False, chronic=True)
    assert len(spans) == n and spans[0][0] == day
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start == end + timedelta(days=1)
    assert spans[-1][1] < add_months(day, 12) + timedelta(days=1)
    assert spans[-1][1] == add_months(day - timedelta(days=1), months)
    for start, end in spans:  # a month's period is 28-31 days, a quarter's 89-92
        assert 28 * rules.MONTHS[schedule] <= (end - start).days + 1 <= 31 * rules.MONTHS[schedule]
    assert rules.due_period([(i + 1, s, e) for i, (s, e) in enumerate(spans)], day) == 1


def test_a_period_keeps_its_month_end_and_a_leap_day():
    spans = rules.periods(date(2027, 1, 31), "monthly", 3, subsidised=False, chronic=True)
    assert spans == [
        (date(2027, 1, 31), date(2027, 2, 28)),
        (date(2027, 3, 1), date(2027, 3, 30)),
        (date(2027, 3, 31), date(2027, 4, 30)),
    ]
    year = rules.periods(date(2028, 2, 29), "quarterly", 12, subsidised=False, chronic=True)
    assert year[-1][1] == date(2029, 2, 28)  # a whole year, not a day short


def test_quantity_is_what_dose_frequency_and_days_make():
    rx = PrescriptionIn(product="X-1", dose=0.5, per_day=3, days=7)
    assert rules.quantity_of(rx) == 11  # 10.5 rounded up
    assert (
        rules.quantity_of(PrescriptionIn(product="X-1", dose=1, per_day=1, days=1, quantity=5)) == 5
    )


def test_age_on_a_birthday():
    assert rules.age_on(date(2000, 12, 5), date(2026, 12, 4)) == 25
    assert rules.age_on(date(2000, 12, 4), date(2026, 12, 4)) == 26
