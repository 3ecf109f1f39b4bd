"""`imias token`, `imias staff add` and `imias audit verify` as an operator runs them."""

import os
import subprocess
import sys

import asyncpg
import pytest

from imias.domains import migrate_url
from imias.identity import tokens
from imias.identity.keys import Keys, key_file
from imias.identity.passwords import Passwords
from imias.platform.audit import Access, record


def imias(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imias.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    return base | {"IMIAS_DATA_DIR": str(tmp_path / "data"), "IMIAS_LOG_LEVEL": "WARNING"}


def test_imias_token_mints_with_the_key_the_server_would_use(env, tmp_path):
    made = imias(
        "token", "--role", "doctor", "--subject", "5", "--org", "3", "--doctor", "77", env=env
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    secret = key_file(tmp_path / "data").read_text().strip()  # the embedded default's key
    principal = tokens.verify(Keys.from_secret(secret).token, token)
    assert (principal.role, principal.subject, principal.org, principal.doc) == ("doctor", 5, 3, 77)
    assert principal.exp - principal.iat <= 900
    given = imias(
        "token",
        "--role",
        "patient",
        "--subject",
        "42",
        "--ttl",
        "60",
        env=env | {"IMIAS_SECRET_KEY": "k" * 40},
    )
    principal = tokens.verify(Keys.from_secret("k" * 40).token, given.stdout.strip())
    assert principal.subject == 42 and principal.exp - int(principal.iat) == 60


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "registrar", "--subject", "1"], "--org"),
        (["--role", "doctor", "--subject", "1", "--org", "2"], "--doctor"),
        (["--role", "emperor", "--subject", "1"], "emperor"),
        (
            [
                "--role",
                "doctor",
                "--subject",
                "1",
                "--org",
                "2",
                "--doctor",
                "3",
                "--acting-for",
                "4",
            ],
            "acting-for",
        ),
    ],
    ids=["registrar-without-clinic", "doctor-without-row", "unknown-role", "staff-acting-for"],
)
def test_imias_token_refuses_a_token_that_makes_no_sense(env, args, message):
    result = imias("token", *args, env=env)
    assert result.returncode == 2 and message in result.stderr
    assert result.stdout == ""


@pytest.fixture
async def database(fresh_database_url, env):
    await migrate_url(fresh_database_url)
    return env | {
        "IMIAS_DATABASE_URL": fresh_database_url,
        "IMIAS_REDIS_URL": "redis://127.0.0.1:1/0",
    }


async def test_imias_staff_add_makes_an_account_with_an_argon2_password(
    database, fresh_database_url
):
    result = imias(
        "staff",
        "add",
        "--username",
        "chief.admin",
        "--role",
        "administrator",
        "--name",
        "Главный Администратор",
        env=database | {"IMIAS_STAFF_PASSWORD": "a-long-enough-password"},
    )
    assert result.returncode == 0, result.stderr
    assert "chief.admin (administrator)" in result.stdout
    conn = await asyncpg.connect(fresh_database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM staff_accounts WHERE username = 'chief.admin'")
    finally:
        await conn.close()
    assert row["role"] == "administrator" and row["password_hash"].startswith("$argon2id$")
    assert await Passwords().check(row["password_hash"], "a-long-enough-password")
    twice = imias(
        "staff",
        "add",
        "--username",
        "chief.admin",
        "--role",
        "administrator",
        env=database | {"IMIAS_STAFF_PASSWORD": "a-long-enough-password"},
    )
    assert twice.returncode == 1 and "imias: error:" in twice.stderr
    short = imias(
        "staff",
        "add",
        "--username",
        "x.y.z",
        "--role",
        "administrator",
        env=database | {"IMIAS_STAFF_PASSWORD": "short"},
    )
    assert short.returncode == 2 and "10 characters" in short.stderr


async def test_imias_audit_verify_seals_and_finds_a_removed_record(database, fresh_database_url):
    conn = await asyncpg.connect(fresh_database_url)
    try:
        who = Access(actor_id=3, actor_role="doctor", actor_org=1)
        for patient in range(1, 6):
            await record(conn, "read", "appointments", None, patient, access=who)
        whole = imias("audit", "verify", "--seal", env=database)
        assert whole.returncode == 0, whole.stderr
        assert "sealed 5 records" in whole.stdout and "the chain is whole" in whole.stdout
        head = await conn.fetchrow("SELECT seal_seq, hash FROM audit_chain_head")
        anchor = f"{head['seal_seq']}:{bytes(head['hash']).hex()}"
        assert imias("audit", "verify", "--anchor", anchor, env=database).returncode == 0
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("DELETE FROM audit_log WHERE seal_seq = 2")
    finally:
        await conn.close()
    broken = imias("audit", "verify", env=database)
    assert broken.returncode == 1
    assert "BROKEN: record(s) 2 of the chain are missing: removed" in broken.stdout
    assert "the chain is broken" in broken.stdout
