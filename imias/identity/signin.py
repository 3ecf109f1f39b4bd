"""Signing in: patients with a policy number, a birth date and a code sent to their
phone; staff with a username and a password; a patient acting for another adult with
a code sent to that adult.

A request for a code answers the same whether or not the policy number and birth date
match a patient with a phone, so the answer tells no one who is registered: both count
on the same counters before the register is read, are refused alike, and the SMS is
sent beside the request, not inside it. Codes are 6 digits, valid 5 minutes, 5 tries;
only a keyed hash is stored. Every attempt is counted before it is checked, per account
(a keyed hash of the policy number or username) from the client's address, per account
from every address, and per address (:mod:`.ratelimit`); failures are logged with that
hash, never the policy number, phone, code or password. Kiosk and phone call the same
methods with the digits typed on a keypad.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import asyncpg

from imias.identity import repository as repo
from imias.identity.keys import Keys
from imias.identity.model import (
    PROXY_SECONDS,
    SESSION_SECONDS,
    CodeSent,
    PasswordChange,
    PatientCodeRequest,
    PatientTokenRequest,
    Principal,
    ProxyCodeRequest,
    StaffTokenRequest,
    TokenOut,
)
from imias.identity.passwords import Passwords, weak
from imias.identity.ratelimit import (
    ACCOUNT,
    ACCOUNT_CEILING,
    ADDRESS,
    CODES,
    Key,
    SignInLimiter,
)
from imias.identity.sessions import Sessions
from imias.identity.sms import Purpose, SmsSender
from imias.platform.audit.writer import Access, record
from imias.platform.logs import request_id_var
from imias.platform.problems import ProblemError
from imias.registry import patients

log = logging.getLogger("imias.identity.signin")

CODE_SECONDS = 300
CODE_TRIES = 5
ADULT_AGE = 18


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def code_hash(key: bytes, challenge: uuid.UUID, code: str) -> bytes:
    return hmac.new(key, challenge.bytes + code.encode(), hashlib.sha256).digest()


def too_many(seconds: int) -> ProblemError:
    return ProblemError(
        429,
        "too_many_attempts",
        f"Too many attempts; try again in {seconds} seconds.",
        headers={"Retry-After": str(seconds)},
        extra={"retry_after": seconds},
    )


def failed_sign_in(detail: str) -> ProblemError:
    return ProblemError(401, "sign_in_failed", detail)


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


class SignIn:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keys: Keys,
        sessions: Sessions,
        limiter: SignInLimiter,
        sms: SmsSender,
        passwords: Passwords,
        *,
        demo: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.keys = keys
        self.sessions = sessions
        self.limiter = limiter
        self.sms = sms
        self.passwords = passwords
        self.demo = demo
        self.clock = clock
        self._sending: set[asyncio.Task[None]] = set()

    def _account(self, kind: str, value: str) -> str:
        return "account:" + self.keys.log_hash(kind + ":" + value)

    @staticmethod
    def _keys(account: str | None, address: str | None) -> list[Key]:
        """The counters of an attempt on ``account`` from ``address``: the hard limit on
        the pair, the account's ceiling, the address's limit."""
        keys: list[Key] = []
        if account:
            keys.append((_pair(account, address), ACCOUNT))
            keys.append((account, ACCOUNT_CEILING))
        if address:
            keys.append(("address:" + address, ADDRESS))
        return keys

    async def _attempt(self, keys: list[Key]) -> None:
        """Count the attempt on ``keys`` before anything is checked; 429 when locked."""
        wait = await self.limiter.attempt(keys)
        if wait is not None:
            log.warning("sign-in refused: locked for %d s", wait, extra={"keys": _names(keys)})
            raise too_many(wait)

    @staticmethod
    def _failed(keys: list[Key], why: str, error: ProblemError | None) -> None:
        """Log a failure (already counted as an attempt); raise ``error``."""
        log.warning("sign-in failed: %s", why, extra={"keys": _names(keys)})
        if error is not None:
            raise error

    async def _succeeded(self, account: str, address: str | None, attempts: int) -> None:
        """Clear the account's count from this address, and take ``attempts`` back from
        the account's ceiling and the address's count."""
        take_back = [(account, attempts)]
        if address:
            take_back.append(("address:" + address, attempts))
        await self.limiter.succeeded(_pair(account, address), take_back)

    async def _send_beside(self, send: Awaitable[None] | None) -> None:
        """Send a code in a task of its own, so that a request that sends one takes no
        longer than one that does not; both let the loop run once here."""
        if send is not None:
            task = asyncio.create_task(_sent(send), name="imias-sign-in-code")
            self._sending.add(task)  # kept until done (the loop keeps only weak references)
            task.add_done_callback(self._sending.discard)
        await asyncio.sleep(0)

    # -- codes -----------------------------------------------------------------------

    async def _send_code(
        self,
        *,
        purpose: Purpose,
        policy_number: str,
        birth_date: date,
        address: str | None,
        channel: str,
        requested_by: int | None = None,
    ) -> CodeSent:
        account = self._account("policy", policy_number)
        # The same counters, counted before the register is read, whether or not a
        # patient matches: the answers (200 or 429) cannot tell who is registered.
        keys = [*self._keys(account, address), ("codes:" + account, CODES)]
        await self._attempt(keys)
        now = self.clock()
        row = await patients.by_policy(self.pool, policy_number)
        patient = None
        if row is not None and row.birth_date == birth_date and row.phone:
            patient = row
            if purpose == "proxy" and (
                row.id == requested_by or _age(row.birth_date, now.date()) < ADULT_AGE
            ):
                patient = None  # oneself, or a child (a child is linked, not asked)
        challenge = uuid.uuid4()
        code = new_code()
        expires = now + timedelta(seconds=CODE_SECONDS)
        await self.pool.execute(
            repo.INSERT_CHALLENGE,
            challenge,
            purpose,
            patient.id if patient else None,
            requested_by,
            account,
            channel,
            code_hash(self.keys.otp, challenge, code),
            now,
            expires,
        )
        send = None
        if patient is None:
            self._failed(keys, f"{purpose} code asked for no matching patient", None)
        else:
            assert patient.phone  # a patient is chosen only with a phone
            send = self.sms.send_code(patient.phone, code, purpose)
            log.info("%s code sent", purpose, extra={"keys": _names(keys), "channel": channel})
        await self._send_beside(send)
        return CodeSent(str(challenge), expires, demo_code=code if self.demo else None)

    async def _use_code(
        self,
        purpose: Purpose,
        challenge_text: str,
        code: str,
        address: str | None,
        requested_by: int | None = None,
    ) -> asyncpg.Record:
        try:
            challenge = uuid.UUID(challenge_text)
        except ValueError:
            challenge = None
        account = None
        if challenge is not None:
            account = await self.pool.fetchval(repo.CHALLENGE_ACCOUNT, challenge)
        keys = self._keys(account, address)
        await self._attempt(keys)
        row = None
        if challenge is not None:
            row = await self.pool.fetchrow(
                repo.TRY_CHALLENGE,
                challenge,
                purpose,
                code_hash(self.keys.otp, challenge, code),
                self.clock(),
                CODE_TRIES,
                requested_by,
            )
        if row is None or not row["ok"]:
            self._failed(
                keys,
                f"{purpose} code wrong, used or expired",
                failed_sign_in("The code is wrong or has expired; ask for a new one."),
            )
        assert row is not None
        await self._succeeded(row["account_key"], address, 2)  # this try and its code request
        return row

    # -- patients --------------------------------------------------------------------

    async def send_patient_code(self, data: PatientCodeRequest, address: str | None) -> CodeSent:
        return await self._send_code(
            purpose="sign_in",
            policy_number=data.policy_number,
            birth_date=data.birth_date,
            address=address,
            channel=data.channel,
        )

    async def patient_token(self, data: PatientTokenRequest, address: str | None) -> TokenOut:
        row = await self._use_code("sign_in", data.challenge, data.code, address)
        patient = row["patient_id"]
        out = self.sessions.issue("patient", patient)
        who = Access(patient, "patient", None, request_id_var.get(), address)
        await record(self.pool, "sign_in", "session", row["channel"], patient, access=who)
        log.info("patient signed in", extra={"channel": row["channel"], "subject": patient})
        return out

    async def send_proxy_code(
        self, principal: Principal, data: ProxyCodeRequest, address: str | None
    ) -> CodeSent:
        return await self._send_code(
            purpose="proxy",
            policy_number=data.policy_number,
            birth_date=data.birth_date,
            address=address,
            channel="web",
            requested_by=principal.subject,
        )

    async def proxy_token(
        self, principal: Principal, data: PatientTokenRequest, address: str | None
    ) -> TokenOut:
        row = await self._use_code("proxy", data.challenge, data.code, address, principal.subject)
        adult = row["patient_id"]
        left = principal.auth + SESSION_SECONDS - int(self.clock().timestamp())
        out = self.sessions.issue(
            "patient",
            principal.subject,
            acting_for=adult,
            session=principal.sid,
            signed_in_at=principal.auth,
            ttl=max(1, min(PROXY_SECONDS, left)),
        )
        who = Access(principal.subject, "patient", None, request_id_var.get(), address, adult)
        await record(self.pool, "proxy_consent", "patient", adult, adult, access=who)
        log.info("patient acts for another adult", extra={"subject": principal.subject})
        return out

    # -- staff -----------------------------------------------------------------------

    async def staff_token(self, data: StaffTokenRequest, address: str | None) -> TokenOut:
        account = self._account("staff", data.username)
        keys = self._keys(account, address)
        await self._attempt(keys)
        row = await self.pool.fetchrow(repo.STAFF_BY_USERNAME, data.username)
        stored = row["password_hash"] if row is not None else None
        if not await self.passwords.check(stored, data.password):
            self._failed(
                keys,
                "staff password wrong or no such account",
                failed_sign_in("The username or the password is wrong."),
            )
        assert row is not None
        await self._succeeded(account, address, 1)
        if row["disabled"]:
            log.warning("sign-in of a disabled account refused", extra={"staff_id": row["id"]})
            raise ProblemError(403, "account_disabled", "This account is disabled.")
        if row["must_change_password"]:
            raise ProblemError(
                403,
                "password_change_required",
                "This password is a temporary one: set your own "
                "(POST /api/v1/auth/staff/password) to sign in.",
            )
        if self.passwords.needs_rehash(row["password_hash"]):
            now = self.clock()
            await self.pool.execute(
                repo.SET_PASSWORD, row["id"], await self.passwords.hashed(data.password), now, False
            )
        return self._staff_session(row)

    async def change_staff_password(self, data: PasswordChange, address: str | None) -> TokenOut:
        """A staff member sets her own password with her current one (a temporary one
        included: the only way in with it), counted like a sign-in; every earlier token
        of the account stops working; answers a token of a new session."""
        account = self._account("staff", data.username)
        keys = self._keys(account, address)
        await self._attempt(keys)
        row = await self.pool.fetchrow(repo.STAFF_BY_USERNAME, data.username)
        stored = row["password_hash"] if row is not None else None
        if not await self.passwords.check(stored, data.password):
            self._failed(
                keys,
                "staff password wrong or no such account (changing it)",
                failed_sign_in("The username or the password is wrong."),
            )
        assert row is not None
        await self._succeeded(account, address, 1)
        if row["disabled"]:
            raise ProblemError(403, "account_disabled", "This account is disabled.")
        why = weak(data.new_password, data.username)
        if why is None and data.new_password == data.password:
            why = "The new password is the same as the current one."
        if why is not None:
            raise ProblemError(422, "weak_password", why)
        hashed = await self.passwords.hashed(data.new_password)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(repo.SET_PASSWORD, row["id"], hashed, self.clock(), False)
            await self.sessions.revoke(
                "staff", row["id"], session=None, reason="password_changed", conn=conn
            )
            who = Access(row["id"], row["role"], None, request_id_var.get(), address)
            await record(conn, "change_password", "staff_account", row["id"], access=who)
        log.info("staff set her own password", extra={"staff_id": row["id"]})
        return self._staff_session(row)

    def _staff_session(self, row: asyncpg.Record) -> TokenOut:
        out = self.sessions.issue(
            row["role"],
            row["id"],
            org=row["clinic_id"] if row["clinic_id"] is not None else row["organisation_id"],
            doctor=row["doctor_id"],
        )
        log.info("staff signed in", extra={"staff_id": row["id"], "role": row["role"]})
        return out


def _pair(account: str, address: str | None) -> str:
    return f"{account}@{address or '-'}"


def _names(keys: list[Key]) -> list[str]:
    return [k for k, _ in keys]


async def _sent(send: Awaitable[None]) -> None:
    try:
        await send
    except Exception as exc:  # the caller was answered already; the patient asks again
        log.error("a sign-in code was not sent: %s", type(exc).__name__)
