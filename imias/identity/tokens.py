"""Access tokens: compact JWTs signed with HMAC-SHA256 (``alg`` HS256) by the server's
token key. Pure functions; the revocation check is in :mod:`.revocation`.

Only one header is accepted, byte for byte (``{"alg":"HS256","typ":"JWT"}``), so no
token can choose its own algorithm ("none", or a public key used as an HMAC secret).
The claims are decoded strictly into :class:`~.model.Principal`; a token that is
malformed, signed with another key, expired, or issued in the future is refused with
a :class:`TokenError` whose ``reason`` is safe to log (it never contains the token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import msgspec

from imias.identity.model import (
    ACCESS_SECONDS,
    CLOCK_SKEW,
    MAX_TOKEN_SECONDS,
    Principal,
    Role,
)

MAX_TOKEN_LENGTH = 2048

_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
_encode = msgspec.json.Encoder()
_decode = msgspec.json.Decoder(Principal)


class TokenError(Exception):
    """A token that is not (or no longer) valid; ``reason`` says why, for logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


def _sign(key: bytes, signing_input: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def new_id() -> str:
    return secrets.token_urlsafe(12)


def claims(
    role: Role,
    subject: int,
    *,
    org: int | None = None,
    doctor: int | None = None,
    acting_for: int | None = None,
    session: str | None = None,
    signed_in_at: int | None = None,
    ttl: int = ACCESS_SECONDS,
    now: float | None = None,
) -> Principal:
    """The claims of a new token (a new session unless ``session`` is given)."""
    if ttl > MAX_TOKEN_SECONDS:
        raise ValueError(f"a token lives at most {MAX_TOKEN_SECONDS} seconds")
    issued = time.time() if now is None else now
    return Principal(
        sub=str(subject),
        role=role,
        sid=session or new_id(),
        jti=new_id(),
        iat=round(issued, 6),
        exp=int(issued) + ttl,
        auth=signed_in_at or int(issued),
        org=org,
        doc=doctor,
        act=acting_for,
    )


def mint(key: bytes, principal: Principal) -> str:
    """The signed compact token of ``principal``."""
    signing_input = _HEADER + b"." + _b64(_encode.encode(principal))
    return (signing_input + b"." + _b64(_sign(key, signing_input))).decode("ascii")


def verify(key: bytes, token: str, now: float | None = None) -> Principal:
    """The principal of a valid token; :class:`TokenError` otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise TokenError("malformed") from None
    parts = raw.split(b".")
    if len(parts) != 3:
        raise TokenError("malformed")
    header, payload, signature = parts
    if not hmac.compare_digest(header, _HEADER):
        raise TokenError("unsupported header")
    try:
        given = _unb64(signature)
    except ValueError:
        raise TokenError("malformed") from None
    if not hmac.compare_digest(given, _sign(key, header + b"." + payload)):
        raise TokenError("bad signature")
    try:
        principal = _decode.decode(_unb64(payload))
        principal.subject  # noqa: B018 - sub must be a number
    except (ValueError, msgspec.DecodeError):
        raise TokenError("malformed claims") from None
    moment = time.time() if now is None else now
    if principal.exp <= moment:
        raise TokenError("expired")
    if principal.iat > moment + CLOCK_SKEW:
        raise TokenError("issued in the future")
    if principal.exp - principal.iat > MAX_TOKEN_SECONDS + 1:
        raise TokenError("lives too long")
    return principal
