"""HL7 v2 as the integrations speak it: messages parsed and built with ``hl7apy``
(version 2.5, segments separated by CR), and the acknowledgement (ACK) that answers
each message over MLLP. The feeds and the inbound listener build on these."""

from __future__ import annotations

from datetime import UTC, datetime

from hl7apy.core import Message as Hl7Message
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

VERSION = "2.5"
SENDING_APPLICATION = "IMIAS"
ENCODING = "utf-8"


def timestamp(at: datetime | None = None) -> str:
    """An HL7 DTM in UTC with its offset (YYYYMMDDHHMMSS+0000)."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def parse(raw: bytes) -> Hl7Message:
    """An HL7 v2 message (CR, LF or CRLF between segments); ValueError if it is not one."""
    text = raw.decode(ENCODING, errors="strict").replace("\r\n", "\r").replace("\n", "\r")
    try:
        return parse_message(text.strip("\r"), find_groups=False)
    except (HL7apyException, UnicodeError, IndexError, KeyError) as exc:
        raise ValueError(f"not an HL7 v2 message: {exc}") from exc


def new_message(
    message_type: str, trigger: str, control_id: str, *, structure: str | None = None,
    receiving: str = "", at: datetime | None = None,
) -> Hl7Message:  # fmt: skip
    """An empty message with its MSH filled: type^trigger^structure, control id
    (MSH-10, the receiver's idempotency id), processing id P, version 2.5."""
    message = Hl7Message(structure or f"{message_type}_{trigger}", version=VERSION)
    message.msh.msh_3 = SENDING_APPLICATION
    message.msh.msh_4 = SENDING_APPLICATION
    message.msh.msh_5 = receiving
    message.msh.msh_7 = timestamp(at)
    message.msh.msh_9 = f"{message_type}^{trigger}^{structure or f'{message_type}_{trigger}'}"
    message.msh.msh_10 = control_id
    message.msh.msh_11 = "P"
    message.msh.msh_18 = "UNICODE UTF-8"
    return message


def encode(message: Hl7Message) -> bytes:
    text: str = message.to_er7()
    return text.encode(ENCODING)


def control_id(message: Hl7Message) -> str:
    return str(message.msh.msh_10.value)


def ack(of: Hl7Message, code: str, text: str = "") -> bytes:
    """The ACK of ``of``: AA accepted, AE error (send again), AR rejected (do not)."""
    answer = Hl7Message("ACK", version=VERSION)
    answer.msh.msh_3 = SENDING_APPLICATION
    answer.msh.msh_4 = SENDING_APPLICATION
    answer.msh.msh_5 = of.msh.msh_3.value
    answer.msh.msh_6 = of.msh.msh_4.value
    answer.msh.msh_7 = timestamp()
    trigger = of.msh.msh_9.msh_9_2.value if of.msh.msh_9.msh_9_2 else ""
    answer.msh.msh_9 = f"ACK^{trigger}^ACK"
    answer.msh.msh_10 = f"A{control_id(of)}"[:20]
    answer.msh.msh_11 = "P"
    answer.msa.msa_1 = code
    answer.msa.msa_2 = control_id(of)
    if text:
        answer.msa.msa_3 = text[:80].replace("|", "/").replace("^", " ")
    return encode(answer)


def ack_code(raw: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-3) of an ACK; ValueError when ``raw`` is no ACK."""
    message = parse(raw)
    msa = message.msa
    if msa is None or not msa.msa_1.value:
        raise ValueError("the answer has no MSA segment")
    return str(msa.msa_1.value), str(msa.msa_3.value) if msa.msa_3 else ""
