"""Tokens and keys: a token verifies only as it was signed, by its key, in its time."""

import base64
import json
import os
import stat

import pytest

from imias.identity import tokens
from imias.identity.keys import (
    Keys,
    read_or_create_key_file,
    resolve_secret,
    server_secret,
)
from imias.identity.tokens import TokenError

SECRET = "a-test-secret-that-is-long-enough-0123456789"
KEY = Keys.from_secret(SECRET).token
NOW = 1_800_000_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mint(**kwargs) -> str:
    claims = tokens.claims(
        kwargs.pop("role", "patient"), kwargs.pop("subject", 42), now=NOW, **kwargs
    )
    return tokens.mint(KEY, claims)


def test_a_token_carries_who_what_organisation_and_times():
    token = _mint(role="doctor", subject=7, org=3, doctor=120, ttl=600)
    principal = tokens.verify(KEY, token, now=NOW + 10)
    assert (principal.role, principal.subject, principal.org, principal.doc) == (
        "doctor",
        7,
        3,
        120,
    )
    assert (principal.iat, principal.exp, principal.auth) == (NOW, NOW + 600, NOW)
    assert principal.sid and principal.jti and principal.sid != principal.jti
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_two_tokens_have_their_own_ids_and_a_refresh_keeps_the_session():
    first = tokens.claims("patient", 1, now=NOW)
    second = tokens.claims("patient", 1, now=NOW)
    assert first.sid != second.sid and first.jti != second.jti
    refreshed = tokens.claims("patient", 1, session=first.sid, signed_in_at=first.auth, now=NOW + 5)
    assert refreshed.sid == first.sid and refreshed.auth == first.auth


@pytest.mark.parametrize(
    ("reason", "make"),
    [
        ("expired", lambda: (_mint(ttl=60), NOW + 60)),
        ("issued in the future", lambda: (_mint(), NOW - 3600)),
        (
            "bad signature",
            lambda: (
                tokens.mint(Keys.from_secret("x" * 40).token, tokens.claims("patient", 1, now=NOW)),
                NOW,
            ),
        ),
        ("bad signature", lambda: (_tampered(), NOW)),
        ("unsupported header", lambda: (_alg_none(), NOW)),
        ("malformed", lambda: ("not-a-token", NOW)),
        ("malformed", lambda: ("a.b.c.d", NOW)),
        ("malformed", lambda: ("x" * 5000, NOW)),
        ("malformed", lambda: ("жжж.жжж.жжж", NOW)),
        ("malformed claims", lambda: (_signed({"sub": "not-a-number", "role": "patient"}), NOW)),
        (
            "malformed claims",
            lambda: (
                _signed(
                    {
                        "sub": "1",
                        "role": "emperor",
                        "sid": "s",
                        "jti": "j",
                        "iat": NOW,
                        "exp": NOW + 9,
                    }
                ),
                NOW,
            ),
        ),
    ],
    ids=[
        "expired",
        "future",
        "other-key",
        "tampered",
        "alg-none",
        "garbage",
        "four-parts",
        "too-long",
        "not-ascii",
        "sub-not-a-number",
        "unknown-role",
    ],
)
def test_a_token_that_is_not_valid_is_refused_with_a_reason(reason, make):
    token, at = make()
    with pytest.raises(TokenError) as caught:
        tokens.verify(KEY, token, now=at)
    assert caught.value.reason == reason
    assert token[-20:] not in str(caught.value), "the reason never quotes the token"


def _tampered() -> str:
    header, payload, signature = _mint(role="patient", subject=42).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "43"  # someone else's id
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _alg_none() -> str:
    _, payload, _ = _mint().split(".")
    none = _b64(json.dumps({"alg": "none", "typ": "JWT"}, separators=(",", ":")).encode())
    return f"{none}.{payload}."


def _signed(claims: dict) -> str:
    import hashlib
    import hmac

    header = _mint().split(".")[0]
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(KEY, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def test_no_token_lives_longer_than_a_day():
    with pytest.raises(ValueError):
        tokens.claims("patient", 1, ttl=86_401, now=NOW)
    forged = _signed(
        {"sub": "1", "role": "patient", "sid": "s", "jti": "j", "iat": NOW, "exp": NOW + 10**7}
    )
    with pytest.raises(TokenError) as caught:
        tokens.verify(KEY, forged, now=NOW)
    assert caught.value.reason == "lives too long"


def test_derived_keys_differ_and_the_log_hash_hides_its_value():
    keys = Keys.from_secret(SECRET)
    assert len({keys.token, keys.otp, keys.log}) == 3
    assert keys.log_hash("7700000000000001") == keys.log_hash("7700000000000001")
    assert keys.log_hash("7700000000000001") != keys.log_hash("7700000000000002")
    assert "7700000000000001" not in keys.log_hash("7700000000000001")
    assert Keys.from_secret("another-secret-entirely-0123456789").log != keys.log


def test_the_key_file_is_made_once_private_and_kept(tmp_path):
    path = tmp_path / "data" / "secret_key"
    key, created = read_or_create_key_file(path)
    assert created and len(key) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, created_again = read_or_create_key_file(path)
    assert (again, created_again) == (key, False)
    assert resolve_secret(None, tmp_path / "data") == key
    assert resolve_secret("given-" + "k" * 40, tmp_path / "data") == "given-" + "k" * 40


def test_tools_find_the_server_key_in_the_environment_or_the_data_dir(tmp_path):
    data = str(tmp_path / "d")
    from_file = server_secret({"IMIAS_DATA_DIR": data})
    assert from_file == resolve_secret(None, data)
    assert server_secret({"IMIAS_DATA_DIR": data, "IMIAS_SECRET_KEY": "e" * 40}) == "e" * 40


def test_a_short_key_file_is_refused(tmp_path):
    (tmp_path / "secret_key").write_text("short\n")
    with pytest.raises(ValueError, match="shorter than 32"):
        resolve_secret(None, tmp_path)


@pytest.mark.parametrize(
    "header",
    [
        {"typ": "JWT", "alg": "HS512"},  # another algorithm, even with the right key
        {"typ": "JWT", "alg": "RS256"},  # a public-key algorithm the key would "verify"
        {"typ": "JWT", "alg": "HS256", "kid": "../../etc/passwd"},  # a key of its choosing
        {"typ": "JWT", "alg": "HS256", "jku": "https://attacker.example/keys"},
    ],
    ids=["hs512", "rs256", "kid", "jku"],
)
def test_only_the_pinned_algorithm_and_header_are_accepted(header):
    import hashlib
    import hmac

    _, payload, _ = _mint().split(".")
    head = _b64(json.dumps(header, separators=(",", ":")).encode())
    digest = hashlib.sha512 if header["alg"] == "HS512" else hashlib.sha256
    signature = _b64(hmac.new(KEY, f"{head}.{payload}".encode(), digest).digest())
    with pytest.raises(TokenError) as caught:
        tokens.verify(KEY, f"{head}.{payload}.{signature}", now=NOW)
    assert caught.value.reason == "unsupported header"


def test_tokens_are_made_and_checked_by_the_jose_library():
    from joserfc import jwt
    from joserfc.jwk import OctKey

    token = _mint(subject=9)
    decoded = jwt.decode(token, OctKey.import_key(KEY), algorithms=["HS256"])
    assert decoded.claims["sub"] == "9" and decoded.header == {"typ": "JWT", "alg": "HS256"}
