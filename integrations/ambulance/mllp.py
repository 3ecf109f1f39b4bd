"""The MLLP listener IMIAS runs for older dispatch systems (``IMIAS_MLLP_PORT``): HL7 v2
messages framed by ``hl7.mllp`` over asyncio streams, each answered with an ACK.

Every worker listens on the same port (``SO_REUSEPORT``: the kernel spreads the
connections). A message is taken when MSH-4 names an enabled partner sending over MLLP
(``imias partners add ID --kind ambulance_dispatch --transport mllp``) and, with
``IMIAS_MLLP_TLS_CA`` set, the connection carries a client certificate that CA signed.
Answers (``MSA-1``):

- ``AA``: recorded (a copy of an answered MSH-10 gets the same ACK, nothing twice);
- ``AR``: refused for good, with the problem's code in MSA-3 (not HL7, an unknown
  sender, not a call, a bad part: sending it again will not help);
- ``AE``: IMIAS could not take it now (its database away): send it again.
"""

from __future__ import annotations

import logging
import ssl
from zoneinfo import ZoneInfo

from imias.platform.db import Connection
from imias.platform.problems import ProblemError
from integrations import hl7
from integrations.ambulance.adt import call_of_adt, sender
from integrations.ambulance.model import CALL_KIND
from integrations.ambulance.service import Ambulance
from integrations.inbound import Answer, Inbound
from integrations.mllp import MllpServer

log = logging.getLogger("imias.integrations.mllp")
HL7_CONTENT = "x-application/hl7-v2+er7"


def server_tls(cert: str | None, key: str | None, ca: str | None) -> ssl.SSLContext | None:
    """TLS for the listener: our certificate; with ``ca``, client certificates required."""
    if cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if ca is not None:
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _nak(code: str, text: str) -> bytes:
    text = f"{code}: {text}"[:80].replace("|", "/").replace("^", " ").replace("\r", " ")
    return f"MSH|^~\\&|IMIAS|IMIAS|||{hl7.timestamp()}||ACK|NAK|P|2.5\rMSA|AR||{text}".encode()


class MllpListener(MllpServer):
    def __init__(
        self,
        inbound: Inbound,
        ambulance: Ambulance,
        *,
        host: str,
        port: int,
        time_zone: str,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(host=host, port=port, tls=tls, reuse_port=True)
        self.inbound, self.ambulance = inbound, ambulance
        self.zone = ZoneInfo(time_zone)
        self.stats = {"accepted": 0, "replayed": 0, "refused": 0, "errors": 0}

    async def start(self) -> None:
        await super().start()
        log.info("MLLP listener on %s:%s", self.host, self.port)

    async def answer(self, block: bytes) -> bytes:
        """The ACK of one message."""
        try:
            message = hl7.parse(block)
        except ValueError as exc:
            self.stats["refused"] += 1
            return _nak("not_hl7", str(exc))
        try:
            partner = await self.inbound.partner(sender(message), transport="mllp")
            if partner.kind != "ambulance_dispatch":
                raise ProblemError(403, "forbidden", "This partner does not send calls.")
            call = call_of_adt(message, self.zone)
            control = hl7.control_id(message)
            if not 1 <= len(control) <= 200:
                raise ProblemError(400, "bad_message_id", "MSH-10 is 1 to 200 characters.")

            async def handle(conn: Connection) -> Answer:
                await self.ambulance.record_call(conn, partner.id, control, call)
                return Answer(200, hl7.ack(message, "AA"), HL7_CONTENT)

            async with self.ambulance.pool.acquire() as conn:
                answer = await self.inbound.once(conn, partner.id, control, CALL_KIND, handle)
        except ProblemError as exc:
            self.stats["refused"] += 1
            return hl7.ack(message, "AR", f"{exc.code}: {exc.detail}")
        except Exception as exc:  # the database away: the sender tries again
            self.stats["errors"] += 1
            log.exception("mllp: a message could not be taken")
            return hl7.ack(message, "AE", f"try again: {type(exc).__name__}")
        self.stats["replayed" if answer.replayed else "accepted"] += 1
        return answer.body
