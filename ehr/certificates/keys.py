"""The clinics' certificate-signing keys and the city's trust anchor.

Each clinic signs its certificates with its own ES256 (P-256) key, made on its first
certificate and kept sealed (AES-GCM under a key derived from the deployment's secret)
in ``certificate_keys``. A key can be rotated (the new one signs from then on; the old
one's certificates stay valid) or withdrawn (its certificates are no longer valid, and
say so). The trust anchor, the key that signs the trust list and the revocation list,
is derived from the deployment's secret, so every server of a deployment has the same
one and a verifier pins it. Private keys never leave this module: not in a log, not in
an answer.

Workers cache the trust list for :data:`TRUST_SECONDS` (a withdrawal reaches every
worker's online checks within it) and read it again at once on an unknown key id (a
clinic's new key, made by another worker).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)

from ehr.certificates import cose
from ehr.certificates import repository as repo
from ehr.certificates.trust import Revocations, TrustedKey, TrustList
from imias.identity import derive
from imias.platform.problems import ProblemError

log = logging.getLogger("imias.ehr.certificates")

TRUST_SECONDS = 10.0  # how long a worker keeps the trust list before reading it again
REVOCATIONS_SECONDS = 10.0  # how long the signed revocation list is served before re-signing
UNKNOWN_KEY_SECONDS = 1.0  # at most one re-read a second for key ids nobody knows
_P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


def anchor_of(secret: str | bytes) -> ec.EllipticCurvePrivateKey:
    """The deployment's trust anchor (P-256), derived from its secret."""
    scalar = int.from_bytes(derive(secret, "certificate-anchor/v1"), "big") % (_P256_ORDER - 1)
    return ec.derive_private_key(scalar + 1, ec.SECP256R1())


class CertificateKeys:
    """The clinics' keys over ``certificate_keys``, and the signed lists (see the module)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        secret: str | bytes,
        city: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.pool = pool
        self.city = city
        self.clock = clock or (lambda: datetime.now(UTC))
        self.anchor = anchor_of(secret)
        self.anchor_public = self.anchor.public_key()
        self.anchor_kid = cose.key_id(self.anchor_public)
        self._seal = AESGCM(derive(secret, "certificate-keys/v1"))
        self._unsealed_keys: dict[bytes, ec.EllipticCurvePrivateKey] = {}
        self._trust: TrustList | None = None
        self._trust_document = b""
        self._trust_read = -TRUST_SECONDS
        self._unknown_read = -UNKNOWN_KEY_SECONDS
        self._revocations: tuple[float, bytes, Revocations] | None = None
        self._lock = asyncio.Lock()

    # -- the clinics' keys --------------------------------------------------------------

    def _sealed(self, kid: bytes, private: ec.EllipticCurvePrivateKey) -> bytes:
        nonce = os.urandom(12)
        der = private.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        return nonce + self._seal.encrypt(nonce, der, kid)

    def _unsealed(self, kid: bytes, sealed: bytes) -> ec.EllipticCurvePrivateKey:
        try:
            der = self._seal.decrypt(sealed[:12], sealed[12:], kid)
        except InvalidTag:
            log.error(
                "clinic certificate key %s cannot be unsealed: was IMIAS_SECRET_KEY changed? "
                "Rotate the clinic's key (imias certificate-keys rotate) to issue again",
                kid.hex(),
            )
            raise ProblemError(
                503,
                "signing_key_unavailable",
                "The clinic's signing key cannot be used now; certificates cannot be issued.",
            ) from None
        key = load_der_private_key(der, None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def new_key(self, clinic_id: int, at: datetime) -> tuple[tuple[Any, ...], Any]:
        """A new key of the clinic, sealed, not stored: its ``certificate_keys`` row and
        its private key (for a bulk load that signs without the database)."""
        private = ec.generate_private_key(ec.SECP256R1())
        kid = cose.key_id(private.public_key())
        row = (kid, clinic_id, cose.spki(private.public_key()), self._sealed(kid, private), at)
        return row, private

    async def signing_key(self, clinic_id: int) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        """The clinic's current key (made on its first certificate). Which key is current
        is asked each time (a rotation by `imias certificate-keys` counts at once); its
        private half is unsealed once."""
        row = await repo.current_key(self.pool, clinic_id)
        if row is None:
            new, _ = self.new_key(clinic_id, self.clock())
            await repo.insert_key(self.pool, *new)  # another worker's key may win the race
            row = await repo.current_key(self.pool, clinic_id)
            assert row is not None
            self._trust_read = -TRUST_SECONDS  # the trust list has a new key
        kid = bytes(row["kid"])
        private = self._unsealed_keys.get(kid)
        if private is None:
            private = self._unsealed_keys[kid] = self._unsealed(kid, bytes(row["private_key"]))
        return kid, private

    async def rotate(self, clinic_id: int) -> bytes:
        """A new key for the clinic; the old one signs no more, its certificates stay valid."""
        new, _ = self.new_key(clinic_id, self.clock())
        async with self.pool.acquire() as conn, conn.transaction():
            await repo.retire_keys(conn, clinic_id, self.clock())
            await repo.insert_key(conn, *new)
        self._trust_read = -TRUST_SECONDS
        return bytes(new[0])

    async def withdraw(self, kid: bytes, reason: str) -> bool:
        """Withdraw a key: every certificate it signed is no longer valid."""
        done = await repo.withdraw_key(self.pool, kid, self.clock(), reason)
        self._unsealed_keys.pop(kid, None)
        self._trust_read = -TRUST_SECONDS
        return done

    def forget(self) -> None:
        """Read keys and lists again on next use (after a rotation by another process)."""
        self._trust_read = -TRUST_SECONDS
        self._revocations = None

    # -- the trust list -----------------------------------------------------------------

    async def _read_trust(self) -> None:
        rows = await repo.all_keys(self.pool)
        keys = {}
        for r in rows:
            kid = bytes(r["kid"])
            keys[kid] = TrustedKey(
                kid,
                r["clinic_id"],
                r["clinic"],
                cose.public_of(bytes(r["public_key"])),
                int(r["created_at"].timestamp()),
                None if r["withdrawn_at"] is None else int(r["withdrawn_at"].timestamp()),
            )
        trust = TrustList(self.city, int(self.clock().timestamp()), keys)
        self._trust_document = cose.signed_document(self.anchor, self.anchor_kid, trust.body())
        self._trust = trust
        self._trust_read = time.monotonic()

    async def trust(self, kid: bytes | None = None) -> TrustList:
        """The trust list as of at most :data:`TRUST_SECONDS` ago; read again at once when
        ``kid`` is not in it (at most once a second)."""
        now = time.monotonic()
        stale = self._trust is None or now - self._trust_read >= TRUST_SECONDS
        if (
            not stale
            and kid is not None
            and self._trust is not None
            and kid not in self._trust.keys
        ):
            stale = now - self._unknown_read >= UNKNOWN_KEY_SECONDS
            if stale:
                self._unknown_read = now
        if stale:
            async with self._lock:
                if self._trust is None or self._trust_read < now:  # nobody read it meanwhile
                    await self._read_trust()
        assert self._trust is not None
        return self._trust

    async def trust_document(self) -> bytes:
        """The trust list signed by the anchor (``application/cose``)."""
        await self.trust()
        return self._trust_document

    async def revocations(self, today: date) -> tuple[bytes, Revocations]:
        """The signed revocation list (revoked certificates not yet expired) and its value,
        signed again at most every :data:`REVOCATIONS_SECONDS`."""
        held = self._revocations
        if held is not None and time.monotonic() - held[0] < REVOCATIONS_SECONDS:
            return held[1], held[2]
        numbers = await repo.revoked_numbers(self.pool, today)
        value = Revocations.of_numbers(int(self.clock().timestamp()), numbers)
        document = cose.signed_document(self.anchor, self.anchor_kid, value.body(self.city))
        self._revocations = (time.monotonic(), document, value)
        return document, value
