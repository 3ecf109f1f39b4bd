"""A clinic's signing key as each worker holds it: a rotation or a withdrawal made by
another process (``imias certificate-keys``) counts for the worker's next certificate;
a key once unsealed is not unsealed again."""

from __future__ import annotations

import asyncpg
import bearer

from ehr.certificates.keys import CertificateKeys

CLINIC = 9_077


async def test_a_worker_signs_with_the_key_another_process_rotated_or_withdrew(database_url):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await pool.execute(
            "INSERT INTO clinics (id, name, address, district, lat, lon, kind)"
            " VALUES ($1, 'Городская поликлиника № 77', 'ул. Тестовая, 1', 'ЦАО', 55.7, 37.6,"
            " 'adult')",
            CLINIC,
        )
        await signs_with_the_current_key(pool)
    finally:
        await pool.execute("DELETE FROM certificate_keys WHERE clinic_id = $1", CLINIC)
        await pool.execute("DELETE FROM clinics WHERE id = $1", CLINIC)
        await pool.close()


async def signs_with_the_current_key(pool):
    worker = CertificateKeys(pool, bearer.TEST_SECRET, "MOW")
    operator = CertificateKeys(pool, bearer.TEST_SECRET, "MOW")  # imias certificate-keys
    first, private = await worker.signing_key(CLINIC)
    assert (await worker.signing_key(CLINIC))[1] is private  # unsealed once
    rotated = await operator.rotate(CLINIC)
    assert rotated != first
    assert (await worker.signing_key(CLINIC))[0] == rotated
    assert await operator.withdraw(rotated, "exposed")
    third, private = await worker.signing_key(CLINIC)
    assert third not in (first, rotated)
    worker.forget()
    trust = await worker.trust()
    assert trust.keys[third].withdrawn is None and trust.keys[rotated].withdrawn is not None
    assert trust.keys[first].withdrawn is None  # retired, not withdrawn
    assert private.public_key().public_numbers() == trust.keys[third].public.public_numbers()
