"""Whom a verifier trusts, and the check of a QR against it, online or offline.

The trust list names every clinic key that ever signed certificates: its key id, its
clinic, its public key, since when, and when it was withdrawn (a withdrawn key's
certificates are no longer valid; a retired one's stay valid). The revocation list names
revoked certificates by the hash of their number. Both are COSE_Sign1 documents signed
by the city's trust anchor (:mod:`ehr.certificates.cose`); `imias verify` and the
officer's page keep the last ones fetched and check a QR against them with no network.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ehr.certificates import cose
from ehr.certificates.model import Check, Shown
from ehr.certificates.rules import KINDS, revocation_hash, status_on


@dataclass(frozen=True, slots=True)
class TrustedKey:
    kid: bytes
    clinic_id: int
    clinic: str
    public: ec.EllipticCurvePublicKey
    since: int  # epoch seconds
    withdrawn: int | None  # epoch seconds, or None


@dataclass(frozen=True, slots=True)
class TrustList:
    iss: str
    issued_at: int
    keys: dict[bytes, TrustedKey]

    def body(self) -> dict[str, Any]:
        return {
            "iss": self.iss,
            "iat": self.issued_at,
            "keys": [
                {
                    "kid": k.kid,
                    "clinic": k.clinic_id,
                    "org": k.clinic,
                    "spki": cose.spki(k.public),
                    "nbf": k.since,
                    "wdn": k.withdrawn,
                }
                for k in self.keys.values()
            ],
        }

    @classmethod
    def of_body(cls, body: dict[str, Any]) -> TrustList:
        keys = {}
        for k in body["keys"]:
            key = TrustedKey(
                bytes(k["kid"]),
                int(k["clinic"]),
                str(k["org"]),
                cose.public_of(bytes(k["spki"])),
                int(k["nbf"]),
                None if k.get("wdn") is None else int(k["wdn"]),
            )
            if cose.key_id(key.public) != key.kid:
                raise ValueError("a key's id does not match its public key")
            keys[key.kid] = key
        return cls(str(body["iss"]), int(body["iat"]), keys)

    @staticmethod
    def shape(body: dict[str, Any]) -> bool:
        return isinstance(body.get("keys"), list) and isinstance(body.get("iat"), int)


@dataclass(frozen=True, slots=True)
class Revocations:
    issued_at: int
    hashes: frozenset[bytes]

    def body(self, iss: str) -> dict[str, Any]:
        return {"iss": iss, "iat": self.issued_at, "rev": sorted(self.hashes)}

    @classmethod
    def of_numbers(cls, issued_at: int, numbers: Iterable[str]) -> Revocations:
        return cls(issued_at, frozenset(revocation_hash(n) for n in numbers))

    @classmethod
    def of_body(cls, body: dict[str, Any]) -> Revocations:
        return cls(int(body["iat"]), frozenset(bytes(h) for h in body["rev"]))

    @staticmethod
    def shape(body: dict[str, Any]) -> bool:
        return isinstance(body.get("rev"), list) and isinstance(body.get("iat"), int)


def shown(content: dict[str, Any]) -> Shown:
    """The signed content as the officer sees it; ValueError when it is not a
    certificate's shape (a genuine signature over it is then not a certificate of ours)."""
    kind = content.get("k")
    if kind not in KINDS or content.get("v") != 1:
        raise ValueError("not a certificate of a known kind")
    return Shown(
        number=str(content["n"]),
        kind=kind,
        holder=str(content["nm"]),
        birth_date=date.fromisoformat(content["dob"]),
        categories=[str(c) for c in content.get("cat", [])],
        restrictions=[str(r) for r in content.get("res", [])],
        pe_group=content.get("grp"),
        valid_from=date.fromisoformat(content["df"]),
        valid_until=date.fromisoformat(content["du"]),
        clinic=str(content["org"]),
    )


def genuine(
    text: str, trust: TrustList, opened_qr: tuple[cose.Opened, dict[str, Any]] | None = None
) -> tuple[str, Shown | None, TrustedKey | None]:
    """("genuine", the content, its key) when the QR (``opened_qr``: already parsed) is
    signed by a trusted key, else the verdict: ``not_genuine``, ``unknown_key`` or
    ``key_withdrawn``."""
    try:
        opened, content = opened_qr or cose.open_qr(text)
    except cose.Malformed:
        return "not_genuine", None, None
    key = trust.keys.get(opened.kid)
    if key is None:
        return "unknown_key", None, None
    if not opened.verifies(key.public):
        return "not_genuine", None, None
    if key.withdrawn is not None:
        return "key_withdrawn", None, key
    try:
        return "genuine", shown(content), key
    except (ValueError, KeyError, TypeError):
        return "not_genuine", None, None


def check_offline(
    text: str, trust: TrustList, revocations: Revocations | None, today: date
) -> Check:
    """A QR checked with no network: against the trust list and the revocation list as
    last fetched (``revocations_as_of`` says when that list was signed)."""
    as_of = None if revocations is None else datetime.fromtimestamp(revocations.issued_at, UTC)
    verdict, content, _ = genuine(text, trust)
    if content is None:
        return Check(verdict=verdict, checked="offline", revocations_as_of=as_of)  # type: ignore[arg-type]
    revoked = revocations is not None and revocation_hash(content.number) in revocations.hashes
    status = status_on(content.valid_from, content.valid_until, revoked, today)
    return Check(
        verdict=status,  # type: ignore[arg-type]
        certificate=content,
        checked="offline",
        revocations_as_of=as_of,
    )
