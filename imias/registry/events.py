"""The registry's own events for the world outside: a patient was registered, or their
data changed. Each is written to the outbox (topic :data:`PATIENT_TOPIC`) by the
statement that makes the change (:mod:`imias.registry.patients`), in its transaction;
integrations turn them into HL7 ADT A28 / A31.

A msgspec tagged union (tag field ``change``, stable tags) naming the patient; the
patient's data is read when the message is made."""

from __future__ import annotations

from typing import Final

import msgspec

PATIENT_TOPIC: Final = "registry.patient"


class PatientChange(msgspec.Struct, frozen=True, kw_only=True, tag_field="change"):
    patient_id: int


class PatientRegistered(PatientChange, frozen=True, kw_only=True, tag="registered"):
    pass


class PatientUpdated(PatientChange, frozen=True, kw_only=True, tag="updated"):
    #: The fields that changed (``phone``, ``attached_clinic_id``, ...).
    fields: tuple[str, ...] = ()


PatientChanged = PatientRegistered | PatientUpdated

_decoder = msgspec.json.Decoder(PatientChanged)


def encode(change: PatientChange) -> bytes:
    return msgspec.json.encode(change)


def decode(payload: bytes) -> PatientChanged:
    return _decoder.decode(payload)
