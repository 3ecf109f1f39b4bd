"""Values of the integrations: the outside systems (partners), a message to one of them
before and after it is queued, and what the delivery log answers. No I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

PartnerId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$")]
Transport = Literal["http", "mllp", "sms", "smtp"]
Status = Literal["pending", "delivered", "dead"]

#: What each kind of partner is sent, by the audiences (:attr:`Message.audience`) its
#: ``topics`` name; a partner's topics default to its kind's.
KIND_TOPICS: dict[str, tuple[str, ...]] = {
    "school_journal": ("school.absence", "school.certificate"),
    "ambulance_dispatch": ("ambulance.active_visit", "hl7.adt"),
    "hl7_feed": ("hl7.siu", "hl7.adt"),
    "sms_gateway": ("notice.sms",),
    "smtp_relay": ("notice.email",),
}


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """A message a router handler makes of an event, for every enabled partner whose
    topics hold ``audience`` (or for ``partner_id`` alone).

    ``patient_id`` orders it: a patient's messages reach a partner in the order they were
    made. ``message_id`` is the idempotency id the receiver dedups on (a new UUID when
    None; an HL7 message gives its MSH-10). ``key`` tells the event's messages apart
    (one event may make several of one audience).

    ``not_before`` defers the first attempt (a notice made in quiet hours); a message
    not ``ordered`` neither waits for its patient's earlier messages nor holds back later
    ones (a notice: a deferred reminder must not keep a sign-in code waiting)."""

    audience: str
    kind: str
    content_type: str
    body: bytes
    patient_id: int | None = None
    partner_id: str | None = None
    message_id: str | None = None
    key: str = ""
    not_before: datetime | None = None
    ordered: bool = True


class Partner(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    name: str
    transport: Transport
    url: str | None
    topics: list[str]
    secret_version: int = 1
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    max_attempts: int = 25
    backoff_ms: int = 1000
    backoff_cap_ms: int = 300_000
    timeout_ms: int = 10_000
    concurrency: int = 8
    enabled: bool = True
    failing_since: datetime | None = None
    last_error: str | None = None
    last_success_at: datetime | None = None
    # the environment variable holding its transport's credential (an SMS gateway's
    # api_id or password, an SMTP password); None: the partner's derived secret
    secret_env: str | None = None


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    partner_id: str
    patient_id: int | None
    message_id: str
    kind: str
    content_type: str
    body: bytes
    status: Status
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class PartnerState(msgspec.Struct, frozen=True, kw_only=True):
    """A partner's deliveries at a glance (the admin page, ``imias deliveries``)."""

    partner: Partner
    delivered: int
    pending: int
    dead: int
    oldest_pending_at: datetime | None
    last_delivered_at: datetime | None
