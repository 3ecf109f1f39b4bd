"""Channel and slot flags, shared by both implementations.

A slot carries one byte of flags: the channels that may book it (bits 0-4), whether it
needs a referral (bit 5) and whether it is kept for urgent same-day care (bit 6). Bit 7
(``SLOT_START``) is internal: it marks the first unit of an opened slot.

A caller asks with a ``channel`` (one or more channel bits, any-of) and an ``entitled``
mask (``REFERRAL`` and/or ``URGENT``). A slot is allowed when it shares a channel bit with
the caller and every restriction it carries is in the caller's entitlement.
"""

from __future__ import annotations

from enum import IntFlag


class Channel(IntFlag):
    """Who is asking: the patient channels and the registrar (call centre, clinic desk)."""

    WEB = 1
    APP = 2
    PHONE = 4
    KIOSK = 8
    REGISTRAR = 16
    ANY = 31


class SlotFlag(IntFlag):
    """What a slot allows (channels) and needs (referral, urgent entitlement)."""

    WEB = 1
    APP = 2
    PHONE = 4
    KIOSK = 8
    REGISTRAR = 16
    REFERRAL = 32
    URGENT = 64
    ALL_CHANNELS = 31


CHANNEL_MASK = 0x1F
RESTRICTION_MASK = 0x60  # REFERRAL | URGENT
SLOT_FLAGS_MASK = 0x7F
SLOT_START = 0x80
REFERRAL_BIT = 0x20
URGENT_BIT = 0x40
ENTITLED_ALL = RESTRICTION_MASK

#: Unit states returned by ``Calendar.day_states``.
CLOSED, FREE, HELD, BOOKED = 0, 1, 2, 3
