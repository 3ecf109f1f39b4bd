"""Access tokens: compact JWTs signed with HMAC-SHA256 (``alg`` HS256) by the server's
token key, made and checked by joserfc (a kept JOSE library). Pure functions; the
revocation check is in :mod:`.revocation`.

The algorithm is pinned: only HS256 is accepted, and only the header this module
writes (``{"typ": "JWT", "alg": "HS256"}``), so no token can choose its own algorithm
("none", or a public key used as an HMAC secret) or bring keys or extensions of its
own. The claims are decoded strictly into :class:`~.model.Principal`; a token that is
malformed, signed with another key, expired, or issued in the future is refused with
a :class:`TokenError` whose ``reason`` is safe to log (it never contains the token).
"""

from __future__ import annotations

import functools
import secrets
import time

import msgspec
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError, UnsupportedAlgorithmError
from joserfc.jwk import OctKey

from imias.identity.model import (
    ACCESS_SECONDS,
    CLOCK_SKEW,
    MAX_TOKEN_SECONDS,
    Principal,
    Role,
)

MAX_TOKEN_LENGTH = 2048
ALGORITHMS = ["HS256"]
HEADER = {"typ": "JWT", "alg": "HS256"}


class TokenError(Exception):
    """A token that is not (or no longer) valid; ``reason`` says why, for logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@functools.lru_cache(maxsize=8)
def _key(key: bytes) -> OctKey:
    return OctKey.import_key(key)


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
    return jwt.encode(HEADER, msgspec.to_builtins(principal), _key(key), algorithms=ALGORITHMS)


def verify(key: bytes, token: str, now: float | None = None) -> Principal:
    """The principal of a valid token; :class:`TokenError` otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise TokenError("malformed")
    try:
        decoded = jwt.decode(token, _key(key), algorithms=ALGORITHMS)
    except UnsupportedAlgorithmError:
        raise TokenError("unsupported header") from None
    except BadSignatureError:
        raise TokenError("bad signature") from None
    except (JoseError, ValueError):
        raise TokenError("malformed") from None
    if decoded.header != HEADER:
        raise TokenError("unsupported header")
    try:
        principal = msgspec.convert(decoded.claims, Principal)
        principal.subject  # noqa: B018 - sub must be a number
    except (ValueError, msgspec.ValidationError):
        raise TokenError("malformed claims") from None
    moment = time.time() if now is None else now
    if principal.exp <= moment:
        raise TokenError("expired")
    if principal.iat > moment + CLOCK_SKEW:
        raise TokenError("issued in the future")
    if principal.exp - principal.iat > MAX_TOKEN_SECONDS + 1:
        raise TokenError("lives too long")
    return principal
