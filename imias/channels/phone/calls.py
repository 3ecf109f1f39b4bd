"""A call's state, kept in Redis under the call's id and forgotten when the call is
quiet for :data:`CALL_SECONDS` (each step writes it again with a fresh expiry)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

import msgspec
import redis.asyncio as aioredis

CALL_SECONDS = 1800
CALL_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

Step = Literal["language", "policy", "birth", "code", "menu", "specialty", "offer", "listing"]


class Offer(msgspec.Struct, frozen=True):
    doctor_id: int
    starts_at: datetime


class CallState(msgspec.Struct, kw_only=True):
    call_id: str
    caller: str  # the number the gateway says is calling; a later step must match it
    lang: Literal["ru", "en"] = "ru"
    step: Step = "language"
    failures: int = 0  # in a row; the third one transfers the call
    policy_number: str | None = None
    challenge: str | None = None
    token: str | None = None  # the patient's session, once the code was right
    specialty: str | None = None
    offer_index: int = 0
    offer: Offer | None = None
    listing: list[int] = msgspec.field(default_factory=list)
    listing_index: int = 0
    offer_text: str | None = None  # what was offered or listed, to say it again


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CallState)


def key(call_id: str) -> str:
    return f"imias:phone:call:{call_id}"


class Calls:
    def __init__(self, redis: aioredis.Redis, seconds: int = CALL_SECONDS) -> None:
        self.redis = redis
        self.seconds = seconds

    async def load(self, call_id: str) -> CallState | None:
        raw = await self.redis.get(key(call_id))
        return None if raw is None else _decoder.decode(raw)

    async def save(self, state: CallState) -> None:
        await self.redis.set(key(state.call_id), _encoder.encode(state), ex=self.seconds)

    async def forget(self, call_id: str) -> None:
        await self.redis.delete(key(call_id))
