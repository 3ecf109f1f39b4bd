"""The rules of booking: pure decisions, no I/O, no clock (``now`` is passed in).

:func:`decide_booking` (and its short form :func:`check_booking`) says whether a patient
may take a slot, and which referral the booking uses up; :func:`check_confirm` says
whether a hold may be confirmed. They return values, never raise, for a refusal: the
service turns a :class:`~imias.booking.model.Refusal` into ``BookingRefused`` to abort its
transaction, and the API into problem+json. Inconsistent inputs (a slot of a doctor of
another specialty) are a programming error and raise ``ValueError``.

Order of the checks (:data:`CHECK_ORDER`): the first failing check is the answer, so the
answer never depends on how the checks happen to be written. The order goes from the
broadest reason to the narrowest, so that the patient is told first what no other slot
would fix:

1. ``age_not_allowed``        the patient's age on the day of the visit is outside the
                              specialty's ``min_age`` .. ``max_age`` (both inclusive)
2. ``sex_not_allowed``        the specialty is for one sex and the patient is of the other
3. ``not_attached``           an ``attached_only`` specialty (therapist, paediatrician, GP)
                              at a clinic other than the patient's attached clinic
4. ``referral_required``      a referral-only specialty, or a slot kept for referrals, and
                              no usable referral
5. ``duplicate_appointment``  the patient already has a future appointment of the specialty
6. ``hold_limit``             taking a new hold while ``MAX_LIVE_HOLDS`` holds are live
7. ``slot_in_past``           the slot has started
8. ``channel_not_allowed``    the slot's channel flags do not include the caller's channel
9. ``urgent_same_day_only``   an urgent slot on a day other than today in the clinic's zone

Decisions written down here (the service and the API follow them):

- Age is in whole years on the slot's local day; it goes up on the birthday itself. A
  patient born on 29 February turns a year older on 1 March in a common year (on
  28 February the year is not complete yet).
- A referral is usable when it is ``active``, for the specialty, and valid on the day of
  the visit (``valid_until`` inclusive). Of several, the booking uses the one that expires
  first (ties: lowest ``(clinic_id, id)``), so the longer-lived ones stay for later.
- Rescheduling (``exclude_appointment_id``): the appointment being moved does not count as
  a duplicate, and the referral it used moves with it instead of a second one being used.
- An appointment is "future" while it has not started (``starts_at > now``) and is active
  (booked or arrived); one in progress does not block booking a follow-up.
- A hold is live while ``now < expires_at``. The hold limit applies only when a new hold
  is taken (``new_hold=True``); confirming a hold or a registrar's direct booking takes none.
  A slot the clinic holds for a patient it moved (a relocation's offer) is not her hold:
  the booking context leaves it out, so it never stops her from choosing another time.
- A slot is in the past from its start (``starts_at <= now``).
- An urgent slot may be taken only on its own local day (today in the clinic's zone),
  from any channel its flags allow.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from imias.booking.model import (
    ACTIVE_STATUSES,
    CHANNEL_BITS,
    MAX_LIVE_HOLDS,
    Allowed,
    AppointmentFacts,
    BookingContext,
    Channel,
    DoctorFacts,
    HoldFacts,
    PatientFacts,
    ReferralFacts,
    ReferralRef,
    Refusal,
    RefusalCode,
    SlotFacts,
    SpecialtyFacts,
)

__all__ = [
    "CHECK_ORDER",
    "age_on",
    "check_age",
    "check_attachment",
    "check_booking",
    "check_channel",
    "check_confirm",
    "check_duplicate",
    "check_hold_limit",
    "check_not_past",
    "check_sex",
    "check_urgent",
    "choose_referral",
    "decide_booking",
    "future_appointments",
    "live_holds",
    "local_date",
    "needs_referral",
    "usable_referrals",
]

CHECK_ORDER: tuple[RefusalCode, ...] = (
    RefusalCode.AGE_NOT_ALLOWED,
    RefusalCode.SEX_NOT_ALLOWED,
    RefusalCode.NOT_ATTACHED,
    RefusalCode.REFERRAL_REQUIRED,
    RefusalCode.DUPLICATE_APPOINTMENT,
    RefusalCode.HOLD_LIMIT,
    RefusalCode.SLOT_IN_PAST,
    RefusalCode.CHANNEL_NOT_ALLOWED,
    RefusalCode.URGENT_SAME_DAY_ONLY,
)


# --- Time ------------------------------------------------------------------------------


def age_on(birth_date: date, day: date) -> int:
    """Whole years of age on ``day``; the age goes up on the birthday (29 Feb: on 1 March
    in a common year). Negative before birth."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


def local_date(instant: datetime, time_zone: str) -> date:
    """The date of an aware instant in an IANA zone."""
    if instant.tzinfo is None:
        raise ValueError("instant must be an aware datetime")
    return instant.astimezone(ZoneInfo(time_zone)).date()


# --- Who may see the specialty -----------------------------------------------------------


def check_age(patient: PatientFacts, specialty: SpecialtyFacts, day: date) -> RefusalCode | None:
    age = age_on(patient.birth_date, day)
    if specialty.min_age <= age <= specialty.max_age:
        return None
    return RefusalCode.AGE_NOT_ALLOWED


def check_sex(patient: PatientFacts, specialty: SpecialtyFacts) -> RefusalCode | None:
    if specialty.sex is None or specialty.sex == patient.sex:
        return None
    return RefusalCode.SEX_NOT_ALLOWED


def check_attachment(
    patient: PatientFacts, specialty: SpecialtyFacts, doctor: DoctorFacts
) -> RefusalCode | None:
    if not specialty.attached_only or doctor.clinic_id == patient.attached_clinic_id:
        return None
    return RefusalCode.NOT_ATTACHED


# --- Referrals -------------------------------------------------------------------------


def needs_referral(specialty: SpecialtyFacts, slot: SlotFacts) -> bool:
    """A referral-only specialty, or a slot kept for patients with a referral."""
    return not specialty.self_referral or slot.needs_referral


def usable_referrals(
    referrals: Iterable[ReferralFacts], specialty_id: int, day: date
) -> list[ReferralFacts]:
    """Active referrals for the specialty valid on ``day``, the first to expire first."""
    usable = [
        r
        for r in referrals
        if r.status == "active" and r.specialty_id == specialty_id and r.valid_until >= day
    ]
    usable.sort(key=lambda r: (r.valid_until, r.clinic_id, r.id))
    return usable


def choose_referral(
    referrals: Iterable[ReferralFacts], specialty_id: int, day: date
) -> ReferralFacts | None:
    """The referral a booking on ``day`` uses up: the usable one that expires first."""
    usable = usable_referrals(referrals, specialty_id, day)
    return usable[0] if usable else None


def _carried_referral(
    appointments: Iterable[AppointmentFacts], specialty_id: int, exclude_appointment_id: int | None
) -> ReferralRef | None:
    if exclude_appointment_id is None:
        return None
    for a in appointments:
        if a.id == exclude_appointment_id and a.specialty_id == specialty_id:
            if a.referral is not None:
                return a.referral
    return None


def _referral_decision(
    specialty: SpecialtyFacts,
    slot: SlotFacts,
    ctx: BookingContext,
    exclude_appointment_id: int | None,
) -> Allowed | None:
    """What the booking uses as its referral; None when one is needed and there is none."""
    if not needs_referral(specialty, slot):
        return Allowed()
    carried = _carried_referral(ctx.appointments, specialty.id, exclude_appointment_id)
    if carried is not None:
        return Allowed(referral=carried, carried_over=True)
    chosen = choose_referral(ctx.referrals, specialty.id, slot.local_day)
    return None if chosen is None else Allowed(referral=chosen.ref)


# --- The patient's other bookings ------------------------------------------------------


def future_appointments(
    appointments: Iterable[AppointmentFacts],
    specialty_id: int,
    now: datetime,
    exclude_appointment_id: int | None = None,
) -> list[AppointmentFacts]:
    """Active appointments of the specialty that have not started, but the excluded one."""
    return [
        a
        for a in appointments
        if a.specialty_id == specialty_id
        and a.status in ACTIVE_STATUSES
        and a.starts_at > now
        and a.id != exclude_appointment_id
    ]


def check_duplicate(
    appointments: Iterable[AppointmentFacts],
    specialty_id: int,
    now: datetime,
    exclude_appointment_id: int | None = None,
) -> RefusalCode | None:
    if future_appointments(appointments, specialty_id, now, exclude_appointment_id):
        return RefusalCode.DUPLICATE_APPOINTMENT
    return None


def live_holds(holds: Iterable[HoldFacts], now: datetime) -> int:
    """How many of the holds have not expired at ``now``."""
    return sum(1 for h in holds if now < h.expires_at)


def check_hold_limit(holds: Iterable[HoldFacts], now: datetime) -> RefusalCode | None:
    """Refuses a new hold when ``MAX_LIVE_HOLDS`` are live already."""
    if live_holds(holds, now) >= MAX_LIVE_HOLDS:
        return RefusalCode.HOLD_LIMIT
    return None


# --- The slot itself -------------------------------------------------------------------


def check_not_past(slot: SlotFacts, now: datetime) -> RefusalCode | None:
    return RefusalCode.SLOT_IN_PAST if slot.starts_at <= now else None


def check_channel(slot: SlotFacts, channel: Channel) -> RefusalCode | None:
    try:
        bit = CHANNEL_BITS[channel]
    except KeyError:
        raise ValueError(f"unknown channel {channel!r}") from None
    return None if slot.channel_flags & bit else RefusalCode.CHANNEL_NOT_ALLOWED


def check_urgent(slot: SlotFacts, now: datetime) -> RefusalCode | None:
    if not slot.urgent or local_date(now, slot.time_zone) == slot.local_day:
        return None
    return RefusalCode.URGENT_SAME_DAY_ONLY


# --- The decisions ---------------------------------------------------------------------


def decide_booking(
    patient: PatientFacts,
    specialty: SpecialtyFacts,
    slot: SlotFacts,
    ctx: BookingContext,
    *,
    channel: Channel,
    new_hold: bool = True,
    exclude_appointment_id: int | None = None,
) -> Allowed | Refusal:
    """May ``patient`` take ``slot`` of ``specialty`` through ``channel``?

    ``new_hold``: the request takes a new hold (so the hold limit applies); False when a
    hold is confirmed or a registrar books directly. ``exclude_appointment_id``: the
    appointment being rescheduled. Returns the first refusal in :data:`CHECK_ORDER`, or
    :class:`Allowed` with the referral the booking uses.
    """
    if channel not in CHANNEL_BITS:
        raise ValueError(f"unknown channel {channel!r}")
    doctor = slot.doctor
    if doctor.specialty_id != specialty.id:
        raise ValueError(
            f"doctor {doctor.id} is of specialty {doctor.specialty_id}, not {specialty.id}"
        )
    day = slot.local_day
    referral = _referral_decision(specialty, slot, ctx, exclude_appointment_id)
    code = (
        check_age(patient, specialty, day)
        or check_sex(patient, specialty)
        or check_attachment(patient, specialty, doctor)
        or (RefusalCode.REFERRAL_REQUIRED if referral is None else None)
        or check_duplicate(ctx.appointments, specialty.id, ctx.now, exclude_appointment_id)
        or (check_hold_limit(ctx.holds, ctx.now) if new_hold else None)
        or check_not_past(slot, ctx.now)
        or check_channel(slot, channel)
        or check_urgent(slot, ctx.now)
    )
    if code is not None:
        return Refusal(code)
    assert referral is not None  # a missing referral was refused above
    return referral


def check_booking(
    patient: PatientFacts,
    specialty: SpecialtyFacts,
    slot: SlotFacts,
    ctx: BookingContext,
    *,
    channel: Channel,
    new_hold: bool = True,
    exclude_appointment_id: int | None = None,
) -> Refusal | None:
    """The refusal of :func:`decide_booking`, or None when the booking is allowed."""
    decision = decide_booking(
        patient,
        specialty,
        slot,
        ctx,
        channel=channel,
        new_hold=new_hold,
        exclude_appointment_id=exclude_appointment_id,
    )
    return decision if isinstance(decision, Refusal) else None


CHECK_IN_OPENS = timedelta(hours=1)


def check_arrival(
    status: str, starts_at: datetime, ends_at: datetime, now: datetime
) -> tuple[str, str, str] | None:
    """May a patient check themself in (at a kiosk) at ``now``? None, or the refusal as
    (code, English, Russian): from an hour before the appointment to its end."""
    if status == "arrived":
        return ("already_arrived", "You have already checked in.", "Вы уже отметились.")
    if status != "booked":
        return (
            "wrong_status",
            f"The appointment is {status}; it cannot be checked in.",
            "Эта запись не активна, отметиться по ней нельзя.",
        )
    if now < starts_at - CHECK_IN_OPENS:
        return (
            "check_in_not_open",
            "Check-in opens an hour before the appointment.",
            "Отметиться можно не раньше чем за час до приёма.",
        )
    if now > ends_at:
        return (
            "check_in_closed",
            "The appointment time is over; please go to the registration desk.",
            "Время приёма прошло. Обратитесь в регистратуру.",
        )
    return None


def check_no_show(status: str, starts_at: datetime, now: datetime) -> tuple[str, str, str] | None:
    """May the doctor mark the patient as not come at ``now``? None, or the refusal as
    (code, English, Russian): a booked appointment (not arrived, not over) whose time
    has begun."""
    if status == "no_show":
        return (
            "already_no_show",
            "The patient is already marked as not come.",
            "Неявка уже отмечена.",
        )
    if status != "booked":
        return (
            "wrong_status",
            f"The appointment is {status}; it cannot be marked as a no-show.",
            "Эту запись нельзя отметить как неявку: пациент пришёл, принят или запись отменена.",
        )
    if now < starts_at:
        return (
            "not_begun",
            "The appointment has not begun yet; a no-show is marked after its start.",
            "Приём ещё не начался: неявку отмечают после его начала.",
        )
    return None


def check_confirm(hold: HoldFacts | None, *, patient_id: int, now: datetime) -> Refusal | None:
    """May ``patient_id`` confirm ``hold`` at ``now``?

    A hold that is no longer found (expired and swept, or released) is ``hold_expired``:
    the patient cannot tell the two apart and the remedy is the same. A hold of another
    patient answers exactly the same, so that no one learns whether a token they do not
    own is someone's live hold. After this, the service re-runs :func:`decide_booking`
    with ``new_hold=False``.
    """
    if hold is None or hold.patient_id != patient_id:
        return Refusal(RefusalCode.HOLD_EXPIRED)
    if hold.expires_at <= now:
        return Refusal(RefusalCode.HOLD_EXPIRED)
    return None
