"""The certificate's QR and the signed lists, as the EU Digital COVID Certificate does
them: a CBOR Web Token in a COSE_Sign1 (ES256, the key named by its key id), compressed
with zlib, written in base45 behind a prefix.

``MC1:`` + base45(zlib(COSE_Sign1)); the COSE_Sign1 (tag 18) has the protected header
``{1: -7 (ES256), 4: kid}``, the payload the claims ``{1: iss, 4: exp, 6: iat, -65537:
content}``, and a 64-byte ``r || s`` signature over the Sig_structure (RFC 9052 §4.4).
The trust list and the revocation list are COSE_Sign1 documents of the same shape,
signed by the city's trust anchor.

pycose builds and parses the messages and their Sig_structure; the ECDSA itself is the
``cryptography`` package's (pycose's own, on the pure-Python ``ecdsa``, verifies about
300 a second; OpenSSL's about 6,000).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from typing import Any

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from pycose.algorithms import Es256
from pycose.exceptions import CoseException
from pycose.headers import KID, Algorithm
from pycose.messages.sign1message import Sign1Message

PREFIX = "MC1:"
CONTENT_CLAIM = -65537  # a private-use CWT claim (RFC 8392 §9.1): the certificate
ISS, EXP, IAT = 1, 4, 6
KID_BYTES = 8
_ECDSA = ec.ECDSA(hashes.SHA256())
_MAX_QR = 4096  # characters: a QR of version 40 holds 4,296 alphanumeric ones
_MAX_INFLATED = 16_384  # bytes a payload may inflate to (a zip bomb stops there)


class Malformed(ValueError):
    """Not a certificate of ours: a wrong prefix, bad base45, zlib, CBOR or COSE."""


def key_id(public: ec.EllipticCurvePublicKey) -> bytes:
    """A key's id as the EU certificate's: the first 8 bytes of the SHA-256 of its DER
    SubjectPublicKeyInfo."""
    return hashlib.sha256(spki(public)).digest()[:KID_BYTES]


def spki(public: ec.EllipticCurvePublicKey) -> bytes:
    return public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def public_of(der: bytes) -> ec.EllipticCurvePublicKey:
    key = load_der_public_key(der)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not a P-256 public key")
    return key


def sign1(private: ec.EllipticCurvePrivateKey, kid: bytes, payload: bytes) -> bytes:
    """A tagged COSE_Sign1 of ``payload`` (bytes) signed ES256 with ``private``."""
    msg = Sign1Message(phdr={Algorithm: Es256, KID: kid}, payload=payload)
    r, s = decode_dss_signature(private.sign(msg._create_sig_structure(), _ECDSA))
    msg.signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return bytes(msg.encode(tag=True, sign=False))


class Opened:
    """A COSE_Sign1 parsed, not yet verified: its key id, its payload, and what
    :func:`verifies` needs."""

    __slots__ = ("kid", "payload", "_to_be_signed", "_signature")

    def __init__(self, kid: bytes, payload: bytes, to_be_signed: bytes, signature: bytes):
        self.kid = kid
        self.payload = payload
        self._to_be_signed = to_be_signed
        self._signature = signature

    def verifies(self, public: ec.EllipticCurvePublicKey) -> bool:
        sig = self._signature
        if len(sig) != 64:
            return False
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        try:
            public.verify(der, self._to_be_signed, _ECDSA)
        except InvalidSignature:
            return False
        return True


def open1(raw: bytes) -> Opened:
    """Parse a tagged COSE_Sign1 (ES256 only); :class:`Malformed` when it is not one."""
    try:
        msg = Sign1Message.decode(raw)
        alg = msg.phdr.get(Algorithm)
        kid = msg.phdr.get(KID)
        payload = msg.payload
        to_be_signed = msg._create_sig_structure()
    except (CoseException, ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise Malformed("not a COSE_Sign1 message") from exc
    except Exception as exc:  # cbor2 raises its own decode errors
        raise Malformed("not a COSE_Sign1 message") from exc
    if alg is not Es256 and getattr(alg, "identifier", None) != Es256.identifier:
        raise Malformed("not signed with ES256")
    if not isinstance(kid, bytes) or not isinstance(payload, bytes):
        raise Malformed("no key id or no payload")
    return Opened(kid, payload, to_be_signed, bytes(msg.signature))


def encode_qr(
    private: ec.EllipticCurvePrivateKey,
    kid: bytes,
    *,
    iss: str,
    iat: int,
    exp: int,
    content: dict[str, Any],
) -> str:
    """The QR's text of a certificate's ``content``."""
    claims = cbor2.dumps({ISS: iss, EXP: exp, IAT: iat, CONTENT_CLAIM: content})
    text: bytes = base45.b45encode(zlib.compress(sign1(private, kid, claims), 9))
    return PREFIX + text.decode()


def open_qr(text: str) -> tuple[Opened, dict[str, Any]]:
    """A QR's text parsed: the COSE_Sign1 (not verified yet) and its content; any
    damage (a changed or missing character) is :class:`Malformed`."""
    text = text.strip()
    if not text.startswith(PREFIX) or len(text) > _MAX_QR:
        raise Malformed("not a medical certificate's QR code")
    try:
        compressed = base45.b45decode(text[len(PREFIX) :])
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, _MAX_INFLATED)
        if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
            raise Malformed("damaged, oversized or trailed payload")
    except (ValueError, zlib.error) as exc:
        raise Malformed("damaged QR text") from exc
    opened = open1(raw)
    try:
        claims = cbor2.loads(opened.payload)
    except Exception as exc:
        raise Malformed("the payload is not CBOR") from exc
    content = claims.get(CONTENT_CLAIM) if isinstance(claims, dict) else None
    if not isinstance(content, dict):
        raise Malformed("no certificate in the payload")
    return opened, content


def signed_document(private: ec.EllipticCurvePrivateKey, kid: bytes, body: dict[str, Any]) -> bytes:
    """A list (trust or revocation) as a COSE_Sign1 of its CBOR."""
    return sign1(private, kid, cbor2.dumps(body))


def open_document(
    raw: bytes, anchor: ec.EllipticCurvePublicKey, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """A signed list's body, its signature checked against the anchor; ValueError when
    it is not the anchor's or not of the expected shape (``check``)."""
    opened = open1(raw)
    if opened.kid != key_id(anchor) or not opened.verifies(anchor):
        raise ValueError("the list is not signed by the trust anchor")
    body = cbor2.loads(opened.payload)
    if not isinstance(body, dict) or not check(body):
        raise ValueError("the list has an unexpected shape")
    return body
