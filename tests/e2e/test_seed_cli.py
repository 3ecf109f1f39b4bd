"""`imias seed` as an operator runs it, on the embedded default."""

import asyncio
import os
import re
import subprocess
import sys

import asyncpg

from imias.platform.embedded import EmbeddedPostgres


def _imias(data_dir, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    env |= {"IMIAS_DATA_DIR": str(data_dir), "IMIAS_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "imias.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def _counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("clinics", "doctors", "patients")
        }
    finally:
        await conn.close()


def test_seed_loads_once_and_refuses_to_load_twice(tmp_path):
    small = ("--clinics", "12", "--doctors", "150", "--patients", "1500")
    first = _imias(tmp_path, "seed", *small)
    assert first.returncode == 0, first.stderr
    assert "patients" in first.stdout and "database size" in first.stdout
    shown = re.findall(r"policy number (\d{16}), born (\d\d\.\d\d\.\d{4})", first.stdout)
    assert len(shown) == 3, first.stdout

    again = _imias(tmp_path, "seed", "--if-empty", *small)
    assert again.returncode == 0
    said = again.stdout.strip().splitlines()
    assert said[0] == "a city is already loaded; nothing to do"
    assert re.findall(r"policy number (\d{16}), born (\S+)", again.stdout) == shown

    refused = _imias(tmp_path, "seed", *small)
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("imias: error:")
    assert "--replace" in refused.stderr and "Traceback" not in refused.stderr

    pg = EmbeddedPostgres(tmp_path)
    pg.start()
    try:
        assert asyncio.run(_counts(pg.url)) == {"clinics": 12, "doctors": 150, "patients": 1500}
        for policy, born in shown:  # adults with a phone: the code has somewhere to go
            row = asyncio.run(_patient(pg.url, policy))
            assert row["phone"] and row["birth_date"].strftime("%d.%m.%Y") == born
    finally:
        pg.stop()


async def _patient(url: str, policy: str) -> asyncpg.Record:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchrow("SELECT * FROM patients WHERE policy_number = $1", policy)
    finally:
        await conn.close()


async def _history(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        # The driver's examinations behind the seed's certificates are no history.
        examinations = await conn.fetchval(
            "SELECT count(*) FROM appointments a WHERE EXISTS (SELECT 1 FROM encounters e"
            "  JOIN exam_conclusions x ON x.patient_id = e.patient_id AND x.encounter_id = e.id"
            " WHERE e.patient_id = a.patient_id AND e.appointment_id = a.id)"
        )
        return {
            "appointments": await conn.fetchval("SELECT count(*) FROM appointments") - examinations,
            "referrals": await conn.fetchval("SELECT count(*) FROM referrals"),
        }
    finally:
        await conn.close()


def test_history_days_load_past_appointments_and_bad_values_are_usage_errors(tmp_path):
    for bad in ("-1", "367", "two"):
        refused = _imias(tmp_path, "seed", "--history-days", bad)
        assert refused.returncode == 2, refused.stderr
        assert "Invalid value for '--history-days'" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not (tmp_path / "pg").exists(), "refused before any server started"

    small = ("--clinics", "12", "--doctors", "150", "--patients", "1500")
    first = _imias(tmp_path, "seed", "--history-days", "2", *small)
    assert first.returncode == 0, first.stderr
    for line in ("appointments", "referrals", "database size"):
        assert line in first.stdout
    again = _imias(tmp_path, "seed", "--if-empty", "--history-days", "2", *small)
    assert again.stdout.splitlines()[0] == "a city is already loaded; nothing to do"

    pg = EmbeddedPostgres(tmp_path)
    pg.start()
    try:
        loaded = asyncio.run(_history(pg.url))
    finally:
        pg.stop()
    assert loaded["appointments"] > 1_000 and loaded["referrals"] > 0

    replaced = _imias(tmp_path, "seed", "--replace", *small)
    assert replaced.returncode == 0, replaced.stderr
    pg.start()
    try:
        assert asyncio.run(_history(pg.url)) == {"appointments": 0, "referrals": 0}
    finally:
        pg.stop()
