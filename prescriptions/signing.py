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
import hmac
import os
import secrets
import time
from datetime import UTC, datetime
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
QUERIES = {"key_of_doctor": KEY_OF_DOCTOR, "key": KEY, "insert_key": INSERT_KEY}
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


KEY_SECONDS = 60.0  # a key verified with is read again after this long (revocations)
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


def _derive(secret: bytes, label: str) -> bytes:
    return hmac.new(secret, b"imias/" + label.encode(), hashlib.sha256).digest()


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
        self._authority = Ed25519PrivateKey.from_private_bytes(_derive(raw, "signing-authority/v1"))
        self.authority_public = self._authority.public_key()
        self._seal = AESGCM(_derive(raw, "doctor-keys/v1"))
        self._by_id: dict[str, _Key] = {}
        self._by_doctor: dict[tuple[int, int], str] = {}
        self._read_at: dict[str, float] = {}
        self._verified: dict[bytes, _Key] = {}

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

    def _load(self, row: Any) -> _Key:
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

    async def _current(self, clinic_id: int, doctor_id: int) -> _Key:
        kid = self._by_doctor.get((clinic_id, doctor_id))
        now = time.monotonic()
        if kid is not None and kid in self._by_id and self._read_at[kid] + KEY_SECONDS >= now:
            return self._by_id[kid]
        row = await self.pool.fetchrow(KEY_OF_DOCTOR, clinic_id, doctor_id)
        if row is None:
            await self._issue(clinic_id, doctor_id)
            row = await self.pool.fetchrow(KEY_OF_DOCTOR, clinic_id, doctor_id)
        assert row is not None
        key = self._load(row)
        self._by_id[key.id] = key
        self._read_at[key.id] = now
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
        and not revoked. A key is read again a minute after it was read (a revocation
        reaches every server within a minute); a signature found valid is remembered
        with its content's digest while the same key is held, so the counter's second
        look at the same prescription costs a hash, not an Ed25519 verification."""
        now = time.monotonic()
        key = self._by_id.get(key_id)
        if key is None or self._read_at.get(key_id, 0.0) + KEY_SECONDS < now:
            row = await self.pool.fetchrow(KEY, key_id)
            if row is None:
                return Checked(valid=False, key_id=key_id, reason="unknown_key")
            key = self._load(row)
            self._by_id[key_id] = key
            self._read_at[key_id] = now
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
