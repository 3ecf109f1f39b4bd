"""Who signs a prescription, and how the counter checks it.

:class:`Signer` is the port: a deployment can put the national qualified-signature
scheme behind it. :class:`LocalAuthority` is the default: the system's own signing
authority. Its Ed25519 key is derived from the deployment's secret (``IMIAS_SECRET_KEY``
or the embedded default's key file), so every server of a deployment holds the same one.
It issues each doctor an Ed25519 key on her first signature and certifies it (the
authority signs the key's statement: key id, clinic, doctor, public key, when). The
doctor's private key is kept sealed (AES-GCM, a key derived from the same secret) in
``signing_keys``; a check at the counter verifies the certificate against the authority
and the signature against the doctor's key. All of it is the ``cryptography`` package.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from imias.identity import derive
from imias.platform.db import Executor

KEY_OF_DOCTOR = """
SELECT id, clinic_id, doctor_id, public_key, certificate, private_key, issued_at, revoked_at
  FROM signing_keys WHERE clinic_id = $1 AND doctor_id = $2 AND revoked_at IS NULL
"""
KEY = """
SELECT id, clinic_id, doctor_id, public_key, certificate, private_key, issued_at, revoked_at
  FROM signing_keys WHERE id = $1
"""
INSERT_KEY = """
INSERT INTO signing_keys (id, clinic_id, doctor_id, public_key, certificate, private_key,
                          issued_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING
"""
REVOKED_SINCE = "SELECT id FROM signing_keys WHERE revoked_at >= $1"
QUERIES = {
    "key_of_doctor": KEY_OF_DOCTOR,
    "key": KEY,
    "insert_key": INSERT_KEY,
    "revoked_since": REVOKED_SINCE,
}
#: A ``signing_keys`` row as :meth:`LocalAuthority.new_key` gives it (a bulk load copies it).
KEY_COLUMNS = (
    "id",
    "clinic_id",
    "doctor_id",
    "public_key",
    "certificate",
    "private_key",
    "issued_at",
)


KEY_SECONDS = 60.0  # how often the keys revoked since are asked for (a revocation's reach)
KEYS_KEPT = 100_000  # keys held in memory (a city's doctors), then forgotten and read again
VERIFIED_KEPT = 200_000  # signatures remembered as valid (about 20 MB), then forgotten


class Checked(msgspec.Struct, frozen=True, kw_only=True):
    """A signature as checked: valid or why not, and whose key."""

    valid: bool
    key_id: str
    clinic_id: int | None = None
    doctor_id: int | None = None
    reason: str | None = None


class Signer(Protocol):
    """Signs a doctor's content and checks a signature (the scheme behind is its own)."""

    async def sign(self, clinic_id: int, doctor_id: int, content: bytes) -> tuple[str, bytes]:
        """(key id, signature) of ``content`` by the doctor's key."""
        ...

    async def key_id(self, clinic_id: int, doctor_id: int) -> str:
        """The id of the key the doctor signs with now (issued when she has none)."""
        ...

    async def verify(self, key_id: str, content: bytes, signature: bytes) -> Checked: ...


class KeyStatement(msgspec.Struct, frozen=True, kw_only=True):
    """What the authority's certificate of a doctor's key says."""

    kid: str
    clinic: int
    doctor: int
    public_key: str  # hex
    issued_at: str  # ISO 8601, UTC


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class _Key(msgspec.Struct, frozen=True):
    id: str
    clinic_id: int
    doctor_id: int
    public: Any  # Ed25519PublicKey
    private: Any  # Ed25519PrivateKey | None (only for the signer's own use)
    certified: bool
    revoked: bool


class LocalAuthority:
    """The system's own signing authority over ``signing_keys`` (see the module)."""

    def __init__(self, pool: Executor, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        self.pool = pool
        self._authority = Ed25519PrivateKey.from_private_bytes(derive(raw, "signing-authority/v1"))
        self.authority_public = self._authority.public_key()
        self._seal = AESGCM(derive(raw, "doctor-keys/v1"))
        self._by_id: dict[str, _Key] = {}
        self._by_doctor: dict[tuple[int, int], str] = {}
        self._verified: dict[bytes, _Key] = {}
        self._polled = -KEY_SECONDS  # monotonic time of the last look for revocations
        self._polled_wall = datetime.now(UTC)

    # -- keys --------------------------------------------------------------------------

    @staticmethod
    def statement(kid: str, clinic: int, doctor: int, public: bytes, issued: datetime) -> bytes:
        body = KeyStatement(
            kid=kid,
            clinic=clinic,
            doctor=doctor,
            public_key=public.hex(),
            issued_at=issued.astimezone(UTC).isoformat(),
        )
        return msgspec.json.encode(body, order="sorted")

    def _load(self, row: Any, *, unseal: bool = False) -> _Key:
        """A key of a ``signing_keys`` row, its certificate checked; its private half
        unsealed only for its own signer (``unseal``), never to verify."""
        public_raw = bytes(row["public_key"])
        public = Ed25519PublicKey.from_public_bytes(public_raw)
        statement = self.statement(
            row["id"], row["clinic_id"], row["doctor_id"], public_raw, row["issued_at"]
        )
        try:
            self.authority_public.verify(bytes(row["certificate"]), statement)
            certified = True
        except InvalidSignature:
            certified = False
        private = None
        if unseal:
            sealed = bytes(row["private_key"])
            try:
                raw = self._seal.decrypt(sealed[:12], sealed[12:], row["id"].encode())
                private = Ed25519PrivateKey.from_private_bytes(raw)
            except (InvalidTag, ValueError):
                private = None
        return _Key(
            row["id"],
            row["clinic_id"],
            row["doctor_id"],
            public,
            private,
            certified,
            row["revoked_at"] is not None,
        )

    def new_key(
        self, clinic_id: int, doctor_id: int, issued: datetime
    ) -> tuple[tuple[Any, ...], Ed25519PrivateKey]:
        """A new key of the doctor, certified by the authority and sealed, not stored:
        its ``signing_keys`` row (:data:`KEY_COLUMNS`) and its private key (for a bulk
        load, ``imias seed``, that signs without asking the database for it)."""
        private = Ed25519PrivateKey.generate()
        public = _raw_public(private.public_key())
        kid = f"d{clinic_id}-{doctor_id}-{secrets.token_hex(4)}"
        certificate = self._authority.sign(
            self.statement(kid, clinic_id, doctor_id, public, issued)
        )
        nonce = os.urandom(12)
        raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        sealed = nonce + self._seal.encrypt(nonce, raw, kid.encode())
        return (kid, clinic_id, doctor_id, public, certificate, sealed, issued), private

    async def _issue(self, clinic_id: int, doctor_id: int) -> None:
        row, _ = self.new_key(clinic_id, doctor_id, datetime.now(UTC))
        # Two first signatures at once: one key wins (the partial unique index).
        await self.pool.execute(INSERT_KEY, *row)

    async def _revocations(self) -> None:
        """Forget the keys revoked since the last look (at most once a KEY_SECONDS): a
        revocation reaches every server within that, with one query a minute, not one
        a verification."""
        now = time.monotonic()
        if now - self._polled < KEY_SECONDS:
            return
        since = self._polled_wall - timedelta(minutes=5)  # clocks of servers may differ
        self._polled, self._polled_wall = now, datetime.now(UTC)
        for row in await self.pool.fetch(REVOKED_SINCE, since):
            self._forget(row["id"])

    def _forget(self, key_id: str) -> None:
        key = self._by_id.pop(key_id, None)
        if key is not None and self._by_doctor.get((key.clinic_id, key.doctor_id)) == key_id:
            del self._by_doctor[(key.clinic_id, key.doctor_id)]

    def _keep(self, key: _Key) -> None:
        if len(self._by_id) >= KEYS_KEPT:
            self._by_id.clear()
            self._by_doctor.clear()
        self._by_id[key.id] = key

    async def _current(self, clinic_id: int, doctor_id: int) -> _Key:
        await self._revocations()
        kid = self._by_doctor.get((clinic_id, doctor_id))
        held = None if kid is None else self._by_id.get(kid)
        if held is not None and held.private is not None:
            return held
        row = await self.pool.fetchrow(KEY_OF_DOCTOR, clinic_id, doctor_id)
        if row is None:
            await self._issue(clinic_id, doctor_id)
            row = await self.pool.fetchrow(KEY_OF_DOCTOR, clinic_id, doctor_id)
        assert row is not None
        key = self._load(row, unseal=True)
        self._keep(key)
        self._by_doctor[(clinic_id, doctor_id)] = key.id
        return key

    async def key_id(self, clinic_id: int, doctor_id: int) -> str:
        return (await self._current(clinic_id, doctor_id)).id

    async def sign(self, clinic_id: int, doctor_id: int, content: bytes) -> tuple[str, bytes]:
        key = await self._current(clinic_id, doctor_id)
        if key.private is None or not key.certified:
            raise RuntimeError(f"signing key {key.id} cannot be used (not certified or unsealed)")
        return key.id, key.private.sign(content)

    async def verify(self, key_id: str, content: bytes, signature: bytes) -> Checked:
        """Whether ``signature`` is the key's over ``content`` and the key is certified
        and not revoked. A key is read once and held (a revocation makes every server
        forget it within a minute: :meth:`_revocations`); a signature found valid is
        remembered with its content's digest while the same key is held, so the
        counter's second look at the same prescription costs a hash, not an Ed25519
        verification."""
        await self._revocations()
        key = self._by_id.get(key_id)
        if key is None:
            row = await self.pool.fetchrow(KEY, key_id)
            if row is None:
                return Checked(valid=False, key_id=key_id, reason="unknown_key")
            key = self._load(row)
            if not key.revoked:  # a revoked key is read again, never held
                self._keep(key)
        digest = hashlib.blake2b(
            signature + content, key=key_id.encode()[:64], digest_size=32
        ).digest()

        def checked(reason: str | None) -> Checked:
            return Checked(
                valid=reason is None,
                key_id=key_id,
                clinic_id=key.clinic_id,
                doctor_id=key.doctor_id,
                reason=reason,
            )

        if not key.certified:
            return checked("key_not_certified")
        if key.revoked:
            return checked("key_revoked")
        if self._verified.get(digest) is key:
            return checked(None)
        try:
            key.public.verify(signature, content)
        except InvalidSignature:
            return checked("signature_mismatch")
        if len(self._verified) >= VERIFIED_KEPT:
            self._verified.clear()
        self._verified[digest] = key
        return checked(None)
