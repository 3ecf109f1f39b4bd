"""Booking: schedules, the rules, holds, appointments, referrals and the waitlist over
PostgreSQL and Redis, with the scheduler_core engine in front (DESIGN.md, the hot path).

Other packages use the names below and nothing else of this package: the use cases
(:class:`BookingService`), the worker's engine, search, the values the API answers
with, and the one place that decides whose booking data an HTTP caller reaches
(:mod:`.caller`).
"""

from imias.booking import search
from imias.booking.calendar_loader import Geometry, LoadReport, load_calendar
from imias.booking.caller import (
    acting_patient,
    caller,
    channel_of,
    clinic_scope,
    doctor_in_scope,
    idempotency_key,
    readable_patient,
    staff_appointment,
    staff_hold,
    staff_waitlist_entry,
)
from imias.booking.engine import Engine, EngineNotReady
from imias.booking.events import (
    APPOINTMENT_TOPIC,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentChanged,
    AppointmentNoShow,
    AppointmentRescheduled,
)
from imias.booking.events import decode as decode_appointment_change
from imias.booking.model import CHANNEL_BITS, CHANNELS, Channel, RefusalCode
from imias.booking.outcomes import Drained, Outcomes
from imias.booking.plugin import BookingPlugin
from imias.booking.relocation import Relocations
from imias.booking.relocation_views import ClinicRelocations, Relocation
from imias.booking.schedule_admin import ScheduleAdmin
from imias.booking.schedule_model import (
    ClinicDoctor,
    DoctorSchedule,
    ExceptionRequest,
    Holiday,
    HolidayRequest,
    ScheduleChange,
    TemplateRequest,
)
from imias.booking.schedules import (
    Block,
    ScheduleException,
    Template,
    expand,
    expand_each,
    to_local,
    to_utc,
)
from imias.booking.search import (
    ENTITLED_BY_REFERRAL,
    ClinicWithTime,
    FreeSlot,
    bookable_clinics,
    earliest_for,
)
from imias.booking.service import HOLD_SECONDS, BookingService
from imias.booking.views import Appointment, Hold
from imias.booking.waitlist import WaitlistEntry
from imias.booking.walk_ins import WalkIn, WalkInAdd, WalkInQueue, WalkIns

__all__ = [
    "APPOINTMENT_TOPIC",
    "AppointmentBooked",
    "AppointmentCancelled",
    "AppointmentChanged",
    "AppointmentNoShow",
    "AppointmentRescheduled",
    "decode_appointment_change",
    "ENTITLED_BY_REFERRAL",
    "Block",
    "BookingPlugin",
    "CHANNELS",
    "CHANNEL_BITS",
    "HOLD_SECONDS",
    "Appointment",
    "BookingService",
    "Channel",
    "ClinicRelocations",
    "ClinicDoctor",
    "ClinicWithTime",
    "DoctorSchedule",
    "ExceptionRequest",
    "Holiday",
    "HolidayRequest",
    "ScheduleAdmin",
    "ScheduleChange",
    "TemplateRequest",
    "Drained",
    "Engine",
    "EngineNotReady",
    "FreeSlot",
    "Geometry",
    "Hold",
    "LoadReport",
    "Outcomes",
    "RefusalCode",
    "Relocation",
    "Relocations",
    "ScheduleException",
    "Template",
    "WaitlistEntry",
    "WalkIn",
    "WalkInAdd",
    "WalkInQueue",
    "WalkIns",
    "acting_patient",
    "bookable_clinics",
    "caller",
    "channel_of",
    "clinic_scope",
    "doctor_in_scope",
    "earliest_for",
    "expand",
    "expand_each",
    "idempotency_key",
    "load_calendar",
    "readable_patient",
    "search",
    "staff_appointment",
    "staff_hold",
    "staff_waitlist_entry",
    "to_local",
    "to_utc",
]
