"""`imias catalogue import` as an operator runs it: a file of the catalogue's shape is
checked and stored, the same file again changes nothing, the same version with other
content and a broken file are refused with a sentence, and a server takes the newest."""

import json
import os
import subprocess
import sys
from importlib import resources

import asyncpg
import pytest

from imias.domains import migrate_url


def imias(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imias.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
async def env(fresh_database_url, tmp_path):
    await migrate_url(fresh_database_url)
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    return base | {
        "IMIAS_DATA_DIR": str(tmp_path / "data"),
        "IMIAS_LOG_LEVEL": "WARNING",
        "IMIAS_DATABASE_URL": fresh_database_url,
    }


def bundled() -> dict:
    raw = resources.files("prescriptions.catalogue").joinpath("drugs.json").read_bytes()
    return json.loads(raw)


async def stored(url: str) -> list[tuple[str, int]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version, length(body) AS size FROM drug_catalogues")
        return sorted((r["version"], r["size"]) for r in rows)
    finally:
        await conn.close()


async def test_a_catalogue_is_imported_once_and_a_changed_one_needs_a_new_version(
    env, tmp_path, fresh_database_url
):
    data = bundled()
    data["version"] = "2027.01-1"
    data["drugs"] = data["drugs"][:10]
    data["interactions"] = [
        i
        for i in data["interactions"]
        if any(d["atc"].startswith(i["a"]) for d in data["drugs"])
        and any(d["atc"].startswith(i["b"]) for d in data["drugs"])
    ]
    path = tmp_path / "national.json"
    path.write_text(json.dumps(data, ensure_ascii=False))

    first = imias("catalogue", "import", str(path), env=env)
    assert first.returncode == 0, first.stderr
    assert "catalogue 2027.01-1: 10 drugs" in first.stdout and "imported" in first.stdout
    again = imias("catalogue", "import", str(path), env=env)
    assert again.returncode == 0 and "was imported already" in again.stdout
    assert [v for v, _ in await stored(fresh_database_url)] == ["2027.01-1"]

    data["drugs"] = data["drugs"][:9]
    data["interactions"] = []
    path.write_text(json.dumps(data, ensure_ascii=False))
    changed = imias("catalogue", "import", str(path), env=env)
    assert changed.returncode == 1
    assert "stored already with other content" in changed.stderr

    # A server prescribes from the newest imported catalogue.
    from prescriptions.plugin import load_catalogue

    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=1)
    try:
        assert (await load_catalogue(pool)).version == "2027.01-1"
    finally:
        await pool.close()


def test_a_broken_file_is_refused_with_what_is_wrong(env, tmp_path):
    data = bundled()
    data["drugs"][1]["products"][0]["code"] = data["drugs"][0]["products"][0]["code"]
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    twice = imias("catalogue", "import", str(path), env=env)
    assert twice.returncode == 2 and "listed twice" in twice.stderr
    data = bundled()
    data["drugs"][0]["price"] = 1
    path.write_text(json.dumps(data, ensure_ascii=False))
    unknown = imias("catalogue", "import", str(path), env=env)
    assert unknown.returncode == 2 and "price" in unknown.stderr
    path.write_text("{not json")
    junk = imias("catalogue", "import", str(path), env=env)
    assert junk.returncode == 2 and "not JSON" in junk.stderr
