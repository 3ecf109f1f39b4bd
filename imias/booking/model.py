"""Values of the booking domain: the facts the rules decide on, and the refusals.

Plain msgspec Structs (``frozen=True``) and the named constraint types that the HTTP API
reuses; no I/O. The rules themselves are in :mod:`imias.booking.rules`.

Times are aware ``datetime`` instants (stored in UTC); a slot knows its clinic's IANA
zone, so its local day is derived, never passed separately (one fact, one place).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from msgspec import Meta, Struct

from imias.platform.problems import ProblemError

# --- Named constraint types (the API reuses them) --------------------------------------

PolicyNumber = Annotated[str, Meta(pattern=r"^\d{16}$", description="16-digit OMS policy")]
SpecialtyCode = Annotated[str, Meta(pattern=r"^[a-z_]+$", max_length=64)]
Id = Annotated[int, Meta(ge=1, le=2**63 - 1)]
SpecialtyId = Annotated[int, Meta(ge=1, le=32767)]
Age = Annotated[int, Meta(ge=0, le=150)]
ChannelFlags = Annotated[int, Meta(ge=1, le=31, description="bits: web 1, app 2, phone 4, ...")]
Instant = Annotated[datetime, Meta(tz=True)]
TimeZone = Annotated[str, Meta(min_length=1, max_length=64, examples=["Europe/Moscow"])]
Sex = Literal["F", "M"]
Lang = Literal["ru", "en"]

#: Who asks: the patient channels, the registrar (call centre, clinic desk) and outside
#: booking apps over FHIR (IHE ITI Scheduling, integrations.scheduling).
Channel = Literal["web", "app", "phone", "kiosk", "registrar", "fhir"]
CHANNELS: tuple[Channel, ...] = ("web", "app", "phone", "kiosk", "registrar", "fhir")
#: The channel bits of ``schedule_templates.channels`` (and scheduler_core's Channel).
#: An outside app over FHIR books the time open to apps: it is counted on its own
#: channel (``appointments.channel``), not scheduled on one.
CHANNEL_BITS: dict[Channel, int] = {
    "web": 1,
    "app": 2,
    "phone": 4,
    "kiosk": 8,
    "registrar": 16,
    "fhir": 2,
}
ALL_CHANNELS = 31

#: Appointment statuses that occupy the doctor's time (``appointments.status``).
ACTIVE_STATUSES = frozenset({"booked", "arrived"})
AppointmentStatus = Literal["booked", "arrived", "completed", "cancelled", "no_show"]
ReferralStatus = Literal["active", "used", "cancelled", "expired"]

#: A patient may hold at most this many slots at once (holds not yet expired).
MAX_LIVE_HOLDS = 2


# --- Facts -----------------------------------------------------------------------------


class PatientFacts(Struct, frozen=True):
    id: Id
    birth_date: date
    sex: Sex
    attached_clinic_id: Id | None = None


class SpecialtyFacts(Struct, frozen=True):
    """A row of ``specialties`` (the catalogue's fields of the same names)."""

    id: SpecialtyId
    code: SpecialtyCode
    self_referral: bool
    attached_only: bool = False
    min_age: Age = 0
    max_age: Age = 150  # inclusive: 17 admits a patient until the day before turning 18
    sex: Sex | None = None  # None: any

    def __post_init__(self) -> None:
        if self.max_age < self.min_age:
            raise ValueError("max_age must not be below min_age")


class DoctorFacts(Struct, frozen=True):
    id: Id
    clinic_id: Id
    specialty_id: SpecialtyId


class SlotFacts(Struct, frozen=True):
    """A bookable interval of one doctor's time, as the schedule opened it."""

    doctor: DoctorFacts
    starts_at: Instant
    ends_at: Instant
    time_zone: TimeZone = "Europe/Moscow"  # the clinic's zone (clinics.time_zone)
    channel_flags: ChannelFlags = ALL_CHANNELS
    needs_referral: bool = False  # kept for patients with a referral, whatever the specialty
    urgent: bool = False  # kept for same-day urgent care

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("slot times must be aware datetimes")
        if self.ends_at <= self.starts_at:
            raise ValueError("a slot must end after it starts")
        ZoneInfo(self.time_zone)  # an unknown zone fails here, not in the middle of a rule

    @property
    def local_day(self) -> date:
        """The day of the visit in the clinic's zone."""
        return self.starts_at.astimezone(ZoneInfo(self.time_zone)).date()


class ReferralRef(Struct, frozen=True):
    """The key of a referral (``referrals`` is keyed by the issuing clinic)."""

    clinic_id: Id
    id: Id


class ReferralFacts(Struct, frozen=True):
    clinic_id: Id
    id: Id
    specialty_id: SpecialtyId
    valid_until: date  # inclusive, a day in the clinic's zone
    status: ReferralStatus = "active"

    @property
    def ref(self) -> ReferralRef:
        return ReferralRef(self.clinic_id, self.id)


class AppointmentFacts(Struct, frozen=True):
    """One of the patient's appointments, as far as the rules care."""

    id: Id
    specialty_id: SpecialtyId
    starts_at: Instant
    status: AppointmentStatus = "booked"
    referral: ReferralRef | None = None  # the referral it used up


class HoldFacts(Struct, frozen=True):
    """A slot held for a patient until ``expires_at`` (exclusive: at that instant it is gone)."""

    token: str
    patient_id: Id
    expires_at: Instant


class BookingContext(Struct, frozen=True):
    """What else the rules need to know, gathered by the service for one request.

    ``appointments``: the patient's appointments (at least the active ones; the rules pick
    the future, active ones). ``referrals``: the patient's referrals (the rules pick the
    active ones for the specialty). ``holds``: the patient's holds (the rules count the
    ones still live at ``now``). ``now``: the service's clock, an aware instant.
    """

    now: Instant
    appointments: tuple[AppointmentFacts, ...] = ()
    referrals: tuple[ReferralFacts, ...] = ()
    holds: tuple[HoldFacts, ...] = ()

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be an aware datetime")


# --- Refusals --------------------------------------------------------------------------


class RefusalCode(StrEnum):
    """Stable machine-readable reasons; the API puts them in problem+json ``code``.

    Values never change once released (clients and stored answers depend on them).
    """

    # decided by imias.booking.rules.check_booking, in this order (see rules.CHECK_ORDER)
    AGE_NOT_ALLOWED = "age_not_allowed"
    SEX_NOT_ALLOWED = "sex_not_allowed"
    NOT_ATTACHED = "not_attached"
    REFERRAL_REQUIRED = "referral_required"
    DUPLICATE_APPOINTMENT = "duplicate_appointment"
    HOLD_LIMIT = "hold_limit"
    SLOT_IN_PAST = "slot_in_past"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    URGENT_SAME_DAY_ONLY = "urgent_same_day_only"
    # decided by rules.check_confirm
    WRONG_HOLD = "wrong_hold"
    HOLD_EXPIRED = "hold_expired"
    # decided by the engine, the database or the service
    SLOT_TAKEN = "slot_taken"
    OUTSIDE_SCHEDULE = "outside_schedule"
    NOT_FOUND = "not_found"

    @property
    def status(self) -> int:
        """The HTTP status of a refusal with this code (always 4xx)."""
        return _STATUS[self]

    def message(self, lang: Lang = "ru") -> str:
        """A sentence a patient can read, in Russian or English."""
        return _MESSAGES[self][lang]


_STATUS: dict[RefusalCode, int] = {
    RefusalCode.AGE_NOT_ALLOWED: 403,
    RefusalCode.SEX_NOT_ALLOWED: 403,
    RefusalCode.NOT_ATTACHED: 403,
    RefusalCode.REFERRAL_REQUIRED: 403,
    RefusalCode.DUPLICATE_APPOINTMENT: 409,
    RefusalCode.HOLD_LIMIT: 409,
    RefusalCode.SLOT_IN_PAST: 409,
    RefusalCode.CHANNEL_NOT_ALLOWED: 403,
    RefusalCode.URGENT_SAME_DAY_ONLY: 403,
    RefusalCode.WRONG_HOLD: 403,
    RefusalCode.HOLD_EXPIRED: 410,
    RefusalCode.SLOT_TAKEN: 409,
    RefusalCode.OUTSIDE_SCHEDULE: 409,
    RefusalCode.NOT_FOUND: 404,
}

_MESSAGES: dict[RefusalCode, dict[Lang, str]] = {
    RefusalCode.AGE_NOT_ALLOWED: {
        "ru": "Этот специалист не принимает пациентов вашего возраста.",
        "en": "This specialist does not see patients of your age.",
    },
    RefusalCode.SEX_NOT_ALLOWED: {
        "ru": "Этот специалист не принимает пациентов вашего пола.",
        "en": "This specialist does not see patients of your sex.",
    },
    RefusalCode.NOT_ATTACHED: {
        "ru": "К этому врачу можно записаться только в поликлинике, к которой вы прикреплены.",
        "en": "You can book this doctor only at the clinic you are registered with.",
    },
    RefusalCode.REFERRAL_REQUIRED: {
        "ru": "Для записи нужно действующее направление к этому специалисту.",
        "en": "You need a valid referral to book this specialist.",
    },
    RefusalCode.DUPLICATE_APPOINTMENT: {
        "ru": "У вас уже есть предстоящая запись к этому специалисту. Перенесите или отмените её.",
        "en": "You already have an upcoming appointment with this specialist. "
        "Reschedule or cancel it instead.",
    },
    RefusalCode.HOLD_LIMIT: {
        "ru": "Вы уже выбрали два времени приёма. Подтвердите или отмените одно из них.",
        "en": "You are already holding two appointment times. Confirm or release one first.",
    },
    RefusalCode.SLOT_IN_PAST: {
        "ru": "Это время приёма уже прошло. Выберите другое.",
        "en": "This appointment time has already passed. Please choose another.",
    },
    RefusalCode.CHANNEL_NOT_ALLOWED: {
        "ru": "Это время нельзя забронировать этим способом. Выберите другое время "
        "или обратитесь в регистратуру.",
        "en": "This time cannot be booked this way. Choose another time or contact "
        "the registration desk.",
    },
    RefusalCode.URGENT_SAME_DAY_ONLY: {
        "ru": "Это время оставлено для неотложного приёма, на него можно записаться "
        "только в день приёма.",
        "en": "This time is kept for urgent care and can be booked only on the same day.",
    },
    RefusalCode.WRONG_HOLD: {
        "ru": "Это бронирование оформлено не на вас.",
        "en": "This hold was not made for you.",
    },
    RefusalCode.HOLD_EXPIRED: {
        "ru": "Время на подтверждение записи истекло. Выберите время ещё раз.",
        "en": "The time to confirm has run out. Please choose a time again.",
    },
    RefusalCode.SLOT_TAKEN: {
        "ru": "Это время уже занято. Выберите другое.",
        "en": "This time has just been taken. Please choose another.",
    },
    RefusalCode.OUTSIDE_SCHEDULE: {
        "ru": "Врач не ведёт приём в это время.",
        "en": "The doctor does not see patients at this time.",
    },
    RefusalCode.NOT_FOUND: {
        "ru": "Запрошенная запись не найдена.",
        "en": "The requested item was not found.",
    },
}


def refuse(code: RefusalCode, detail: str | None = None) -> ProblemError:
    """The problem document of a refusal: its code and status, a sentence in English (or
    ``detail``) and the patient's sentence in Russian."""
    return ProblemError(
        code.status,
        code.value,
        detail or code.message("en"),
        extra={"message_ru": code.message("ru")},
    )


class Refusal(Struct, frozen=True):
    """A booking the rules refuse, with its stable code."""

    code: RefusalCode

    def message(self, lang: Lang = "ru") -> str:
        return self.code.message(lang)


class Allowed(Struct, frozen=True):
    """A booking the rules allow, and the referral it uses up (None: none needed).

    ``carried_over``: the referral is the one of the appointment being rescheduled; it
    moves to the new appointment rather than being used up a second time.
    """

    referral: ReferralRef | None = None
    carried_over: bool = False


class BookingRefused(Exception):
    """Raised by the service to abort a booking; carries the refusal."""

    def __init__(self, code: RefusalCode) -> None:
        super().__init__(code.value)
        self.code = code

    @property
    def refusal(self) -> Refusal:
        return Refusal(self.code)
