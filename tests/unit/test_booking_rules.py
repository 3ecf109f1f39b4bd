"""The rules of booking (imias.booking.rules): every refusal, the allowed cases, the order."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imias.booking import rules
from imias.booking.model import (
    CHANNEL_BITS,
    CHANNELS,
    MAX_LIVE_HOLDS,
    Allowed,
    AppointmentFacts,
    BookingContext,
    BookingRefused,
    DoctorFacts,
    HoldFacts,
    PatientFacts,
    PolicyNumber,
    ReferralFacts,
    ReferralRef,
    Refusal,
    RefusalCode,
    SlotFacts,
    SpecialtyFacts,
)
from imias.citygen import catalogue

R = RefusalCode
SPEC = {
    s.code: msgspec.convert(s, SpecialtyFacts, from_attributes=True) for s in catalogue.SPECIALTIES
}
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, Monday
VISIT = NOW + timedelta(days=2)  # 2025-03-12 12:00 Moscow
VISIT_DAY = date(2025, 3, 12)
HOME, OTHER, CHILDREN = 1, 2, 3  # clinic ids

ADULT_F = PatientFacts(id=100, birth_date=date(1985, 6, 15), sex="F", attached_clinic_id=HOME)
ADULT_M = PatientFacts(id=101, birth_date=date(1979, 1, 2), sex="M", attached_clinic_id=HOME)
CHILD = PatientFacts(id=102, birth_date=date(2016, 9, 1), sex="M", attached_clinic_id=CHILDREN)


def doctor(code: str, clinic_id: int = HOME, id: int = 10) -> DoctorFacts:
    return DoctorFacts(id=id, clinic_id=clinic_id, specialty_id=SPEC[code].id)


def slot(code: str = "therapist", clinic_id: int = HOME, starts_at=VISIT, **kw) -> SlotFacts:
    return SlotFacts(
        doctor=doctor(code, clinic_id),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=15),
        **kw,
    )


def referral(code: str, valid_until=VISIT_DAY, status="active", clinic_id=HOME, id=1):
    return ReferralFacts(clinic_id, id, SPEC[code].id, valid_until, status)


def appt(code: str, starts_at=VISIT + timedelta(days=1), id=500, **kw) -> AppointmentFacts:
    return AppointmentFacts(id=id, specialty_id=SPEC[code].id, starts_at=starts_at, **kw)


def hold(minutes: float, token="t", patient_id=100) -> HoldFacts:
    return HoldFacts(token, patient_id, NOW + timedelta(minutes=minutes))


def decide(
    patient=ADULT_F, code="therapist", the_slot=None, *, channel="web", now=NOW, **kw
) -> Allowed | Refusal:
    ctx = BookingContext(
        now=now,
        appointments=kw.pop("appointments", ()),
        referrals=kw.pop("referrals", ()),
        holds=kw.pop("holds", ()),
    )
    the_slot = the_slot or slot(code, clinic_id=kw.pop("clinic_id", HOME))
    return rules.decide_booking(patient, SPEC[code], the_slot, ctx, channel=channel, **kw)


def aged(birth: date, sex="F", attached=HOME) -> PatientFacts:
    return PatientFacts(id=200, birth_date=birth, sex=sex, attached_clinic_id=attached)


# Turning 18 on the visit day (2025-03-12): born 2007-03-12; a day younger: 2007-03-13.
EIGHTEEN_TODAY = date(2007, 3, 12)
EIGHTEEN_TOMORROW = date(2007, 3, 13)


def case(expected: RefusalCode | None, name: str, **args) -> object:
    """A row of a table: decide(**args) gives ``expected`` (None: allowed)."""
    return pytest.param(args, expected, id=name)


AGE, SEX, ATTACH, REFERRAL = (
    R.AGE_NOT_ALLOWED,
    R.SEX_NOT_ALLOWED,
    R.NOT_ATTACHED,
    R.REFERRAL_REQUIRED,
)
DUP, HOLDS, PAST, CHANNEL = (
    R.DUPLICATE_APPOINTMENT,
    R.HOLD_LIMIT,
    R.SLOT_IN_PAST,
    R.CHANNEL_NOT_ALLOWED,
)
URGENT, OK = R.URGENT_SAME_DAY_ONLY, None
CARDIO = {"code": "cardiologist"}
TOMORROW_APPT = appt("therapist")
KID = aged(date(2012, 1, 1), attached=CHILDREN)
PAED = "paediatrician"
SPEECH_REFERRAL = (referral("speech_therapist"),)
TWO_HOLDS = (hold(1), hold(2))
MINUTE, DAY = timedelta(minutes=1), timedelta(days=1)

# fmt: off
CASES = [
    case(OK, "therapist at home clinic"),
    case(OK, "gp at home clinic", code="general_practitioner"),
    case(AGE, "child to therapist", patient=CHILD),
    case(OK, "child to paediatrician", patient=CHILD, code="paediatrician", clinic_id=CHILDREN),
    case(AGE, "adult to paediatrician", code="paediatrician"),
    case(OK, "17 on eve of 18 to paediatrician", patient=aged(EIGHTEEN_TOMORROW), code=PAED),
    case(AGE, "18 on birthday to paediatrician", patient=aged(EIGHTEEN_TODAY), code=PAED),
    case(OK, "18 on the birthday to therapist", patient=aged(EIGHTEEN_TODAY)),
    case(AGE, "17 on the eve of 18 to therapist", patient=aged(EIGHTEEN_TOMORROW)),
    case(AGE, "speech therapist a day before 2", code="speech_therapist",
         patient=aged(date(2023, 3, 13), attached=CHILDREN), referrals=SPEECH_REFERRAL),
    case(OK, "speech therapist at 2", code="speech_therapist",
         patient=aged(date(2023, 3, 12), attached=CHILDREN), referrals=SPEECH_REFERRAL),
    case(SEX, "man to gynaecologist", patient=ADULT_M, code="gynaecologist"),
    case(OK, "woman to gynaecologist", code="gynaecologist"),
    case(OK, "girl to gynaecologist", patient=KID, code="gynaecologist"),
    case(OK, "man to urologist", patient=ADULT_M, code="urologist"),
    case(ATTACH, "therapist at another clinic", clinic_id=OTHER),
    case(ATTACH, "therapist, attached nowhere", patient=aged(date(1990, 1, 1), attached=None)),
    case(OK, "surgeon at another clinic", code="surgeon", clinic_id=OTHER),
    case(REFERRAL, "cardiologist without referral", **CARDIO),
    case(OK, "cardiologist with referral", **CARDIO, referrals=(referral("cardiologist"),)),
    case(REFERRAL, "cardiologist, referral valid until the eve of the visit", **CARDIO,
         referrals=(referral("cardiologist", VISIT_DAY - timedelta(1)),)),
    case(REFERRAL, "cardiologist, referral to neurologist", **CARDIO,
         referrals=(referral("neurologist"),)),
    *[
        case(REFERRAL, f"cardiologist, referral {status}", **CARDIO,
             referrals=(referral("cardiologist", status=status),))
        for status in ("used", "cancelled", "expired")
    ],
    case(REFERRAL, "slot kept for referrals, none", the_slot=slot(needs_referral=True)),
    case(OK, "slot kept for referrals, with one", the_slot=slot(needs_referral=True),
         referrals=(referral("therapist"),)),
    case(DUP, "future appointment of the specialty", appointments=(TOMORROW_APPT,)),
    case(DUP, "future appointment, arrived", appointments=(appt("therapist", status="arrived"),)),
    case(OK, "future appointment of another specialty", appointments=(appt("surgeon"),)),
    case(OK, "cancelled future appointment", appointments=(appt("therapist", status="cancelled"),)),
    case(OK, "appointment in progress", appointments=(appt("therapist", NOW - MINUTE * 5),)),
    case(OK, "appointment starting now is not future", appointments=(appt("therapist", NOW),)),
    case(OK, "rescheduling it", appointments=(TOMORROW_APPT,), exclude_appointment_id=500),
    case(DUP, "rescheduling another", appointments=(TOMORROW_APPT,), exclude_appointment_id=501),
    case(HOLDS, "two live holds", holds=(hold(3), hold(4))),
    case(OK, "one live hold", holds=(hold(3),)),
    case(OK, "two holds, one expired", holds=(hold(3), hold(-1))),
    case(OK, "two holds, one expiring now", holds=(hold(3), hold(0))),
    case(OK, "two live holds, confirming", holds=(hold(3), hold(4)), new_hold=False),
    case(PAST, "slot starting now", the_slot=slot(starts_at=NOW)),
    case(PAST, "slot started", the_slot=slot(starts_at=NOW - timedelta(hours=1))),
    case(OK, "slot in five minutes", the_slot=slot(starts_at=NOW + timedelta(minutes=5))),
    case(CHANNEL, "phone slot on the web", the_slot=slot(channel_flags=4)),
    case(OK, "phone slot on the phone", the_slot=slot(channel_flags=4), channel="phone"),
    case(CHANNEL, "registrar slot at the kiosk", the_slot=slot(channel_flags=16), channel="kiosk"),
    case(OK, "registrar slot by the registrar", the_slot=slot(channel_flags=16),
         channel="registrar", new_hold=False),
    case(OK, "urgent slot today", the_slot=slot(starts_at=NOW + timedelta(hours=2), urgent=True)),
    case(URGENT, "urgent slot tomorrow", the_slot=slot(starts_at=NOW + DAY, urgent=True)),
    # 21:30 UTC on the 10th is 00:30 on the 11th in Moscow: a UTC date would refuse this.
    case(OK, "urgent slot just after Moscow midnight", now=NOW.replace(hour=21, minute=30),
         the_slot=slot(starts_at=datetime(2025, 3, 11, 6, 0, tzinfo=UTC), urgent=True)),
    case(URGENT, "urgent slot, Moscow still on the eve", now=NOW.replace(hour=20, minute=30),
         the_slot=slot(starts_at=datetime(2025, 3, 11, 6, 0, tzinfo=UTC), urgent=True)),
]
# fmt: on


@pytest.mark.parametrize(("args", "expected"), CASES)
def test_rules_of_booking(args, expected):
    decision = decide(**args)
    if expected is None:
        assert isinstance(decision, Allowed), decision
    else:
        assert decision == Refusal(expected)


# fmt: off
ORDER_CASES = [
    # several reasons at once: the first in CHECK_ORDER is the answer
    case(AGE, "age before sex", patient=aged(date(2020, 1, 1), sex="M"), code="urologist"),
    case(SEX, "sex before past", patient=ADULT_M, code="gynaecologist",
         the_slot=slot("gynaecologist", starts_at=NOW - timedelta(1))),
    case(ATTACH, "attachment before referral", the_slot=slot(clinic_id=OTHER, needs_referral=True)),
    case(REFERRAL, "referral before duplicate", **CARDIO, appointments=(appt("cardiologist"),)),
    case(DUP, "duplicate before hold limit", appointments=(TOMORROW_APPT,), holds=TWO_HOLDS),
    case(HOLDS, "hold limit before past slot", holds=TWO_HOLDS, the_slot=slot(starts_at=NOW)),
    case(PAST, "past before channel", the_slot=slot(starts_at=NOW, channel_flags=4)),
    case(CHANNEL, "channel before urgent", the_slot=slot(channel_flags=4, urgent=True)),
]
# fmt: on


@pytest.mark.parametrize(("args", "expected"), ORDER_CASES)
def test_the_broadest_refusal_comes_first(args, expected):
    assert decide(**args) == Refusal(expected)


def test_sex_before_attachment_for_a_specialty_with_both_limits():
    # no catalogue specialty has both, but the rules are data-driven
    women_local = SpecialtyFacts(99, "women_local", True, attached_only=True, sex="F")
    away = SlotFacts(DoctorFacts(1, OTHER, 99), VISIT, VISIT + timedelta(minutes=15))
    ctx = BookingContext(now=NOW)
    refusal = rules.check_booking(ADULT_M, women_local, away, ctx, channel="web")
    assert refusal == Refusal(R.SEX_NOT_ALLOWED)
    refusal = rules.check_booking(ADULT_F, women_local, away, ctx, channel="web")
    assert refusal == Refusal(R.NOT_ATTACHED)


def test_check_order_lists_every_code_check_booking_can_return():
    assert len(set(rules.CHECK_ORDER)) == len(rules.CHECK_ORDER) == 9
    assert rules.CHECK_ORDER[:3] == (R.AGE_NOT_ALLOWED, R.SEX_NOT_ALLOWED, R.NOT_ATTACHED)


# --- Referral selection and reuse -----------------------------------------------------------


def test_the_referral_that_expires_first_is_used():
    day = VISIT_DAY
    refs = (
        referral("cardiologist", day + timedelta(30), clinic_id=1, id=1),
        referral("cardiologist", day + timedelta(5), clinic_id=9, id=2),
        referral("cardiologist", day + timedelta(5), clinic_id=3, id=7),
        referral("cardiologist", day - timedelta(1), clinic_id=1, id=3),  # expired by then
        referral("cardiologist", day, status="used", clinic_id=1, id=4),
        referral("neurologist", day, clinic_id=1, id=5),
    )
    assert decide(code="cardiologist", referrals=refs) == Allowed(ReferralRef(3, 7))
    assert rules.choose_referral(refs, SPEC["cardiologist"].id, day).id == 7
    assert [r.id for r in rules.usable_referrals(refs, SPEC["cardiologist"].id, day)] == [7, 2, 1]
    # on the day it is valid until, a referral is still usable
    last = referral("cardiologist", day, clinic_id=5, id=6)
    assert decide(code="cardiologist", referrals=(*refs, last)) == Allowed(ReferralRef(5, 6))


def test_self_referral_booking_uses_no_referral_even_when_one_is_at_hand():
    assert decide(referrals=(referral("therapist"),)) == Allowed(referral=None)


def test_rescheduling_carries_the_referral_over():
    used = ReferralRef(4, 44)
    moved = appt("cardiologist", referral=used, id=700)
    fresh = referral("cardiologist", clinic_id=1, id=1)
    decision = decide(
        code="cardiologist", appointments=(moved,), referrals=(fresh,), exclude_appointment_id=700
    )
    assert decision == Allowed(referral=used, carried_over=True)
    # without the exclusion it is a second booking: a duplicate, whatever the referrals
    assert decide(code="cardiologist", appointments=(moved,), referrals=(fresh,)) == Refusal(
        R.DUPLICATE_APPOINTMENT
    )
    # the referral of an appointment of another specialty does not move to this one
    neuro = appt("neurologist", referral=used, id=700)
    assert decide(
        code="cardiologist", appointments=(neuro,), exclude_appointment_id=700
    ) == Refusal(R.REFERRAL_REQUIRED)
    # a moved appointment that used no referral needs one now
    bare = appt("cardiologist", id=700)
    assert decide(code="cardiologist", appointments=(bare,), exclude_appointment_id=700) == Refusal(
        R.REFERRAL_REQUIRED
    )


def test_check_booking_is_the_refusal_of_decide_booking():
    ctx = BookingContext(now=NOW)
    assert rules.check_booking(ADULT_F, SPEC["therapist"], slot(), ctx, channel="web") is None
    refusal = rules.check_booking(CHILD, SPEC["therapist"], slot(), ctx, channel="web")
    assert refusal == Refusal(R.AGE_NOT_ALLOWED)


def test_inconsistent_inputs_are_programming_errors():
    ctx = BookingContext(now=NOW)
    with pytest.raises(ValueError, match="specialty"):
        rules.decide_booking(ADULT_F, SPEC["surgeon"], slot("therapist"), ctx, channel="web")
    with pytest.raises(ValueError, match="channel"):
        rules.decide_booking(ADULT_F, SPEC["therapist"], slot(), ctx, channel="fax")


# --- Confirming a hold ------------------------------------------------------------------------

CONFIRM_CASES = [
    ("live hold of the patient", hold(3), 100, None),
    # Another patient's hold answers as one that is gone: no one learns it is live.
    ("hold of another patient", hold(3, patient_id=999), 100, R.HOLD_EXPIRED),
    ("expired hold of another patient", hold(-3, patient_id=999), 100, R.HOLD_EXPIRED),
    ("hold expiring now", hold(0), 100, R.HOLD_EXPIRED),
    ("hold expired", hold(-1), 100, R.HOLD_EXPIRED),
    ("hold gone", None, 100, R.HOLD_EXPIRED),
]


@pytest.mark.parametrize(
    ("the_hold", "patient_id", "expected"),
    [c[1:] for c in CONFIRM_CASES],
    ids=[c[0] for c in CONFIRM_CASES],
)
def test_check_confirm(the_hold, patient_id, expected):
    result = rules.check_confirm(the_hold, patient_id=patient_id, now=NOW)
    assert result == (None if expected is None else Refusal(expected))


# --- Age --------------------------------------------------------------------------------------

AGE_CASES = [
    (date(2007, 3, 12), date(2025, 3, 11), 17),
    (date(2007, 3, 12), date(2025, 3, 12), 18),
    (date(2007, 3, 12), date(2026, 3, 11), 18),
    (date(2008, 2, 29), date(2026, 2, 28), 17),  # common year: not yet on 28 Feb
    (date(2008, 2, 29), date(2026, 3, 1), 18),
    (date(2008, 2, 29), date(2028, 2, 28), 19),
    (date(2008, 2, 29), date(2028, 2, 29), 20),  # leap year: on the day
    (date(2008, 2, 29), date(2008, 2, 29), 0),
    (date(2000, 12, 31), date(2001, 12, 30), 0),
    (date(2000, 12, 31), date(2001, 12, 31), 1),
    (date(2025, 1, 1), date(2024, 12, 31), -1),
]


@pytest.mark.parametrize(("birth", "day", "age"), AGE_CASES)
def test_age_on(birth, day, age):
    assert rules.age_on(birth, day) == age


def reference_age(birth: date, day: date) -> int:
    """Count the anniversaries reached; 29 Feb's falls on 1 March in a common year."""

    def anniversary(n: int) -> date:
        try:
            return birth.replace(year=birth.year + n)
        except ValueError:
            return date(birth.year + n, 3, 1)

    n = 0
    while anniversary(n + 1) <= day:
        n += 1
    return n


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@given(birth=dates, days=st.integers(min_value=0, max_value=150 * 366))
def test_age_agrees_with_counting_anniversaries(birth, days):
    day = birth + timedelta(days=days)
    assert rules.age_on(birth, day) == reference_age(birth, day)


@given(birth=dates, years=st.integers(min_value=1, max_value=100))
def test_age_goes_up_by_one_on_the_birthday(birth, years):
    try:
        birthday = birth.replace(year=birth.year + years)
    except ValueError:
        birthday = date(birth.year + years, 3, 1)
    assert rules.age_on(birth, birthday) == years
    assert rules.age_on(birth, birthday - timedelta(days=1)) == years - 1


# --- Properties of the whole decision ---------------------------------------------------------

codes = st.sampled_from(sorted(SPEC))
instants = st.integers(min_value=-24 * 60, max_value=14 * 24 * 60).map(
    lambda m: NOW + timedelta(minutes=5 * (m // 5))
)


made_up_specialties = st.builds(
    lambda sr, ao, lo, span, sex: SpecialtyFacts(
        99, "made_up", sr, attached_only=ao, min_age=lo, max_age=min(150, lo + span), sex=sex
    ),
    st.booleans(),
    st.booleans(),
    st.integers(0, 90),
    st.integers(0, 150),
    st.sampled_from([None, "F", "M"]),
)


@st.composite
def scenarios(draw):
    spec = draw(st.one_of(codes.map(SPEC.__getitem__), made_up_specialties))
    patient = PatientFacts(
        id=draw(st.integers(1, 10**9)),
        birth_date=draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 3, 1))),
        sex=draw(st.sampled_from(["F", "M"])),
        attached_clinic_id=draw(st.sampled_from([HOME, OTHER, None])),
    )
    the_slot = SlotFacts(
        doctor=DoctorFacts(
            draw(st.integers(1, 10**6)), draw(st.sampled_from([HOME, OTHER])), spec.id
        ),
        starts_at=(start := draw(instants)),
        ends_at=start + timedelta(minutes=15),
        channel_flags=draw(st.integers(1, 31)),
        needs_referral=draw(st.booleans()),
        urgent=draw(st.booleans()),
    )
    related = st.sampled_from([spec.id, SPEC["therapist"].id, SPEC["cardiologist"].id])
    appointments = draw(
        st.lists(
            st.builds(
                lambda c, s, st_, i, r: AppointmentFacts(i, c, s, status=st_, referral=r),
                related,
                instants,
                st.sampled_from(["booked", "arrived", "cancelled", "completed"]),
                st.integers(1, 5),
                st.sampled_from([None, ReferralRef(4, 44)]),
            ),
            max_size=3,
            unique_by=lambda a: a.id,  # appointment ids are unique (an identity column)
        )
    )
    referrals = draw(
        st.lists(
            st.builds(
                lambda c, d, s, i: ReferralFacts(HOME, i, c, VISIT_DAY + timedelta(d), s),
                related,
                st.integers(-5, 20),
                st.sampled_from(["active", "used"]),
                st.integers(1, 9),
            ),
            max_size=3,
        )
    )
    holds = draw(st.lists(st.integers(-10, 10).map(hold), max_size=3))
    ctx = BookingContext(
        now=NOW, appointments=tuple(appointments), referrals=tuple(referrals), holds=tuple(holds)
    )
    kw = {
        "channel": draw(st.sampled_from(CHANNELS)),
        "new_hold": draw(st.booleans()),
        "exclude_appointment_id": draw(st.sampled_from([None, 1, 2])),
    }
    return patient, spec, the_slot, ctx, kw


@given(scenarios())
def test_the_refusal_is_the_first_failing_check_in_order(scenario):
    patient, spec, the_slot, ctx, kw = scenario
    exclude = kw["exclude_appointment_id"]
    carried = any(
        a.id == exclude and a.specialty_id == spec.id and a.referral is not None
        for a in ctx.appointments
    )
    failing = {
        R.AGE_NOT_ALLOWED: rules.check_age(patient, spec, the_slot.local_day),
        R.SEX_NOT_ALLOWED: rules.check_sex(patient, spec),
        R.NOT_ATTACHED: rules.check_attachment(patient, spec, the_slot.doctor),
        R.REFERRAL_REQUIRED: rules.needs_referral(spec, the_slot)
        and not carried
        and rules.choose_referral(ctx.referrals, spec.id, the_slot.local_day) is None,
        R.DUPLICATE_APPOINTMENT: rules.check_duplicate(ctx.appointments, spec.id, NOW, exclude),
        R.HOLD_LIMIT: kw["new_hold"] and rules.check_hold_limit(ctx.holds, NOW),
        R.SLOT_IN_PAST: rules.check_not_past(the_slot, NOW),
        R.CHANNEL_NOT_ALLOWED: rules.check_channel(the_slot, kw["channel"]),
        R.URGENT_SAME_DAY_ONLY: rules.check_urgent(the_slot, NOW),
    }
    first = next((code for code in rules.CHECK_ORDER if failing[code]), None)
    decision = rules.decide_booking(patient, spec, the_slot, ctx, **kw)
    if first is None:
        assert isinstance(decision, Allowed)
    else:
        assert decision == Refusal(first)
    if isinstance(decision, Allowed):
        assert (decision.referral is not None) == rules.needs_referral(spec, the_slot)


@given(scenarios(), st.integers(1, 10**9), st.integers(1, 10**6), st.text(max_size=5))
def test_irrelevant_facts_do_not_change_the_decision(scenario, patient_id, doctor_id, token):
    patient, spec, the_slot, ctx, kw = scenario
    other = next(s for s in SPEC.values() if s.id != spec.id)
    noisy_ctx = BookingContext(
        now=ctx.now,
        # appointments and referrals of another specialty, in any order
        appointments=(
            *reversed(ctx.appointments),
            AppointmentFacts(900, other.id, NOW + timedelta(days=1)),
        ),
        referrals=(*reversed(ctx.referrals), ReferralFacts(1, 900, other.id, VISIT_DAY)),
        holds=tuple(HoldFacts(token, h.patient_id, h.expires_at) for h in ctx.holds),
    )
    noisy_slot = msgspec.structs.replace(
        the_slot, doctor=msgspec.structs.replace(the_slot.doctor, id=doctor_id)
    )
    noisy_patient = msgspec.structs.replace(patient, id=patient_id)
    assert rules.decide_booking(patient, spec, the_slot, ctx, **kw) == rules.decide_booking(
        noisy_patient, spec, noisy_slot, noisy_ctx, **kw
    )


# --- The model ----------------------------------------------------------------------------------

ISSUE_CODES = [
    "slot_taken",
    "referral_required",
    "not_attached",
    "duplicate_appointment",
    "hold_limit",
    "hold_expired",
    "outside_schedule",
]


def test_the_issue_codes_are_stable_strings():
    values = {c.value for c in RefusalCode}
    assert set(ISSUE_CODES) <= values
    assert all(re.fullmatch(r"[a-z_]+", v) for v in values)
    assert set(rules.CHECK_ORDER) <= set(RefusalCode)


@pytest.mark.parametrize("code", list(RefusalCode))
def test_every_refusal_has_a_message_in_russian_and_english_and_a_4xx_status(code):
    ru, en = code.message("ru"), code.message("en")
    assert re.search("[а-яА-ЯёЁ]{3}", ru) and not re.search("[a-zA-Z]", ru)
    assert en and not re.search("[а-яА-ЯёЁ]", en)
    assert ru.endswith(".") and en.endswith(".")
    assert 400 <= code.status < 500
    assert Refusal(code).message() == ru
    assert BookingRefused(code).refusal == Refusal(code)


def test_channel_bits_agree_with_the_engine():
    from scheduler_core.flags import Channel as EngineChannel

    scheduled = {c: int(EngineChannel[c.upper()]) for c in CHANNELS if c != "fhir"}
    assert scheduled == {c: b for c, b in CHANNEL_BITS.items() if c != "fhir"}
    # an outside app over FHIR books the time open to apps (counted on its own channel)
    assert CHANNEL_BITS["fhir"] == int(EngineChannel.APP)


def test_the_catalogue_fits_the_facts():
    assert SPEC["paediatrician"].max_age == 17 and SPEC["therapist"].min_age == 18
    assert SPEC["gynaecologist"].sex == "F"
    assert SPEC["therapist"].attached_only and not SPEC["cardiologist"].self_referral


def test_facts_refuse_inconsistent_values():
    naive = datetime(2025, 3, 12, 9, 0)
    with pytest.raises(ValueError):
        SlotFacts(doctor("therapist"), naive, naive + timedelta(minutes=15))
    with pytest.raises(ValueError):
        SlotFacts(doctor("therapist"), VISIT, VISIT)
    with pytest.raises(ValueError):
        BookingContext(now=naive)
    with pytest.raises(ValueError):
        SpecialtyFacts(1, "x", True, min_age=18, max_age=17)
    assert slot(starts_at=datetime(2025, 3, 11, 21, 0, tzinfo=UTC)).local_day == date(2025, 3, 12)


def test_decoding_applies_the_named_constraints():
    assert msgspec.json.decode(b'"1234567890123456"', type=PolicyNumber) == "1234567890123456"
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'"123456789012345"', type=PolicyNumber)
    raw = (
        b'{"doctor": {"id": 1, "clinic_id": 1, "specialty_id": 1},'
        b' "starts_at": "2025-03-12T09:00:00", "ends_at": "2025-03-12T09:15:00"}'
    )
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=SlotFacts)  # naive times are refused
    ok = raw.replace(b':00"', b':00Z"')
    assert msgspec.json.decode(ok, type=SlotFacts).channel_flags == 31
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(ok.replace(b"}, ", b'}, "channel_flags": 32, ', 1), type=SlotFacts)


def test_max_live_holds_is_two():
    assert MAX_LIVE_HOLDS == 2
