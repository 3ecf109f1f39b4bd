"""Certificates over the JSON API: the specialists conclude in their visits, the chair
issues, the holder reads, the officer checks (online, and offline against the signed
lists), and every forgery, alteration, withdrawn key, revocation and wrong birth date
gets its own verdict, never "valid"."""

from __future__ import annotations

import itertools
import zlib
from datetime import date, timedelta
from typing import Any

import asyncpg
import base45
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from cryptography.hazmat.primitives.asymmetric import ec
from signin import adults, app_client, fetch, key

from ehr.certificates import (
    CertificateKeys,
    Revocations,
    TrustList,
    anchor_of,
    check_offline,
    cose,
    rules,
)
from imias.booking import search
from imias.booking.model import CHANNEL_BITS
from imias.platform.dates import add_months
from imias.platform.problems import ProblemError

OFFICER = bearer.bearer("police_officer", 901)
SECOND_OFFICER = bearer.bearer("police_officer", 902)
PLACE = {"place": "МКАД, 41 км, пост ДПС"}
SHOWN = {
    "number", "kind", "holder", "birth_date", "categories", "restrictions", "pe_group",
    "valid_from", "valid_until", "clinic",
}  # fmt: skip


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_certificates_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=300, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


_offset = itertools.count(0, 2)


async def driver(client) -> dict[str, Any]:
    return dict((await adults(client.city, 1, offset=200 + next(_offset)))[0])


async def book(client, person: dict, specialty: str) -> dict[str, Any]:
    """Book ``person`` with a doctor of ``specialty``: at their own clinic when it books
    only its own, with the referral's slots when it needs one (as the portal shows them
    to the referral's holder)."""
    engine = client.app_state.engine
    spec = engine.directory.by_code[specialty]
    first, last = search.window(engine, None, None)
    slots = search.earliest(
        engine, 30, specialty_id=spec.id,
        clinic_ids=[person["attached_clinic_id"]] if spec.attached_only else None,
        first=first, last=last, channel=CHANNEL_BITS["web"],
        entitled=0 if spec.self_referral else search.ENTITLED_BY_REFERRAL,
    )  # fmt: skip
    for slot in slots:
        answer = await client.post(
            "/api/v1/appointments",
            json={"doctor_id": slot.doctor_id, "starts_at": slot.starts_at.isoformat()},
            headers=bearer.patient(person["id"]) | key(),
        )
        if answer.status_code == 201:
            return dict(answer.json())
    raise AssertionError(f"no {specialty} slot could be booked")


_visits: dict[tuple[int, str], tuple[int, dict[str, str]]] = {}


async def visit(client, person: dict, specialty: str) -> tuple[int, dict[str, str]]:
    """An open visit of ``person`` with a doctor of ``specialty`` (a referral first when
    the specialty needs one; the same visit when there is one): the encounter and the
    doctor's headers."""
    if (person["id"], specialty) in _visits:
        return _visits[person["id"], specialty]
    await fetch(
        client.city,
        "INSERT INTO referrals (clinic_id, patient_id, specialty_id, issued_by, valid_until)"
        " SELECT d.clinic_id, $1, s.id, d.id, current_date + 30"
        "   FROM doctors d, specialties s WHERE s.code = $2 AND NOT s.self_referral"
        "  ORDER BY d.id LIMIT 1",
        person["id"],
        specialty,
    )
    appointment = await book(client, person, specialty)
    doctor = bearer.doctor(appointment["doctor_id"], appointment["clinic_id"])
    opened = await client.post(
        "/api/v1/encounters", json={"appointment_id": appointment["id"]}, headers=doctor
    )
    assert opened.status_code == 201, opened.text
    _visits[person["id"], specialty] = opened.json()["id"], doctor
    return _visits[person["id"], specialty]


async def conclude(client, person, specialty, verdict="fit", restrictions=(), status=201):
    encounter, doctor = await visit(client, person, specialty)
    answer = await client.post(
        f"/api/v1/encounters/{encounter}/conclusions",
        json={"verdict": verdict, "restrictions": list(restrictions)},
        headers=doctor,
    )
    assert answer.status_code == status, answer.text
    return answer.json(), doctor


async def examined(client, person, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """The four examinations of category B (the ophthalmologist: glasses or lenses), and
    ``extra`` ones; the therapist's headers (the chair)."""
    _, chair = await conclude(client, person, "therapist")
    await conclude(client, person, "ophthalmologist", "restricted", ["01.06"])
    await conclude(client, person, "psychiatrist")
    await conclude(client, person, "narcologist")
    for specialty in extra:
        await conclude(client, person, specialty)
    return chair


async def issue(client, chair, person, categories=("B",), status=201, **more) -> dict:
    answer = await client.post(
        "/api/v1/certificates",
        json={"patient_id": person["id"], "categories": list(categories)} | more,
        headers=chair,
    )
    assert answer.status_code == status, answer.text
    return answer.json()


async def check(client, body: dict, officer=OFFICER, status=200) -> dict:
    answer = await client.post("/api/v1/verify", json=PLACE | body, headers=officer)
    assert answer.status_code == status, answer.text
    return answer.json()


async def lists(client) -> tuple[TrustList, Revocations]:
    """The trust and revocation lists as an offline verifier fetches them, checked
    against the anchor it pins."""
    anchor = cose.public_of((await client.get("/.well-known/imias/anchor")).content)
    trust = await client.get("/.well-known/imias/trust-list")
    assert trust.headers["content-type"].startswith("application/cose")
    revoked = await client.get("/.well-known/imias/revocations")
    return (
        TrustList.of_body(cose.open_document(trust.content, anchor, TrustList.shape)),
        Revocations.of_body(cose.open_document(revoked.content, anchor, Revocations.shape)),
    )


async def test_a_driver_is_examined_the_chair_issues_and_an_officer_checks_it(client):
    person = await driver(client)
    me = bearer.patient(person["id"])
    before = await client.get(
        f"/api/v1/patients/{person['id']}/driver-checklist", params={"categories": "B"}, headers=me
    )
    assert before.status_code == 200, before.text
    assert [i["examiner"] for i in before.json()["items"]] == list(rules.BASE_EXAMINERS)
    assert not before.json()["complete"]
    chair = await examined(client, person)
    after = (
        await client.get(
            f"/api/v1/patients/{person['id']}/driver-checklist",
            params={"categories": "B"},
            headers=me,
        )
    ).json()
    assert after["complete"] and all(i["verdict"] for i in after["items"])

    issued = await issue(client, chair, person)
    assert issued["categories"] == ["B"] and issued["restrictions"] == ["01.06"]
    assert issued["form"] == "003-В/у" and issued["status"] == "valid"
    today = date.fromisoformat(issued["valid_from"])
    longest = rules.longest_validity("driver", ["B"], today)
    assert date.fromisoformat(issued["valid_until"]) == longest
    assert issued["qr"].startswith("MC1:")

    mine = (await client.get(f"/api/v1/patients/{person['id']}/certificates", headers=me)).json()
    assert [c["number"] for c in mine] == [issued["number"]]

    answer = await check(client, {"qr": mine[0]["qr"]})
    assert answer["verdict"] == "valid"
    assert set(answer["certificate"]) <= SHOWN  # nothing else: no diagnosis, no doctor
    assert answer["certificate"]["holder"].startswith(person["family_name"])
    assert answer["certificate"]["restrictions"] == ["01.06"]
    by_number = await check(
        client, {"number": issued["number"], "birth_date": person["birth_date"].isoformat()}
    )
    assert by_number["verdict"] == "valid"
    assert by_number["certificate"] == answer["certificate"]

    # Offline: the QR against the lists as fetched, signed by the pinned anchor.
    trust, revocations = await lists(client)
    offline = check_offline(issued["qr"], trust, revocations, today)
    assert offline.verdict == "valid" and offline.certificate is not None
    assert offline.certificate.number == issued["number"]

    # The holder sees every check in the access log, with the place.
    log = (await client.get("/api/v1/me/access-log", headers=me)).json()
    checks = [e for e in log if e["action"] == "verify"]
    assert len(checks) == 2 and all(e["actor_role"] == "police_officer" for e in checks)
    assert all(PLACE["place"] in (e["reason"] or "") for e in checks)


async def test_professional_categories_need_the_neurologist_and_the_otolaryngologist(client):
    person = await driver(client)
    chair = await examined(client, person)
    refused = await issue(client, chair, person, ["B", "C"], status=422)
    assert refused["code"] == "conclusions_missing"
    assert refused["missing"] == ["neurologist", "otolaryngologist"]
    await conclude(client, person, "neurologist")
    await conclude(client, person, "otolaryngologist", "restricted", ["02"])
    issued = await issue(client, chair, person, ["C", "B"])
    assert issued["categories"] == ["B", "C"]
    assert issued["restrictions"] == ["01.06", "02"]
    today = date.fromisoformat(issued["valid_from"])
    assert date.fromisoformat(issued["valid_until"]) == add_months(today, 24) - timedelta(1)


async def test_a_conclusion_says_only_what_its_examiner_may(client):
    person = await driver(client)
    encounter, psychiatrist = await visit(client, person, "psychiatrist")
    for body, code in [
        ({"verdict": "restricted", "restrictions": ["78"]}, "conclusion_yes_no"),
        ({"verdict": "fit", "restrictions": ["78"]}, "conclusion_yes_no"),
        ({"verdict": "fine"}, None),
    ]:
        answer = await client.post(
            f"/api/v1/encounters/{encounter}/conclusions", json=body, headers=psychiatrist
        )
        assert answer.status_code in (400, 422), answer.text
        if code:
            assert answer.json()["code"] == code
    encounter, ophthalmologist = await visit(client, person, "ophthalmologist")
    for body, code in [
        ({"verdict": "restricted", "restrictions": ["78"]}, "restriction_not_yours"),
        ({"verdict": "restricted", "restrictions": []}, "restrictions_missing"),
        ({"verdict": "restricted", "restrictions": ["99"]}, "unknown_restriction"),
    ]:
        answer = await client.post(
            f"/api/v1/encounters/{encounter}/conclusions", json=body, headers=ophthalmologist
        )
        assert answer.status_code == 422 and answer.json()["code"] == code, answer.text
    encounter, dentist = await visit(client, person, "dentist")
    answer = await client.post(
        f"/api/v1/encounters/{encounter}/conclusions", json={"verdict": "fit"}, headers=dentist
    )
    assert answer.json()["code"] == "not_an_examiner"
    # Nobody else concludes in her visit.
    answer = await client.post(
        f"/api/v1/encounters/{encounter}/conclusions", json={"verdict": "fit"}, headers=psychiatrist
    )
    assert answer.status_code == 404
    (written,) = await fetch(
        client.city, "SELECT count(*) FROM exam_conclusions WHERE patient_id = $1", person["id"]
    )
    assert written[0] == 0


async def test_only_the_chair_issues_and_only_from_fit_conclusions(client):
    person = await driver(client)
    _, chair = await conclude(client, person, "therapist")
    missing = await issue(client, chair, person, status=422)
    assert missing["missing"] == ["ophthalmologist", "psychiatrist", "narcologist"]
    _, ophthalmologist = await conclude(client, person, "ophthalmologist")
    answer = await client.post(
        "/api/v1/certificates",
        json={"patient_id": person["id"], "categories": ["B"]},
        headers=ophthalmologist,
    )
    assert answer.status_code == 403 and answer.json()["code"] == "not_the_chair"
    await conclude(client, person, "psychiatrist", "unfit")
    await conclude(client, person, "narcologist")
    unfit = await issue(client, chair, person, status=422)
    assert unfit["code"] == "unfit" and unfit["unfit"] == ["psychiatrist"]
    assert (await issue(client, chair, person, ["X"], status=422))["code"] == "unknown_category"


async def test_a_later_unfit_conclusion_revokes_and_the_officer_is_told(client):
    person = await driver(client)
    chair = await examined(client, person)
    issued = await issue(client, chair, person)
    answer, _ = await conclude(client, person, "narcologist", "unfit")
    assert answer["revoked"] == [issued["number"]]
    assert (await check(client, {"qr": issued["qr"]}))["verdict"] == "revoked"
    client.app_state.certificates.keys.forget()  # the signed list is re-signed at once
    trust, revocations = await lists(client)
    today = date.fromisoformat(issued["valid_from"])
    assert check_offline(issued["qr"], trust, revocations, today).verdict == "revoked"
    # Without the revocation list an offline check cannot know, and says as of when.
    assert check_offline(issued["qr"], trust, None, today).revocations_as_of is None


async def test_the_clinic_revokes_with_a_reason_and_no_other_clinic_can(client):
    person = await driver(client)
    chair = await examined(client, person)
    issued = await issue(client, chair, person)
    other_clinic = bearer.doctor(1, issued["clinic_id"] % 16 + 1)
    answer = await client.post(
        f"/api/v1/certificates/{issued['number']}/revoke",
        json={"reason": "Выдана по ошибке"},
        headers=other_clinic,
    )
    assert answer.status_code == 404
    answer = await client.post(
        f"/api/v1/certificates/{issued['number']}/revoke",
        json={"reason": "Выдана по ошибке"},
        headers=chair,
    )
    assert answer.status_code == 200 and answer.json()["status"] == "revoked", answer.text
    again = await client.post(
        f"/api/v1/certificates/{issued['number']}/revoke",
        json={"reason": "Выдана по ошибке"},
        headers=chair,
    )
    assert again.status_code == 409 and again.json()["code"] == "already_revoked"
    assert (await check(client, {"qr": issued["qr"]}))["verdict"] == "revoked"
    # The same signature recompressed is the same certificate, revoked too.
    raw = base45.b45decode(issued["qr"][len(cose.PREFIX) :])
    recompressed = cose.PREFIX + base45.b45encode(zlib.compress(zlib.decompress(raw), 1)).decode()
    assert recompressed != issued["qr"]
    assert (await check(client, {"qr": recompressed}))["verdict"] == "revoked"


async def test_forged_altered_and_unknown_key_certificates_are_not_valid(client):
    person = await driver(client)
    chair = await examined(client, person)
    issued = await issue(client, chair, person)
    qr = issued["qr"]
    trust, revocations = await lists(client)
    today = date.fromisoformat(issued["valid_from"])
    # One changed character anywhere (that still spells base45) is not genuine.
    for at in (5, len(qr) // 2, len(qr) - 2):
        changed = qr[:at] + ("A" if qr[at] != "A" else "B") + qr[at + 1 :]
        assert (await check(client, {"qr": changed}))["verdict"] == "not_genuine"
        assert check_offline(changed, trust, revocations, today).verdict == "not_genuine"
    # The same content, signed by a key the city does not trust.
    opened, content = cose.open_qr(qr)
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = cose.encode_qr(
        forger, cose.key_id(forger.public_key()), iss="MOW", iat=0, exp=0, content=content
    )
    assert (await check(client, {"qr": forged}))["verdict"] == "unknown_key"
    assert check_offline(forged, trust, revocations, today).verdict == "unknown_key"
    # A forger who claims the clinic's key id: the signature does not verify.
    claimed = cose.encode_qr(forger, opened.kid, iss="MOW", iat=0, exp=0, content=content)
    assert (await check(client, {"qr": claimed}))["verdict"] == "not_genuine"
    # A trust list signed by anyone but the anchor is refused.
    body = cose.signed_document(forger, cose.key_id(forger.public_key()), trust.body())
    anchor = anchor_of(bearer.TEST_SECRET).public_key()
    with pytest.raises(ValueError):
        cose.open_document(body, anchor, TrustList.shape)
    # Expired: the same certificate the day after its last.
    last = date.fromisoformat(issued["valid_until"])
    assert check_offline(qr, trust, revocations, last).verdict == "valid"
    assert check_offline(qr, trust, revocations, last + timedelta(1)).verdict == "expired"
    assert (await check(client, {"qr": "HC1:not ours"}))["verdict"] == "not_genuine"


async def test_a_rotated_key_keeps_its_certificates_and_a_withdrawn_one_does_not(client):
    person = await driver(client)
    chair = await examined(client, person)
    old = await issue(client, chair, person)
    # Rotated and withdrawn by another process (`imias certificate-keys`).
    pool = await asyncpg.create_pool(client.city, min_size=1, max_size=2)
    try:
        keys = CertificateKeys(pool, bearer.TEST_SECRET, "MOW")
        new_kid = await keys.rotate(old["clinic_id"])
        new = await issue(client, chair, person)
        assert new["key_id"] == new_kid.hex() != old["key_id"]
        assert (await check(client, {"qr": old["qr"]}))["verdict"] == "valid"
        assert await keys.withdraw(bytes.fromhex(old["key_id"]), "the clinic's key was exposed")
    finally:
        await pool.close()
    client.app_state.certificates.keys.forget()  # as every worker does within 10 seconds
    assert (await check(client, {"qr": old["qr"]}))["verdict"] == "key_withdrawn"
    born = person["birth_date"].isoformat()
    withdrawn = await check(client, {"number": old["number"], "birth_date": born})
    assert withdrawn["verdict"] == "key_withdrawn" and withdrawn["certificate"] is None
    assert (await check(client, {"qr": new["qr"]}))["verdict"] == "valid"
    trust, revocations = await lists(client)
    today = date.fromisoformat(new["valid_from"])
    assert check_offline(old["qr"], trust, revocations, today).verdict == "key_withdrawn"
    assert check_offline(new["qr"], trust, revocations, today).verdict == "valid"
    # No private key in any answer or list.
    (row,) = await fetch(
        client.city, "SELECT private_key FROM certificate_keys WHERE kid = $1", new_kid
    )
    sealed = bytes(row[0])
    listed = (await client.get("/.well-known/imias/trust-list")).content
    assert sealed[12:40] not in listed


async def test_a_number_needs_the_right_birth_date_and_misses_are_limited(client):
    person = await driver(client)
    chair = await examined(client, person)
    issued = await issue(client, chair, person)
    wrong = (person["birth_date"] + timedelta(days=1)).isoformat()
    answer = await check(
        client, {"number": issued["number"], "birth_date": wrong}, officer=SECOND_OFFICER
    )
    assert answer == {"verdict": "not_found", "certificate": None, "checked": "online",
                      "revocations_as_of": None}  # fmt: skip
    for _ in range(9):
        await check(
            client, {"number": issued["number"], "birth_date": wrong}, officer=SECOND_OFFICER
        )
    limited = await client.post(
        "/api/v1/verify",
        json=PLACE | {"number": issued["number"], "birth_date": person["birth_date"].isoformat()},
        headers=SECOND_OFFICER,
    )
    assert limited.status_code == 429 and limited.json()["code"] == "too_many_checks"
    assert int(limited.headers["retry-after"]) > 0
    # Another officer is not held back by the first one's misses.
    ok = await check(
        client, {"number": issued["number"], "birth_date": person["birth_date"].isoformat()}
    )
    assert ok["verdict"] == "valid"


async def test_the_officer_reads_nothing_medical_and_others_no_certificate_of_theirs(client):
    person = await driver(client)
    chair = await examined(client, person)
    issued = await issue(client, chair, person)
    for path in (
        f"/api/v1/patients/{person['id']}/certificates",
        f"/api/v1/patients/{person['id']}/record",
        f"/api/v1/certificates/{issued['number']}",
    ):
        answer = await client.get(path, headers=OFFICER)
        assert answer.status_code == 403, (path, answer.text)
    stranger = bearer.patient(person["id"] + 1)
    answer = await client.get(f"/api/v1/certificates/{issued['number']}", headers=stranger)
    assert answer.status_code == 404
    assert (await client.post("/api/v1/verify", json=PLACE | {"qr": issued["qr"]},
                              headers=bearer.patient(person["id"]))).status_code == 403  # fmt: skip
    bad = await client.post("/api/v1/verify", json={"qr": issued["qr"]}, headers=OFFICER)
    assert bad.status_code == 400  # the place is required
    for body in (
        {"qr": issued["qr"], "number": issued["number"], "birth_date": "1980-01-01"},
        {"number": issued["number"]},  # a number needs the birth date
        {},
    ):
        bad = await client.post("/api/v1/verify", json=PLACE | body, headers=OFFICER)
        assert bad.status_code == 400, (body, bad.text)
        assert bad.headers["content-type"].startswith("application/problem+json")


async def test_the_holder_downloads_a_printable_pdf(client):
    person = await driver(client)
    chair = await examined(client, person)
    issued = await issue(client, chair, person)
    me = bearer.patient(person["id"])
    answer = await client.get(f"/api/v1/certificates/{issued['number']}/pdf", headers=me)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF") and len(answer.content) > 2000


async def test_a_key_sealed_under_another_secret_is_a_clear_503_not_a_500(client):
    person = await driver(client)
    chair = await examined(client, person)
    issued = await issue(client, chair, person)  # the clinic has a key now
    pool = await asyncpg.create_pool(client.city, min_size=1, max_size=2)
    try:
        changed = CertificateKeys(pool, "another-deployment-secret-0123456789abcdef", "MOW")
        with pytest.raises(ProblemError) as refused:
            await changed.signing_key(issued["clinic_id"])
        assert refused.value.status == 503 and refused.value.code == "signing_key_unavailable"
    finally:
        await pool.close()
