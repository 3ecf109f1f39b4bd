"""Certificates' pure parts: what a driver's certificate needs, what a conclusion may say,
how long a certificate lasts, and the signed QR: any change to it, a key the verifier
does not trust, a withdrawn key, a revocation and the day after the last each give their
own verdict, never "valid"."""

from __future__ import annotations

import zlib
from datetime import date, timedelta

import base45
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from ehr.certificates import Revocations, TrustList, check_offline, cose, rules
from ehr.certificates.trust import TrustedKey
from imias.platform.problems import ProblemError

DAY = date(2026, 12, 4)
CLINIC_KEY = ec.generate_private_key(ec.SECP256R1())
KID = cose.key_id(CLINIC_KEY.public_key())
CONTENT = {
    "v": 1,
    "n": "2026-12-7K3M9QXA",
    "k": "driver",
    "nm": "Сидоров Пётр Ильич",
    "dob": "1980-02-29",
    "cat": ["B"],
    "res": ["01.06"],
    "df": "2026-12-04",
    "du": "2036-12-03",
    "org": "Городская поликлиника № 12",
}


def trust(withdrawn: int | None = None) -> TrustList:
    key = TrustedKey(KID, 12, "ГП 12", CLINIC_KEY.public_key(), 0, withdrawn)
    return TrustList("MOW", 0, {KID: key})


def qr(content: dict = CONTENT, key: ec.EllipticCurvePrivateKey = CLINIC_KEY) -> str:
    return cose.encode_qr(
        key, cose.key_id(key.public_key()), iss="MOW", iat=1, exp=2, content=content
    )


def concluded(*pairs: tuple[str, str], restrictions: tuple[str, ...] = ()) -> list:
    return [rules.Concluded(e, v, restrictions if v == "restricted" else (), DAY) for e, v in pairs]


FIT_B = [(e, "fit") for e in rules.BASE_EXAMINERS]


def test_category_b_needs_four_examinations_and_c_or_d_six():
    assert rules.examiners_for(["B"]) == rules.BASE_EXAMINERS
    for professional in ("C", "D1E", "Tb"):
        assert rules.examiners_for(["B", professional])[-2:] == rules.PROFESSIONAL_EXAMINERS


def test_a_certificate_is_refused_without_a_conclusion_and_with_an_unfit_one():
    with pytest.raises(ProblemError) as missing:
        rules.driver_decision(["B", "C"], concluded(*FIT_B), DAY)
    assert missing.value.code == "conclusions_missing"
    assert missing.value.extra == {"missing": ["neurologist", "otolaryngologist"]}
    unfit = concluded(*FIT_B[:3], ("narcologist", "unfit"))
    with pytest.raises(ProblemError) as refused:
        rules.driver_decision(["B"], unfit, DAY)
    assert refused.value.code == "unfit"
    # A conclusion older than the window does not count.
    old = [
        rules.Concluded(e, "fit", (), DAY - timedelta(rules.CONCLUSION_DAYS + 1)) for e, _ in FIT_B
    ]
    with pytest.raises(ProblemError):
        rules.driver_decision(["B"], old, DAY)


def test_the_latest_conclusion_of_an_examiner_is_the_one_that_counts():
    first = rules.Concluded("narcologist", "unfit", (), DAY - timedelta(30))
    later = concluded(*FIT_B)
    cats, restrictions = rules.driver_decision(["B"], [first, *later], DAY)
    assert cats == ["B"] and restrictions == []
    with pytest.raises(ProblemError):
        rules.driver_decision(
            ["B"], [*later, rules.Concluded("narcologist", "unfit", (), DAY)], DAY
        )


def test_restrictions_are_the_union_of_the_needed_examiners():
    con = [
        rules.Concluded("ophthalmologist", "restricted", ("01.06",), DAY),
        rules.Concluded("therapist", "restricted", ("78",), DAY),
        rules.Concluded("psychiatrist", "fit", (), DAY),
        rules.Concluded("narcologist", "fit", (), DAY),
        rules.Concluded("otolaryngologist", "restricted", ("02",), DAY),  # not needed for B
    ]
    assert rules.driver_decision(["B", "M"], con, DAY) == (["M", "B"], ["01.06", "78"])


@pytest.mark.parametrize(
    ("specialty", "verdict", "restrictions", "code"),
    [
        ("dentist", "fit", [], "not_an_examiner"),
        (None, "fit", [], "not_an_examiner"),
        ("psychiatrist", "restricted", ["78"], "conclusion_yes_no"),
        ("narcologist", "fit", ["01.06"], "conclusion_yes_no"),
        ("ophthalmologist", "restricted", [], "restrictions_missing"),
        ("ophthalmologist", "fit", ["01.06"], "restrictions_not_allowed"),
        ("ophthalmologist", "restricted", ["78"], "restriction_not_yours"),
        ("therapist", "restricted", ["99"], "unknown_restriction"),
        ("therapist", "restricted", ["78", "78"], "restriction_twice"),
    ],
)
def test_a_conclusion_says_only_what_its_examiner_may(specialty, verdict, restrictions, code):
    with pytest.raises(ProblemError) as refused:
        rules.check_conclusion(specialty, verdict, restrictions)
    assert refused.value.code == code and refused.value.status == 422


def test_a_general_practitioner_concludes_as_the_therapist():
    assert rules.check_conclusion("general_practitioner", "restricted", ["78"]) == "therapist"


def test_validity_by_kind_and_the_month_end():
    assert rules.longest_validity("driver", ["B"], date(2026, 12, 4)) == date(2036, 12, 3)
    assert rules.longest_validity("driver", ["B", "C"], date(2026, 12, 4)) == date(2028, 12, 3)
    assert rules.longest_validity("driver", ["B"], date(2028, 2, 29)) == date(2038, 2, 27)
    assert rules.longest_validity("school", [], date(2026, 8, 31)) == date(2027, 2, 27)
    assert rules.longest_validity("pe_group", [], date(2026, 12, 4)) == date(2027, 8, 31)
    assert rules.longest_validity("pe_group", [], date(2027, 9, 1)) == date(2028, 8, 31)
    assert rules.valid_until("pool", [], DAY, DAY) == DAY
    with pytest.raises(ProblemError):
        rules.valid_until("pool", [], DAY, DAY - timedelta(1))
    with pytest.raises(ProblemError):
        rules.valid_until("pool", [], DAY, DAY + timedelta(days=120))


def test_a_genuine_certificate_is_valid_from_its_first_day_to_its_last():
    text = qr()
    assert len(text) < 600  # a QR a phone reads off a screen
    assert check_offline(text, trust(), None, DAY).verdict == "valid"
    assert check_offline(text, trust(), None, date(2036, 12, 3)).verdict == "valid"
    assert check_offline(text, trust(), None, date(2036, 12, 4)).verdict == "expired"
    assert check_offline(text, trust(), None, DAY - timedelta(1)).verdict == "not_yet_valid"
    shown = check_offline(text, trust(), None, DAY).certificate
    assert shown is not None and shown.holder == CONTENT["nm"] and shown.restrictions == ["01.06"]


def test_revoked_unknown_and_withdrawn_keys_each_have_their_verdict():
    text = qr()
    revoked = Revocations.of_numbers(1_700_000_000, [CONTENT["n"]])
    answer = check_offline(text, trust(), revoked, DAY)
    assert answer.verdict == "revoked" and answer.revocations_as_of is not None
    assert check_offline(text, trust(withdrawn=5), None, DAY).verdict == "key_withdrawn"
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert check_offline(qr(key=stranger), trust(), None, DAY).verdict == "unknown_key"
    # The stranger's key claiming the clinic's key id.
    claimed = cose.encode_qr(stranger, KID, iss="MOW", iat=1, exp=2, content=CONTENT)
    assert check_offline(claimed, trust(), None, DAY).verdict == "not_genuine"


def test_a_genuine_signature_over_a_foreign_shape_is_not_a_certificate():
    assert check_offline(qr({"v": 2, "k": "driver"}), trust(), None, DAY).verdict == "not_genuine"


TEXT = qr()  # one signature (ECDSA's differ from run to run)


@given(st.data())
def test_any_changed_character_is_never_valid(data):
    text = TEXT
    at = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    new = data.draw(st.sampled_from(alphabet).filter(lambda c: c != text[at]))
    changed = text[:at] + new + text[at + 1 :]
    assert check_offline(changed, trust(), None, DAY).verdict != "valid"


@given(st.binary(max_size=300))
def test_any_bytes_behind_the_prefix_are_not_genuine(junk):
    text = cose.PREFIX + base45.b45encode(zlib.compress(junk)).decode()
    assert check_offline(text, trust(), None, DAY).verdict == "not_genuine"


def test_bytes_after_the_compressed_payload_are_refused():
    raw = base45.b45decode(TEXT[len(cose.PREFIX) :])
    trailed = cose.PREFIX + base45.b45encode(raw + b"\0").decode()
    assert check_offline(trailed, trust(), None, DAY).verdict == "not_genuine"
    recompressed = cose.PREFIX + base45.b45encode(zlib.compress(zlib.decompress(raw), 1)).decode()
    assert check_offline(recompressed, trust(), None, DAY).verdict == "valid"


def test_a_zip_bomb_is_refused_before_it_inflates():
    bomb = cose.PREFIX + base45.b45encode(zlib.compress(b"\0" * 1_000_000)).decode()
    assert len(bomb) < cose._MAX_QR
    with pytest.raises(cose.Malformed):
        cose.open_qr(bomb)


def test_the_lists_are_the_anchors_and_their_keys_match_their_ids():
    anchor = ec.generate_private_key(ec.SECP256R1())
    kid = cose.key_id(anchor.public_key())
    document = cose.signed_document(anchor, kid, trust().body())
    again = TrustList.of_body(cose.open_document(document, anchor.public_key(), TrustList.shape))
    assert again.keys[KID].public.public_numbers() == CLINIC_KEY.public_key().public_numbers()
    with pytest.raises(ValueError):
        cose.open_document(document, CLINIC_KEY.public_key(), TrustList.shape)
    body = trust().body()
    body["keys"][0]["kid"] = b"\0" * 8  # a key listed under another key's id
    with pytest.raises(ValueError):
        TrustList.of_body(body)
