"""Sessions: issuing tokens, checking them (the one place), refreshing, signing out.

:meth:`Sessions.authenticate` is where every signed-in request's token is checked:
the signature and expiry (:mod:`.tokens`), then revocation (:mod:`.revocation`). A
failure is a 401 ``unauthenticated`` problem with ``WWW-Authenticate: Bearer``; the
log says why without the token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from imias.identity import repository as repo
from imias.identity import tokens
from imias.identity.keys import Keys
from imias.identity.model import ACCESS_SECONDS, SESSION_SECONDS, Principal, Role, TokenOut
from imias.identity.revocation import RevocationList
from imias.platform.db import Connection
from imias.platform.problems import ProblemError

log = logging.getLogger("imias.identity")

REALM = 'Bearer realm="imias"'


def unauthenticated(detail: str, *, invalid_token: bool = False) -> ProblemError:
    challenge = REALM + (', error="invalid_token"' if invalid_token else "")
    return ProblemError(401, "unauthenticated", detail, headers={"WWW-Authenticate": challenge})


def token_out(token: str, principal: Principal) -> TokenOut:
    return TokenOut(
        access_token=token,
        token_type="Bearer",
        expires_at=datetime.fromtimestamp(principal.exp, UTC),
        expires_in=principal.exp - int(principal.iat),
        role=principal.role,
        subject=principal.subject,
        organisation=principal.org,
        doctor_id=principal.doc,
        acting_for=principal.act,
    )


class Sessions:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keys: Keys,
        revocations: RevocationList,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.keys = keys
        self.revocations = revocations
        self.clock = clock

    def issue(
        self,
        role: Role,
        subject: int,
        *,
        org: int | None = None,
        doctor: int | None = None,
        acting_for: int | None = None,
        session: str | None = None,
        signed_in_at: int | None = None,
        ttl: int = ACCESS_SECONDS,
    ) -> TokenOut:
        now = self.clock()
        principal = tokens.claims(
            role,
            subject,
            org=org,
            doctor=doctor,
            acting_for=acting_for,
            session=session,
            signed_in_at=signed_in_at,
            ttl=ttl,
            now=now,
        )
        return token_out(tokens.mint(self.keys.token, principal), principal)

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of a request's ``Authorization: Bearer`` header, or a 401."""
        if not authorization:
            raise unauthenticated("Sign in and send the token as 'Authorization: Bearer <token>'.")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("Send the token as 'Authorization: Bearer <token>'.")
        try:
            principal = tokens.verify(self.keys.token, token.strip(), self.clock())
        except tokens.TokenError as exc:
            log.info("token refused: %s", exc.reason)
            if exc.reason == "expired":
                raise unauthenticated(
                    "The sign-in has expired; refresh it or sign in again.", invalid_token=True
                ) from None
            raise unauthenticated("The token is not valid.", invalid_token=True) from None
        if await self.revocations.is_revoked(principal):
            log.info(
                "token refused: revoked", extra={"role": principal.role, "subject": principal.sub}
            )
            raise unauthenticated(
                "This sign-in has ended (signed out, or the account changed); sign in again.",
                invalid_token=True,
            )
        return principal

    async def refresh(self, principal: Principal) -> TokenOut:
        """A new token of the same session, until the session is SESSION_SECONDS old.
        Acting for another adult is not carried over: that needs their code again. A
        staff member's role and organisation are read again from her account, so a move
        to another clinic takes effect at the next refresh and a disabled account gets
        no new token."""
        now = int(self.clock())
        left = principal.auth + SESSION_SECONDS - now
        if left <= 0:
            raise unauthenticated("The session is over; sign in again.")
        org, doctor = principal.org, principal.doc
        if principal.role != "patient":
            row = await self.pool.fetchrow(repo.STAFF_BY_ID, principal.subject)
            if row is None or row["disabled"] or row["role"] != principal.role:
                raise unauthenticated("The account has changed; sign in again.")
            org = row["clinic_id"] if row["clinic_id"] is not None else row["organisation_id"]
            doctor = row["doctor_id"]
        return self.issue(
            principal.role,
            principal.subject,
            org=org,
            doctor=doctor,
            session=principal.sid,
            signed_in_at=principal.auth,
            ttl=min(ACCESS_SECONDS, left),
        )

    async def revoke(
        self,
        kind: str,
        subject: int,
        *,
        session: str | None,
        reason: str,
        conn: Connection | None = None,
    ) -> None:
        """End one session (``session``) or every token of the subject issued until now."""
        at = datetime.fromtimestamp(self.clock(), UTC)
        await (conn or self.pool).execute(
            repo.INSERT_REVOCATION, kind, subject, session, at, reason
        )
        self.revocations.note(kind, subject, session, at)
        log.info(
            "revoked %s",
            "a session" if session else "every session",
            extra={"subject_kind": kind, "subject": subject, "reason": reason},
        )

    async def sign_out(self, principal: Principal, everywhere: bool) -> None:
        await self.revoke(
            principal.kind,
            principal.subject,
            session=None if everywhere else principal.sid,
            reason="sign_out_everywhere" if everywhere else "sign_out",
        )
