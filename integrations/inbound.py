"""Messages in: who sent it (the partner's signature), and each message answered once.

An HTTP message from a partner carries the Standard Webhooks headers signed with the
partner's secret (:mod:`integrations.signing`); without them, or with a signature that
does not match, it is refused (401 ``bad_signature``) before its body is read as
anything. An HL7 v2 message over MLLP names its sender in MSH-4, which must be a
partner sending over MLLP (on a listener that requires TLS client certificates, the
connection is the proof).

:meth:`Inbound.once` runs a message's use case and keeps its answer under (partner,
message id) in the same transaction: a sender that did not get the answer and sends the
message again gets the same answer, and nothing is written twice. An answer that is an
error is not kept, so a corrected message with the same id is taken.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from imias.platform.db import Connection, Executor
from imias.platform.problems import ProblemError
from integrations import repository as repo
from integrations.model import Partner
from integrations.signing import WebhookVerificationError, partner_secret, verify


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    replayed: bool = False  # the message was answered before: this is that answer


Handle = Callable[[Connection], Awaitable[Answer]]


class Inbound:
    def __init__(self, pool: Executor, deployment_secret: str) -> None:
        self.pool = pool
        self.deployment_secret = deployment_secret

    def secret(self, partner: Partner) -> str:
        return partner_secret(self.deployment_secret, partner.id, partner.secret_version)

    async def partner(self, partner_id: str, *, transport: str | None = None) -> Partner:
        """An enabled partner (401 ``unknown_partner`` otherwise: a sender is not told
        which partners exist)."""
        found = await repo.partner(self.pool, partner_id)
        if found is None or not found.enabled or (transport and found.transport != transport):
            raise ProblemError(401, "unknown_partner", "This sender is not a partner of IMIAS.")
        return found

    async def authenticate(
        self, partner_id: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[Partner, str]:
        """The partner and the message id of a signed HTTP message (401 otherwise)."""
        partner = await self.partner(partner_id, transport="http")
        try:
            message_id = verify(self.secret(partner), body, headers)
        except (WebhookVerificationError, KeyError, ValueError) as exc:
            raise ProblemError(
                401,
                "bad_signature",
                f"The message's signature does not verify ({exc}). Sign it as Standard "
                "Webhooks says, with the secret `imias partners secret` gives.",
            ) from None
        if not 1 <= len(message_id) <= 200:
            raise ProblemError(400, "bad_message_id", "webhook-id is 1 to 200 characters.")
        return partner, message_id

    async def once(
        self, conn: Connection, partner_id: str, message_id: str, kind: str, handle: Handle
    ) -> Answer:
        """Answer a message once: the kept answer when it was answered before, else
        ``handle`` (in the caller's transaction, on ``conn``) and its answer kept with it.
        Two copies arriving together are answered one after the other."""
        async with conn.transaction():
            await conn.execute(repo.LOCK_INBOUND, partner_id, message_id)
            kept = await conn.fetchrow(repo.INBOUND_ANSWER, partner_id, message_id)
            if kept is not None:
                return Answer(
                    kept["status"], bytes(kept["response"]), kept["content_type"], replayed=True
                )
            answer = await handle(conn)
            if answer.status < 400:
                await conn.execute(
                    repo.INSERT_INBOUND,
                    partner_id,
                    message_id,
                    kind,
                    datetime.now(UTC),
                    answer.status,
                    answer.body,
                    answer.content_type,
                )
            return answer
