"""The seed's driver's certificates: a few percent of the adults hold one, each backed by
the examinations its categories need (a completed appointment, a signed encounter and
the examiner's conclusion each, the chair's last on the day of issue), signed by its
clinic's key so that the trust list verifies it; a few revoked; the same seed gives the
same certificates (all but the keys and the signatures)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import asyncpg
import bearer
import msgspec
import pytest

from ehr.certificates import CertificateKeys, check_offline, cose, rules
from imias.booking.rules import age_on
from imias.citygen import certificates as seeded
from imias.citygen.seed import seed_city
from imias.domains import migrate_url

START = date(2026, 3, 2)
SMALL = {"clinics": 12, "doctors": 300, "patients": 2_000, "days": 7, "start": START}


@pytest.fixture
async def empty(fresh_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate_url(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def digest(conn: asyncpg.Connection) -> str:
    """The certificates and the visits behind them, less the keys and signatures."""
    return str(
        await conn.fetchval(
            """
            SELECT md5(string_agg(concat_ws(',', c.patient_id, c.number, c.clinic_id,
                   c.doctor_id, c.holder, c.categories, c.restrictions, c.valid_from,
                   c.valid_until, c.issued_at, c.status, c.revoked_at,
                   (SELECT string_agg(concat_ws(';', x.examiner, x.verdict, x.restrictions,
                                                x.recorded_at, x.doctor_id), '/' ORDER BY x.id)
                      FROM exam_conclusions x WHERE x.patient_id = c.patient_id)),
                   '|' ORDER BY c.id))
              FROM certificates c
            """
        )
    )


async def test_the_seed_gives_adults_verified_certificates_with_their_examinations(empty):
    report = await seed_city(empty, seed=1, secret=bearer.TEST_SECRET, **SMALL)
    conn = empty
    certificates = await conn.fetch("SELECT * FROM certificates ORDER BY id")
    assert len(certificates) == report.rows("certificates") == seeded.wanted(2_000) == 60
    revoked = [c for c in certificates if c["status"] == "revoked"]
    assert 1 <= len(revoked) <= 3 and all(c["revoked_reason"] for c in revoked)
    assert len({c["patient_id"] for c in certificates}) == len(certificates)
    assert len({c["number"] for c in certificates}) == len(certificates)

    # Signed by keys the trust list carries, sealed with the secret the server has.
    keys = CertificateKeys(conn, bearer.TEST_SECRET, "MOW")  # type: ignore[arg-type]
    trust = await keys.trust()
    _, revocations = await keys.revocations(START)
    assert len(revocations.hashes) == len(revoked)
    for c in certificates:
        check = check_offline(c["qr"], trust, revocations, START)
        assert check.verdict == ("revoked" if c["status"] == "revoked" else "valid"), c["number"]
        assert check.certificate is not None
        shown = check.certificate
        assert (shown.number, shown.holder, shown.birth_date) == (
            c["number"], c["holder"], c["birth_date"]
        )  # fmt: skip
        assert shown.categories == list(c["categories"])
        assert shown.restrictions == list(c["restrictions"])
        assert c["valid_from"] < START <= c["valid_until"]
        assert 20 <= age_on(c["birth_date"], START) <= 75
        opened, _ = cose.open_qr(c["qr"])
        assert opened.kid == bytes(c["kid"])
    kid, private = await keys.signing_key(certificates[0]["clinic_id"])  # unsealed
    assert kid == bytes(certificates[0]["kid"]) and private is not None

    # The examinations behind each, the chair's (a therapist's) last, on the day of issue.
    examiners_of = {
        r["code"]: rules.EXAMINER_OF.get(r["code"])
        for r in await conn.fetch("SELECT code FROM specialties")
    }
    present = {e for e in examiners_of.values() if e is not None}
    for c in certificates:
        visits = await conn.fetch(
            """
            SELECT x.examiner, x.verdict, x.restrictions, x.recorded_at, x.doctor_id,
                   e.signed_at, e.status, e.protocol, s.code AS specialty,
                   a.status AS booked, a.ends_at
              FROM exam_conclusions x
              JOIN encounters e ON e.patient_id = x.patient_id AND e.id = x.encounter_id
              JOIN specialties s ON s.id = e.specialty_id
              JOIN appointments a ON a.clinic_id = e.clinic_id AND a.id = e.appointment_id
             WHERE x.patient_id = $1 ORDER BY x.recorded_at
            """,
            c["patient_id"],
        )
        needed = [e for e in rules.examiners_for(c["categories"]) if e in present]
        assert sorted(v["examiner"] for v in visits) == sorted(needed)
        assert visits[-1]["examiner"] == "therapist" and visits[-1]["doctor_id"] == c["doctor_id"]
        assert visits[-1]["recorded_at"] == c["issued_at"]
        issued = c["valid_from"]
        for v in visits:
            assert examiners_of[v["specialty"]] == v["examiner"]
            assert (v["status"], v["booked"]) == ("finished", "completed")
            assert v["recorded_at"] == v["signed_at"] == v["ends_at"]
            day = v["recorded_at"].date()
            assert issued - timedelta(days=rules.CONCLUSION_DAYS) < day <= issued
            protocol = msgspec.json.decode(v["protocol"])
            assert "003-В/у" in protocol["history"]
        restrictions = sorted({r for v in visits for r in v["restrictions"]})
        assert list(c["restrictions"]) == restrictions
        # The rules would issue the same from these conclusions (bar a missing examiner).
        concluded = [
            rules.Concluded(v["examiner"], v["verdict"], v["restrictions"], v["recorded_at"].date())
            for v in visits
        ]
        if set(needed) == set(rules.examiners_for(c["categories"])):
            assert rules.driver_decision(c["categories"], concluded, issued) == (
                list(c["categories"]),
                restrictions,
            )

    # The same seed, the same certificates (the keys and the signatures aside).
    first = await digest(conn)
    await seed_city(conn, seed=1, secret=bearer.TEST_SECRET, replace=True, **SMALL)
    assert await digest(conn) == first
    await seed_city(conn, seed=2, secret=bearer.TEST_SECRET, replace=True, **SMALL)
    assert await digest(conn) != first


async def test_without_the_secret_or_when_asked_there_are_none(empty):
    await seed_city(empty, seed=1, **SMALL)
    assert await empty.fetchval("SELECT count(*) FROM certificates") == 0
    await seed_city(
        empty, seed=1, secret=bearer.TEST_SECRET, replace=True, with_certificates=False, **SMALL
    )
    for table in ("certificates", "exam_conclusions", "certificate_keys", "appointments"):
        assert await empty.fetchval(f"SELECT count(*) FROM {table}") == 0, table
