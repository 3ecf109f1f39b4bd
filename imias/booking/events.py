"""The booking domain's own events for the world outside: an appointment was booked,
moved, cancelled, or not kept. Each is written to the outbox (topic
:data:`APPOINTMENT_TOPIC`) in the transaction of the change, by the statement that
makes the change wherever it can (one round trip, see :mod:`.queries`); holds write
none (a hold is no appointment until it is confirmed).

The payload is a msgspec tagged union (tag field ``change``, stable tags), small on
purpose: what changed and the keys to read the rest (the appointment's doctor, times
and specialty never change once written; a reschedule makes a new appointment).
Statements that learn the appointment's id only as they insert it build the same JSON
in SQL (:func:`booked_json_sql`); :func:`decode` reads either.
"""

from __future__ import annotations

from typing import Final

import msgspec

#: The outbox topic of appointment changes (integrations turn them into HL7 SIU).
APPOINTMENT_TOPIC: Final = "booking.appointment"


class AppointmentChange(msgspec.Struct, frozen=True, kw_only=True, tag_field="change"):
    """What every change names: the appointment, its patient and its clinic."""

    appointment_id: int
    patient_id: int
    clinic_id: int


class AppointmentBooked(AppointmentChange, frozen=True, kw_only=True, tag="booked"):
    """A new booking: booked directly, or a hold confirmed."""

    channel: str = ""


class AppointmentRescheduled(AppointmentChange, frozen=True, kw_only=True, tag="rescheduled"):
    """Moved: ``appointment_id`` is the new appointment, ``previous_id`` (at
    ``previous_clinic_id``) the one it replaces, now cancelled."""

    previous_id: int
    previous_clinic_id: int
    channel: str = ""


class AppointmentCancelled(AppointmentChange, frozen=True, kw_only=True, tag="cancelled"):
    pass


class AppointmentNoShow(AppointmentChange, frozen=True, kw_only=True, tag="no_show"):
    pass


AppointmentChanged = (
    AppointmentBooked | AppointmentRescheduled | AppointmentCancelled | AppointmentNoShow
)

_decoder = msgspec.json.Decoder(AppointmentChanged)
_encoder = msgspec.json.Encoder()


def encode(change: AppointmentChange) -> bytes:
    return _encoder.encode(change)


def decode(payload: bytes) -> AppointmentChanged:
    """An event's payload (msgspec.ValidationError / DecodeError when it is not one)."""
    return _decoder.decode(payload)


def values(change: AppointmentChange) -> tuple[int, str, bytes]:
    """The change as an outbox CTE takes it: clinic id, topic, payload."""
    return change.clinic_id, APPOINTMENT_TOPIC, encode(change)


def booked_json_sql(id_column: str, patient: str, clinic: str, channel: str) -> str:
    """An SQL expression (bytea) of an :class:`AppointmentBooked` payload, for a statement
    that learns the appointment's id only as it inserts it."""
    return (
        "convert_to(json_build_object('change', 'booked', "
        f"'appointment_id', {id_column}, 'patient_id', {patient}, 'clinic_id', {clinic}, "
        f"'channel', {channel})::text, 'UTF8')"
    )


def no_show_json_sql(id_column: str, patient: str, clinic: str) -> str:
    """As :func:`booked_json_sql`, of an :class:`AppointmentNoShow` (the sweep of
    no-shows marks many in one statement)."""
    return (
        "convert_to(json_build_object('change', 'no_show', "
        f"'appointment_id', {id_column}, 'patient_id', {patient}, 'clinic_id', {clinic})"
        "::text, 'UTF8')"
    )
