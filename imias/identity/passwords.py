"""Staff passwords, stored as Argon2id hashes (argon2-cffi, its default parameters).

Checking a password costs tens of milliseconds of CPU by design, so it runs in a
thread, never on the event loop. An unknown username is checked against a dummy hash
all the same, so the time taken does not tell which usernames exist.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10


def weak(password: str, username: str) -> str | None:
    """Why a staff member's new password is refused (None: it is not): at least
    :data:`MIN_LENGTH` characters, not mostly one character, not the username in it."""
    if len(password) < MIN_LENGTH:
        return f"A password has at least {MIN_LENGTH} characters."
    if len(set(password)) < 5:
        return "A password of so few different characters is guessed at once."
    if username.lower() in password.lower():
        return "A password does not contain the username."
    return None


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        """The stored form of a new password (blocking: tools and the seed)."""
        return self._hasher.hash(password)

    async def hashed(self, password: str) -> str:
        """The stored form of a new password, made in a thread (the event loop's way)."""
        return await asyncio.to_thread(self._hasher.hash, password)

    @functools.cached_property
    def _dummy(self) -> str:
        return self._hasher.hash("imias: no such account")

    def _check(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def check(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored`` (None: no such account: False)."""
        return await asyncio.to_thread(self._check, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
