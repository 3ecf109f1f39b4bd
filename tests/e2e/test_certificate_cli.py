"""`imias certificate-keys` and `imias verify` as an operator and a verifier run them,
against a small seeded city served by `imias serve`: the keys are listed (never a private
key), rotated and withdrawn; the seed's certificates verify against the served lists;
a QR given as text, a text file or a photo gets its verdict and its exit status, online
and offline from the cache; a different anchor is refused; no cache, no server and no
image reader are each one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import bearer
import pytest
import segno
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from cryptography.hazmat.primitives.asymmetric import ec
from serving import serve

from ehr.certificates import Revocations, TrustList, check_offline, cose
from ehr.certificates.commands import EXIT_CODES
from loadtest.client import Connection

pytestmark = pytest.mark.slow


def imias(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imias.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def rows(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_certificate_cli_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=8, doctors=150, patients=1500)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def base_env(tmp_path_factory) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    return base | {
        "IMIAS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "IMIAS_LOG_LEVEL": "WARNING",
        "IMIAS_SECRET_KEY": TEST_SECRET,
    }


@pytest.fixture(scope="module")
async def keys_done(city, base_env):
    """The keys commands, run before the city is served: a clinic's key rotated and
    another's withdrawn (so the server's lists have them from its start)."""
    env = base_env | {"IMIAS_DATABASE_URL": city}
    by_clinic = await rows(
        city,
        "SELECT clinic_id, kid, count(*) AS n FROM certificates"
        " GROUP BY clinic_id, kid ORDER BY n DESC, clinic_id",
    )
    assert len(by_clinic) >= 2, "the seed signs with more than one clinic's key"
    rotated, withdrawn = by_clinic[0], by_clinic[1]
    listed = imias("certificate-keys", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "trust anchor" in listed.stdout
    assert bytes(withdrawn["kid"]).hex() in listed.stdout and "current" in listed.stdout
    sealed = await rows(city, "SELECT private_key FROM certificate_keys")
    for (private,) in sealed:
        assert bytes(private).hex()[:32] not in listed.stdout  # never a private key

    done = imias("certificate-keys", "rotate", "--clinic", str(rotated["clinic_id"]), env=env)
    assert done.returncode == 0, done.stderr
    assert "new key" in done.stdout
    kid = bytes(withdrawn["kid"]).hex()
    done = imias("certificate-keys", "withdraw", "--kid", kid, "--reason", "exposed", env=env)
    assert done.returncode == 0, done.stderr
    assert f"{withdrawn['n']} certificate(s)" in done.stdout
    again = imias("certificate-keys", "withdraw", "--kid", kid, "--reason", "exposed", env=env)
    assert again.returncode == 1 and "no key" in again.stderr
    bad = imias("certificate-keys", "withdraw", "--kid", "xyz", "--reason", "exposed", env=env)
    assert bad.returncode == 2 and "16 hex digits" in bad.stderr
    nowhere = imias("certificate-keys", "rotate", "--clinic", "999999", env=env)
    assert nowhere.returncode == 1 and "no clinic 999999" in nowhere.stderr

    listed = imias("certificate-keys", "list", env=env)
    assert listed.returncode == 0
    states = {line.split()[0]: line.split()[2] for line in listed.stdout.splitlines()[2:]}
    assert states[kid] == "withdrawn"
    assert states[bytes(rotated["kid"]).hex()] == "retired"
    assert "exposed" in listed.stdout
    return {"rotated": rotated["clinic_id"], "withdrawn": bytes(withdrawn["kid"])}


@pytest.fixture(scope="module")
def server(city, redis_url, keys_done, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serve(city, redis_url, log, secret_key=TEST_SECRET) as url:
        yield url


@pytest.fixture
def env(base_env, tmp_path) -> dict[str, str]:
    """A verifier of its own: its cache under its own IMIAS_DATA_DIR."""
    return base_env | {"IMIAS_DATA_DIR": str(tmp_path / "verifier")}


async def certificate(city: str, where: str, *args: object) -> asyncpg.Record:
    found = await rows(city, f"SELECT * FROM certificates WHERE {where} ORDER BY id LIMIT 1", *args)
    assert found, where
    return found[0]


async def test_the_seeds_certificates_verify_against_the_served_lists(city, server, keys_done):
    client = Connection(server)
    try:
        anchor = cose.public_of((await client.request("GET", "/.well-known/imias/anchor")).content)
        trust_raw = (await client.request("GET", "/.well-known/imias/trust-list")).content
        revoked_raw = (await client.request("GET", "/.well-known/imias/revocations")).content
        trust = TrustList.of_body(cose.open_document(trust_raw, anchor, TrustList.shape))
        revocations = Revocations.of_body(
            cose.open_document(revoked_raw, anchor, Revocations.shape)
        )
        today = datetime.now(ZoneInfo("Europe/Moscow")).date()
        seeded = await rows(city, "SELECT qr, status, kid, number FROM certificates")
        assert len(seeded) > 20
        for c in seeded:
            got = check_offline(c["qr"], trust, revocations, today)
            expected = (
                "key_withdrawn"
                if bytes(c["kid"]) == keys_done["withdrawn"]
                else "revoked"
                if c["status"] == "revoked"
                else "valid"
            )
            assert got.verdict == expected, (c["number"], got.verdict, expected)
        assert any(c["status"] == "revoked" for c in seeded)
        # Online too, as an officer.
        valid = [c for c in seeded if c["status"] == "issued"][:3]
        officer = bearer.bearer("police_officer", 991)
        for c in valid:
            answer = await client.request(
                "POST", "/api/v1/verify", json={"place": "пост ДПС", "qr": c["qr"]},
                headers=officer,
            )  # fmt: skip
            assert answer.status_code == 200, answer.content
            assert answer.json()["verdict"] in ("valid", "key_withdrawn")
    finally:
        await client.aclose()


async def test_verify_online_then_offline_from_the_cache(city, server, env, tmp_path, keys_done):
    c = await certificate(
        city,
        "status = 'issued' AND cardinality(restrictions) > 0 AND kid <> $1",
        keys_done["withdrawn"],
    )
    done = imias("verify", c["qr"], "--url", server, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "ДЕЙСТВИТЕЛЬНО"  # the driver's: a заключение (neuter)
    assert f"Владелец: {c['holder']}" in done.stdout
    assert f"Дата рождения: {c['birth_date'].strftime('%d.%m.%Y')}" in done.stdout
    assert f"Категории: {', '.join(c['categories'])}" in done.stdout
    assert f"Действует до: {c['valid_until'].strftime('%d.%m.%Y')}" in done.stdout
    assert c["restrictions"][0] in done.stdout
    cache = Path(env["IMIAS_DATA_DIR"]) / "verify"
    assert {p.name for p in cache.iterdir()} >= {
        "anchor.der",
        "trust-list.cose",
        "revocations.cose",
        "source.json",
    }
    # Offline: the cache only (the server is not asked: a wrong --url is not even given).
    offline = imias("verify", c["qr"], "--offline", "--lang", "en", env=env)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.splitlines()[0] == "VALID"
    assert "Checked offline; revocation list as of" in offline.stdout
    assert f"Holder: {c['holder']}" in offline.stdout
    assert "Restrictions: " + c["restrictions"][0] in offline.stdout
    # Without --url the lists are fetched again from where they came from.
    again = imias("verify", c["qr"], env=env)
    assert again.returncode == 0 and server in again.stdout
    # From a text file and from a photo of the QR code.
    text = tmp_path / "qr.txt"
    text.write_text(c["qr"] + "\n")
    assert imias("verify", str(text), "--offline", env=env).returncode == 0
    photo = tmp_path / "qr.png"
    segno.make(c["qr"], error="m").save(str(photo), scale=4)
    shot = imias("verify", str(photo), "--offline", env=env)
    assert shot.returncode == 0, shot.stderr
    assert c["holder"] in shot.stdout


async def test_each_verdict_has_its_exit_status(city, server, env, keys_done):
    valid = await certificate(city, "status = 'issued' AND kid <> $1", keys_done["withdrawn"])
    revoked = await certificate(city, "status = 'revoked' AND kid <> $1", keys_done["withdrawn"])
    withdrawn = await certificate(city, "kid = $1", keys_done["withdrawn"])
    fetched = imias("verify", valid["qr"], "--url", server, env=env)
    assert fetched.returncode == EXIT_CODES["valid"] == 0, fetched.stderr

    def status(qr: str, *more: str) -> tuple[int, str]:
        done = imias("verify", qr, "--offline", "--lang", "en", *more, env=env)
        return done.returncode, done.stdout.splitlines()[0] if done.stdout else done.stderr

    assert status(revoked["qr"]) == (12, "REVOKED")
    code, said = status(withdrawn["qr"])
    assert code == 15 and said.startswith("NOT VALID: the clinic's signing key was withdrawn")
    qr = valid["qr"]
    changed = qr[:20] + ("A" if qr[20] != "A" else "B") + qr[21:]
    code, not_genuine = status(changed)
    assert code == 13 and not_genuine.startswith("NOT GENUINE")
    _, content = cose.open_qr(qr)
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = cose.encode_qr(
        forger, cose.key_id(forger.public_key()), iss="MOW", iat=0, exp=0, content=content
    )
    code, said = status(forged)
    assert code == 14 and "key the city does not trust" in said
    after = (valid["valid_until"] + timedelta(days=1)).isoformat()
    assert status(qr, "--on", after) == (10, "EXPIRED")
    before = (valid["valid_from"] - timedelta(days=1)).isoformat()
    assert status(qr, "--on", before) == (11, "NOT YET VALID")
    assert status("HC1:not ours") == (13, not_genuine)
    assert set(EXIT_CODES.values()) == {0, 10, 11, 12, 13, 14, 15}  # one each, documented


async def test_a_different_anchor_is_refused_unless_given(city, server, env, tmp_path, keys_done):
    c = await certificate(city, "status = 'issued' AND kid <> $1", keys_done["withdrawn"])
    assert imias("verify", c["qr"], "--url", server, env=env).returncode == 0
    cache = Path(env["IMIAS_DATA_DIR"]) / "verify"
    served_anchor = (cache / "anchor.der").read_bytes()
    # Pinned earlier: another anchor (another city's, or an impostor's server now).
    other = cose.spki(ec.generate_private_key(ec.SECP256R1()).public_key())
    (cache / "anchor.der").write_bytes(other)
    refused = imias("verify", c["qr"], "--url", server, env=env)
    assert refused.returncode == 3, refused.stdout
    assert "REFUSED" in refused.stderr and "--anchor" in refused.stderr
    assert (cache / "anchor.der").read_bytes() == other  # nothing changed
    # The cache's lists were signed by the served anchor, not the pinned one: offline
    # checks refuse them too.
    assert imias("verify", c["qr"], "--offline", env=env).returncode == 3
    # Given explicitly, the served anchor is pinned again.
    given = tmp_path / "anchor.der"
    given.write_bytes(served_anchor)
    accepted = imias("verify", c["qr"], "--url", server, "--anchor", str(given), env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert (cache / "anchor.der").read_bytes() == served_anchor
    # An --anchor that is not the server's is refused.
    wrong = tmp_path / "wrong.der"
    wrong.write_bytes(other)
    done = imias("verify", c["qr"], "--url", server, "--anchor", str(wrong), env=env)
    assert done.returncode == 3 and "REFUSED" in done.stderr


async def test_what_cannot_be_checked_is_one_sentence(city, server, env, tmp_path, keys_done):
    c = await certificate(city, "status = 'issued' AND kid <> $1", keys_done["withdrawn"])
    nothing = imias("verify", c["qr"], "--offline", env=env)
    assert nothing.returncode == 2
    assert "no trust list is cached" in nothing.stderr and "--url" in nothing.stderr
    assert "Traceback" not in nothing.stderr
    nowhere = imias("verify", c["qr"], env=env)
    assert nowhere.returncode == 2 and "no trust list is cached" in nowhere.stderr
    unreachable = imias("verify", c["qr"], "--url", "http://127.0.0.1:9", env=env)
    assert unreachable.returncode == 2
    assert "cannot reach http://127.0.0.1:9" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    missing = imias("verify", str(tmp_path / "nothing.png"), "--offline", env=env)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    # An image with no zxing-cpp to read it: says what to install.
    assert imias("verify", c["qr"], "--url", server, env=env).returncode == 0
    photo = tmp_path / "qr.png"
    segno.make(c["qr"], error="m").save(str(photo), scale=4)
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "zxingcpp.py").write_text("raise ImportError('not installed')\n")
    without = env | {"PYTHONPATH": str(fake)}
    done = imias("verify", str(photo), "--offline", env=without)
    assert done.returncode == 2
    assert "needs the zxing-cpp package" in done.stderr
