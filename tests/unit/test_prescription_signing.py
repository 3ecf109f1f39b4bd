"""The prescription's signature: the canonical content is one form for one content, a
changed byte fails, another deployment's authority is not believed, the QR code's text
round-trips and refuses another city or a changed character."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from prescriptions import rules
from prescriptions.signing import KEY_SECONDS, LocalAuthority

SECRET = "a-test-secret-of-at-least-32-characters!"


class MemoryKeys:
    """The statements LocalAuthority runs, over a dict: signing_keys in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def execute(self, sql: str, *args: Any) -> None:
        kid, clinic, doctor, public, certificate, private, issued = args
        if not any(  # the partial unique index: one key a doctor that is not revoked
            (r["clinic_id"], r["doctor_id"]) == (clinic, doctor) and r["revoked_at"] is None
            for r in self.rows.values()
        ):
            self.rows[kid] = {
                "id": kid,
                "clinic_id": clinic,
                "doctor_id": doctor,
                "public_key": public,
                "certificate": certificate,
                "private_key": private,
                "issued_at": issued,
                "revoked_at": None,
            }

    async def fetch(self, sql: str, since: Any) -> list[dict[str, Any]]:
        assert "revoked_at >= $1" in sql
        return [r for r in self.rows.values() if r["revoked_at"] and r["revoked_at"] >= since]

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        if "WHERE id = $1" in sql:
            return self.rows.get(args[0])
        return next(
            (
                r
                for r in self.rows.values()
                if (r["clinic_id"], r["doctor_id"]) == args and r["revoked_at"] is None
            ),
            None,
        )


def content(**changes: Any) -> rules.Content:
    base = rules.Content(
        city="MOW",
        number=42,
        patient=7,
        birth_date=date(1960, 5, 1),
        atc="C08CA01",
        inn="amlodipine",
        product="C08CA01-TAB-5",
        drug="амлодипин, таблетки, 5 мг",
        dose=rules.dose_text(1),
        per_day=1,
        days=30,
        quantity=30,
        schedule="once",
        periods=[(date(2026, 12, 4), date(2027, 2, 1), 30)],
        benefit=None,
        instructions="после еды",
        issued_on=date(2026, 12, 4),
        valid_until=date(2027, 2, 1),
        doctor=3,
        clinic=1,
        key_id="k",
    )
    return rules.Content(**({f: getattr(base, f) for f in base.__struct_fields__} | changes))


def test_canonical_form_is_sorted_compact_and_stable():
    one = rules.canonical(content())
    assert one == rules.canonical(content())
    assert b" " not in one.replace(b"\xd0\xb0\xd0\xbc", b"")[:20]
    keys = [k for k in content().__struct_fields__]
    assert one.index(b'"atc"') < one.index(b'"birth_date"') < one.index(b'"valid_until"')
    assert len(keys) == 22
    assert rules.canonical(content(quantity=31)) != one
    assert rules.canonical(content(instructions="раз в неделю")) != one  # instructions signed
    assert rules.dose_text(0.5) == "0.500" and rules.dose_text(1) == "1.000"


async def test_a_signature_verifies_and_any_changed_byte_fails():
    authority = LocalAuthority(MemoryKeys(), SECRET)
    kid = await authority.key_id(1, 3)
    body = rules.canonical(content(key_id=kid))
    signed_kid, signature = await authority.sign(1, 3, body)
    assert signed_kid == kid and len(signature) == 64
    assert (await authority.verify(kid, body, signature)).valid
    for i in range(len(body)):
        changed = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
        assert not (await authority.verify(kid, changed, signature)).valid
    for i in (0, 31, 63):
        bad = signature[:i] + bytes([signature[i] ^ 0x80]) + signature[i + 1 :]
        checked = await authority.verify(kid, body, bad)
        assert (checked.valid, checked.reason) == (False, "signature_mismatch")
    assert (await authority.verify("nobody", body, signature)).reason == "unknown_key"


async def test_the_doctors_key_is_certified_by_the_authority_and_no_other():
    keys = MemoryKeys()
    authority = LocalAuthority(keys, SECRET)
    kid = await authority.key_id(1, 3)
    row = keys.rows[kid]
    statement = LocalAuthority.statement(kid, 1, 3, row["public_key"], row["issued_at"])
    authority.authority_public.verify(row["certificate"], statement)  # raises if not
    with pytest.raises(InvalidSignature):
        Ed25519PrivateKey.generate().public_key().verify(row["certificate"], statement)
    # Another deployment (another secret) reads the same table and believes none of it.
    stranger = LocalAuthority(keys, "another-secret-of-at-least-32-characters")
    body = rules.canonical(content(key_id=kid))
    _, signature = await authority.sign(1, 3, body)
    checked = await stranger.verify(kid, body, signature)
    assert (checked.valid, checked.reason) == (False, "key_not_certified")
    # The private key is sealed: the stored bytes are not the raw key.
    assert len(row["private_key"]) == 12 + 32 + 16


def test_the_code_round_trips_and_refuses_another_city_and_junk():
    signature = bytes(range(64))
    code = rules.code_of("MOW", 123456, signature)
    assert code.startswith("RX1.MOW.123456.")
    assert rules.parse_code(code, "MOW") == (123456, signature)
    with pytest.raises(rules.CodeError) as foreign:
        rules.parse_code(code, "SPB")
    assert foreign.value.code == "foreign_city"
    for junk in (
        "",
        "RX1.MOW.x.AAAA",
        "RX2.MOW.1." + code.split(".")[3],
        code[:-3],
        "RX1.MOW.0.AA",
    ):
        with pytest.raises(rules.CodeError) as bad:
            rules.parse_code(junk, "MOW")
        assert bad.value.code == "bad_code"


async def test_a_revoked_key_is_forgotten_within_a_minute_and_then_refused():
    keys = MemoryKeys()
    authority = LocalAuthority(keys, SECRET)
    kid = await authority.key_id(1, 3)
    body = rules.canonical(content(key_id=kid))
    _, signature = await authority.sign(1, 3, body)
    assert (await authority.verify(kid, body, signature)).valid
    keys.rows[kid]["revoked_at"] = datetime.now(UTC)
    # Held, the key is trusted until the next look for revocations (at most a minute) ...
    assert (await authority.verify(kid, body, signature)).valid
    authority._polled -= KEY_SECONDS  # ... which a minute later is made
    checked = await authority.verify(kid, body, signature)
    assert (checked.valid, checked.reason) == (False, "key_revoked")
    # and the doctor's next signature is made with a new key
    assert await authority.key_id(1, 3) != kid
