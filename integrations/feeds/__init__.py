"""The standard feeds: HL7 v2 SIU for every appointment change (S12 booked, S13
rescheduled, S15 cancelled, S26 no-show) and ADT A28 / A31 for a patient registered or
updated, to the partners whose topics name ``hl7.siu`` / ``hl7.adt`` (kind
``hl7_feed``: both), over MLLP.

The booking domain and the registry write their own events in the transaction of each
change (:mod:`imias.booking.events`, :mod:`imias.registry.events`); the router gives
each published event to a handler here, in the relay's transaction, which reads what
the message says (:mod:`.queries`) and builds it (:mod:`.messages`). MSH-10, the
control id a receiver dedups on, is the message id, made of the event's outbox id: the
same event always makes the same message. The delivery core keeps a patient's messages
in order (``patient_id``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec

from imias.booking import APPOINTMENT_TOPIC, AppointmentRescheduled, decode_appointment_change
from imias.platform.db import Connection
from imias.platform.settings import Settings
from imias.registry import PATIENT_TOPIC, PatientRegistered, decode_patient_change
from integrations.feeds import messages
from integrations.feeds import queries as q
from integrations.model import Message
from integrations.routing import Event, Router, partners_for

log = logging.getLogger("imias.integrations.feeds")

SIU = "hl7.siu"
ADT = "hl7.adt"
HL7_CONTENT_TYPE = "x-application/hl7-v2+er7"


async def _patient(conn: Connection, patient_id: int) -> messages.PatientData | None:
    row = await conn.fetchrow(q.PATIENT, patient_id)
    return None if row is None else msgspec.convert(dict(row), messages.PatientData)


async def appointment_changed(conn: Connection, event: Event) -> Sequence[Message]:
    """An appointment change as its SIU message (none when no partner takes SIU: the
    booking hot path's events cost the relay a query, not a message)."""
    change = decode_appointment_change(event.payload)
    if not await partners_for(conn, SIU):
        return []
    row = await conn.fetchrow(q.APPOINTMENT, change.clinic_id, change.appointment_id)
    patient = await _patient(conn, change.patient_id)
    if row is None or patient is None:  # gone (a test's cleanup): nothing to tell
        log.warning("appointment %s of event %s not found", change.appointment_id, event.outbox_id)
        return []
    appointment = msgspec.convert(dict(row), messages.AppointmentData)
    tag = type(change).__struct_config__.tag
    trigger = messages.TRIGGERS[str(tag)]
    previous = change.previous_id if isinstance(change, AppointmentRescheduled) else None
    control_id = f"SIU{event.outbox_id}"
    body = messages.siu(trigger, control_id, appointment, patient, previous=previous)
    return [
        Message(
            audience=SIU,
            kind=f"hl7.siu.{trigger.lower()}",
            content_type=HL7_CONTENT_TYPE,
            body=body,
            patient_id=change.patient_id,
            message_id=control_id,
        )
    ]


async def patient_changed(conn: Connection, event: Event) -> Sequence[Message]:
    """A patient registered (A28) or updated (A31)."""
    change = decode_patient_change(event.payload)
    if not await partners_for(conn, ADT):
        return []
    patient = await _patient(conn, change.patient_id)
    if patient is None:
        log.warning("patient %s of event %s not found", change.patient_id, event.outbox_id)
        return []
    trigger = "A28" if isinstance(change, PatientRegistered) else "A31"
    control_id = f"ADT{event.outbox_id}"
    return [
        Message(
            audience=ADT,
            kind=f"hl7.adt.{trigger.lower()}",
            content_type=HL7_CONTENT_TYPE,
            body=messages.adt(trigger, control_id, patient),
            patient_id=change.patient_id,
            message_id=control_id,
        )
    ]


def register(router: Router, settings: Settings) -> None:
    """The feeds' handlers on the router (:func:`integrations.routes.build_router`)."""
    del settings
    router.route(APPOINTMENT_TOPIC, appointment_changed)
    router.route(PATIENT_TOPIC, patient_changed)


__all__ = ["ADT", "SIU", "appointment_changed", "patient_changed", "register"]
