"""Illness episodes' values: what the API takes and answers, and the events the record
writes to the outbox (topic :data:`TOPIC`) with each change. No I/O.

The events carry days and who the child is by id, never a diagnosis: whoever turns them
into messages (the schools' adapter) learns that a child was ill, not why."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec
from msgspec import Meta

Id = Annotated[int, Meta(ge=1, le=2**63 - 1)]

#: The outbox topic of illness episodes' events.
TOPIC = "ehr.illness"


class EpisodeOpen(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A doctor opens an illness episode in her visit: ill since ``starts_on``."""

    starts_on: date


class EpisodeClose(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A doctor closes an open episode: ill until ``ends_on`` inclusive."""

    ends_on: date


class IllnessEpisode(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    patient_id: int
    encounter_id: int
    clinic_id: int
    starts_on: date
    ends_on: date | None
    opened_at: datetime
    closed_at: datetime | None
    status: str  # open | closed


class IllnessOpened(msgspec.Struct, frozen=True, kw_only=True, tag="illness_opened"):
    """An episode was opened (the child is ill since ``starts_on``)."""

    episode_id: int
    patient_id: int
    starts_on: date
    at: datetime


class IllnessClosed(msgspec.Struct, frozen=True, kw_only=True, tag="illness_closed"):
    """An episode was closed: ill from ``starts_on`` to ``ends_on`` inclusive."""

    episode_id: int
    patient_id: int
    starts_on: date
    ends_on: date
    at: datetime


IllnessEvent = IllnessOpened | IllnessClosed
