"""Medical certificates' pages as a browser without JavaScript uses them: each examiner's
conclusion form offers only what she may set (a psychiatrist cannot post a
restriction); the chair sees the checklist, is refused in words while a conclusion is
missing, issues, and revokes only with a reason; the patient sees the QR code (read
back from the page's SVG by a QR reader into the certificate's signed text), downloads
the PDF, sees the checklist with where to book (a referral first where one is needed)
and the police's checks in "who saw my data"; a guardian sees a child's; a stranger's
is missing."""

from __future__ import annotations

import io
import re

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import CapturingSms, adults, app_client, fetch, guardian_and_child, key
from staffpages import sign_in
from test_certificates_api import book, conclude
from test_record_pages import portal_sign_in, text_of

from ehr.certificates import rules

OFFICER = bearer.bearer("police_officer", 901)
PLACE = "МКАД, 41 км"


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_certificate_pages_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=300, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def sms():
    return CapturingSms()


@pytest.fixture
async def client(city, redis_url, redis_client, sms):
    await redis_client.flushdb()
    async with app_client(city, redis_url, sms=sms) as c:
        c.city = city
        yield c


def words(page: str) -> str:
    """A page's text as read: no tags, one space between words."""
    return text_of(re.sub(r"<[^>]+>", "", page))


async def person_at(client, offset: int) -> dict:
    return dict((await adults(client.city, 1, offset=offset))[0])


async def refer(client, person: dict, specialty: str) -> None:
    """An active referral to ``specialty`` (when it needs one), as a therapist gives it."""
    await fetch(
        client.city,
        "INSERT INTO referrals (clinic_id, patient_id, specialty_id, issued_by, valid_until)"
        " SELECT d.clinic_id, $1, s.id, d.id, current_date + 30"
        "   FROM doctors d, specialties s WHERE s.code = $2 AND NOT s.self_referral"
        "  ORDER BY d.id LIMIT 1",
        person["id"],
        specialty,
    )


async def appointment_with(client, person: dict, specialty: str) -> dict:
    """``person`` booked with a doctor of ``specialty``: primary care at the patient's own
    clinic (its therapist, else its general practitioner), a specialist anywhere (with a
    referral first when the specialty needs one)."""
    if specialty in rules.CHAIRS["driver"]:
        for code in ("therapist", "general_practitioner"):
            params = {"specialty": code, "clinic": person["attached_clinic_id"], "limit": 20}
            for slot in (await client.get("/api/v1/slots", params=params)).json():
                answer = await client.post(
                    "/api/v1/appointments",
                    json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
                    headers=bearer.patient(person["id"]) | key(),
                )
                if answer.status_code == 201:
                    return dict(answer.json())
        raise AssertionError("no primary-care time at the patient's own clinic")
    await refer(client, person, specialty)
    return await book(client, person, specialty)


async def open_page(client, appointment: dict) -> tuple[str, int, str]:
    """The doctor of ``appointment`` signed in, her visit page opened: (page, encounter,
    the page's CSRF value)."""
    answer, csrf = await sign_in(client, "/doctor", f"doctor.{appointment['doctor_id']}")
    assert answer.status_code == 303, answer.text
    opened = await client.get(f"/doctor/visits/{appointment['id']}")
    assert opened.status_code == 200, opened.text
    encounter = int(re.search(r'action="/doctor/visits/(\d+)/sign"', opened.text).group(1))
    return opened.text, encounter, csrf


async def narcologist(client, person: dict, verdict: str = "fit") -> None:
    """The narcologist's conclusion: through her visit when the city has a narcologist;
    until the seed has one (it is being added), the row the service writes, beside one of
    the patient's visits (as recorded by that visit's doctor)."""
    if "narcologist" in client.app_state.engine.directory.by_code:
        await conclude(client, person, "narcologist", verdict)
        return
    written = await fetch(
        client.city,
        "INSERT INTO exam_conclusions (patient_id, encounter_id, clinic_id, doctor_id,"
        "                              author_id, examiner, verdict, recorded_at)"
        " SELECT patient_id, id, clinic_id, doctor_id, 1, 'narcologist', $2, now()"
        "   FROM encounters WHERE patient_id = $1 ORDER BY id LIMIT 1 RETURNING id",
        person["id"],
        verdict,
    )
    assert len(written) == 1


async def chair_of(client, person: dict) -> dict[str, str]:
    """The headers of the patient's own clinic's therapist (she may read the record)."""
    (doctor,) = await fetch(
        client.city,
        "SELECT d.id, d.clinic_id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
        " WHERE d.clinic_id = $1 AND s.code IN ('therapist', 'general_practitioner')"
        " ORDER BY d.id LIMIT 1",
        person["attached_clinic_id"],
    )
    return bearer.doctor(doctor["id"], doctor["clinic_id"])


async def issued_driver(client, person: dict) -> dict:
    """The four examinations of category B (the ophthalmologist: glasses or lenses; the
    therapist through her visit), and the certificate the patient's clinic issues."""
    therapist = await appointment_with(client, person, "therapist")
    doctor = bearer.doctor(therapist["doctor_id"], therapist["clinic_id"])
    opened = await client.post(
        "/api/v1/encounters", json={"appointment_id": therapist["id"]}, headers=doctor
    )
    assert opened.status_code == 201, opened.text
    done = await client.post(
        f"/api/v1/encounters/{opened.json()['id']}/conclusions",
        json={"verdict": "fit"},
        headers=doctor,
    )
    assert done.status_code == 201, done.text
    await conclude(client, person, "ophthalmologist", "restricted", ["01.06"])
    await conclude(client, person, "psychiatrist")
    await narcologist(client, person)
    issued = await client.post(
        "/api/v1/certificates",
        json={"patient_id": person["id"], "categories": ["B"]},
        headers=doctor,
    )
    assert issued.status_code == 201, issued.text
    return dict(issued.json())


def svg_modules(svg: str) -> tuple[int, list[tuple[int, int, int]]]:
    """A segno SVG's size and its dark runs (row, first column, length), from its path."""
    width = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    path = re.search(r'<path[^>]* d="([^"]+)"', svg).group(1)
    x = y = 0.0
    runs = []
    for op, args in re.findall(r"([Mmh])([^Mmh]+)", path):
        numbers = [float(n) for n in args.replace(",", " ").split()]
        if op == "M":
            x, y = numbers
        elif op == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            runs.append((int(y), int(x), int(numbers[0])))
            x += numbers[0]
    return width, runs


def read_qr(svg: str) -> list[str]:
    """What a QR reader makes of the SVG as drawn (rasterised, 6 pixels a module)."""
    import zxingcpp
    from PIL import Image, ImageDraw

    width, runs = svg_modules(svg)
    scale = 6
    image = Image.new("L", (width * scale, width * scale), 255)
    draw = ImageDraw.Draw(image)
    for row, first, length in runs:
        draw.rectangle(
            [first * scale, row * scale, (first + length) * scale - 1, (row + 1) * scale - 1],
            fill=0,
        )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return [b.text for b in zxingcpp.read_barcodes(Image.open(buffer))]


CONCLUSION_FIELDS = {
    "therapist": (True, {"02", "03", "78"}),
    "ophthalmologist": (True, {"01.01", "01.02", "01.06", "05.01"}),
    "psychiatrist": (False, set()),
    "neurologist": (True, {"03", "78"}),
    "otolaryngologist": (True, {"02"}),
}


async def test_each_examiner_is_offered_only_what_she_may_conclude(client):
    person = await person_at(client, 10)
    fields = dict(CONCLUSION_FIELDS)
    if "narcologist" in client.app_state.engine.directory.by_code:  # once the seed has one
        fields["narcologist"] = (False, set())
    for specialty, (restricted, codes) in fields.items():
        appointment = await appointment_with(client, person, specialty)
        page, encounter, csrf = await open_page(client, appointment)
        assert 'id="conclusion-form"' in page, specialty
        verdicts = set(re.findall(r'name="verdict" value="(\w+)"', page))
        assert verdicts == ({"fit", "restricted", "unfit"} if restricted else {"fit", "unfit"})
        assert set(re.findall(r'name="restriction-([\d.]+)"', page)) == codes, specialty
        chair = specialty in rules.CHAIRS["driver"]
        assert ('id="driver-form"' in page) == chair, specialty
        assert ("Заключения этого осмотра на учёте нет." in text_of(page)) is True
        if specialty in rules.YES_NO:
            assert "Диагноз в медицинское заключение водителя не попадает никогда" in text_of(page)
            post = f"/doctor/visits/{encounter}/conclusions"
            for form in (
                {"verdict": "fit", "restriction-78": "1"},
                {"verdict": "restricted", "restriction-78": "1"},
                {"verdict": "restricted"},
            ):
                refused = await client.post(post, data={"csrf": csrf, **form})
                assert refused.status_code == 422, refused.text
                assert "Психиатр и психиатр-нарколог дают заключение «годен» или «не годен»" in (
                    text_of(refused.text)
                )
            unchosen = await client.post(post, data={"csrf": csrf})
            assert unchosen.status_code == 422
            assert "Выберите заключение" in text_of(unchosen.text)
            rows = await fetch(
                client.city,
                "SELECT count(*) AS n FROM exam_conclusions WHERE patient_id = $1 "
                "AND examiner = $2",
                person["id"],
                specialty,
            )
            assert rows[0]["n"] == 0
        if specialty == "ophthalmologist":
            post = f"/doctor/visits/{encounter}/conclusions"
            empty = await client.post(post, data={"csrf": csrf, "verdict": "restricted"})
            assert empty.status_code == 422
            assert "отметьте ограничения" in text_of(empty.text)
            assert 'value="restricted" required checked' in empty.text  # the choice kept
            english = await client.post(
                post + "?lang=en",
                data={"csrf": csrf, "verdict": "restricted", "restriction-78": "1"},
            )
            assert english.status_code == 422
            assert "This restriction is set by another specialist." in text_of(english.text)
            await client.get("/lang/ru")  # ?lang= is remembered: back to Russian
            done = await client.post(
                post,
                data={"csrf": csrf, "verdict": "restricted", "restriction-01.06": "1"},
                follow_redirects=False,
            )
            assert done.status_code == 303, done.text
            after = words((await client.get(done.headers["location"])).text)
            assert "Заключение записано." in after
            assert (
                "Заключение на учёте: годен с ограничениями (01.06 «Очки или контактные линзы»)"
                in (after)
            )
    # a dentist concludes nothing here, and issues nothing
    appointment = await appointment_with(client, person, "dentist")
    page, _, _ = await open_page(client, appointment)
    assert 'id="conclusion-form"' not in page and 'id="certificates"' not in page


async def test_the_chair_is_told_what_is_missing_issues_and_revokes_with_a_reason(client):
    person = await person_at(client, 20)
    appointment = await appointment_with(client, person, "therapist")
    page, encounter, csrf = await open_page(client, appointment)
    assert 'id="driver-form"' in page and 'id="school-form"' in page
    assert 'id="category-B" name="category-B" value="1" checked' in page  # B by default
    checklist = re.search(r'<ul class="checklist".*?</ul>', page, re.S).group(0)
    assert checklist.count("нет заключения") == 4

    # the therapist's own conclusion, in her visit
    concluded = await client.post(
        f"/doctor/visits/{encounter}/conclusions",
        data={"csrf": csrf, "verdict": "fit"},
        follow_redirects=False,
    )
    assert concluded.status_code == 303, concluded.text
    post = f"/doctor/visits/{encounter}/certificates"
    refused = await client.post(
        post, data={"csrf": csrf, "kind": "driver", "category-B": "1", "action": "issue"}
    )
    assert refused.status_code == 422
    said = text_of(refused.text)
    assert (
        "Справку выдать нельзя: нет заключений: офтальмолог, психиатр, психиатр-нарколог." in said
    )
    english = await client.post(
        post + "?lang=en",
        data={"csrf": csrf, "kind": "driver", "category-B": "1", "action": "issue"},
    )
    assert "no conclusions of: ophthalmologist, psychiatrist, psychiatrist-narcologist" in (
        text_of(english.text)
    )
    await client.get("/lang/ru")
    none = await client.post(post, data={"csrf": csrf, "kind": "driver", "action": "issue"})
    assert none.status_code == 422 and "Отметьте хотя бы одну категорию." in text_of(none.text)

    await conclude(client, person, "ophthalmologist", "restricted", ["01.06"])
    await conclude(client, person, "psychiatrist")
    await narcologist(client, person)
    # the checklist for B and C: the professional examinations still missing
    checked = await client.post(
        post,
        data={
            "csrf": csrf,
            "kind": "driver",
            "category-B": "1",
            "category-C": "1",
            "action": "check",
        },
    )
    assert checked.status_code == 200
    page = text_of(checked.text)
    assert "Осмотры для категорий B, C" in page
    assert re.search(r'id="check-neurologist" class="missing"', checked.text)
    assert re.search(r'id="check-ophthalmologist" class="restricted"', checked.text)
    assert 'id="category-C" name="category-C" value="1" checked' in checked.text
    missing = await client.post(
        post,
        data={
            "csrf": csrf,
            "kind": "driver",
            "category-B": "1",
            "category-C": "1",
            "action": "issue",
        },
    )
    assert missing.status_code == 422
    assert "нет заключений: невролог, оториноларинголог." in text_of(missing.text)

    issued = await client.post(
        post,
        data={"csrf": csrf, "kind": "driver", "category-B": "1", "action": "issue"},
        follow_redirects=False,
    )
    assert issued.status_code == 303, issued.text
    (row,) = await fetch(
        client.city,
        "SELECT number, categories, restrictions FROM certificates WHERE patient_id = $1",
        person["id"],
    )
    number = row["number"]
    assert (row["categories"], row["restrictions"]) == (["B"], ["01.06"])
    page = await client.get(issued.headers["location"])
    said = words(page.text)
    assert "Справка выдана." in said
    assert f"№ {number} — Медицинское заключение водителя (003-В/у), категории B" in said
    assert "01.06 «Очки или контактные линзы»" in said and "действительна" in said
    assert f'href="/doctor/certificates/{number}/pdf"' in page.text
    printed = await client.get(f"/doctor/certificates/{number}/pdf")
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF")

    # the school's certificates: the PE group needs its group
    school = await client.post(post, data={"csrf": csrf, "kind": "pe_group"})
    assert school.status_code == 422
    assert "Выберите группу для занятий физкультурой." in text_of(school.text)
    done = await client.post(
        post,
        data={"csrf": csrf, "kind": "pe_group", "pe_group": "special_a"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert "группа: Специальная «А»" in words((await client.get(done.headers["location"])).text)

    # revoked only with a reason, which the list then shows
    revoke = f"/doctor/visits/{encounter}/certificates/{number}/revoke"
    short = await client.post(revoke, data={"csrf": csrf, "reason": "нет"})
    assert short.status_code == 422
    assert "Укажите причину отзыва (от 5 до 500 знаков)." in text_of(short.text)
    assert 'value="нет"' in short.text  # what was typed, kept
    revoked = await client.post(
        revoke, data={"csrf": csrf, "reason": "Выдана по ошибке"}, follow_redirects=False
    )
    assert revoked.status_code == 303, revoked.text
    page = await client.get(revoked.headers["location"])
    said = words(page.text)
    assert "Справка отозвана." in said and "Причина отзыва: Выдана по ошибке" in said
    assert revoke not in page.text  # no revocation form for a revoked one
    again = await client.post(revoke, data={"csrf": csrf, "reason": "Выдана по ошибке"})
    assert again.status_code == 409 and "Эта справка уже отозвана." in text_of(again.text)
    assert (await client.post(revoke, data={"reason": "Выдана по ошибке"})).status_code == 403


async def test_an_unfit_conclusion_revokes_and_the_page_says_so(client):
    person = await person_at(client, 30)
    # the psychiatrist concludes fit in her visit; the certificate is issued
    appointment = await appointment_with(client, person, "psychiatrist")
    _, encounter, csrf = await open_page(client, appointment)
    post = f"/doctor/visits/{encounter}/conclusions"
    fit = await client.post(post, data={"csrf": csrf, "verdict": "fit"}, follow_redirects=False)
    assert fit.status_code == 303, fit.text
    therapist = await appointment_with(client, person, "therapist")
    doctor = bearer.doctor(therapist["doctor_id"], therapist["clinic_id"])
    opened = await client.post(
        "/api/v1/encounters", json={"appointment_id": therapist["id"]}, headers=doctor
    )
    concluded = await client.post(
        f"/api/v1/encounters/{opened.json()['id']}/conclusions",
        json={"verdict": "fit"},
        headers=doctor,
    )
    assert concluded.status_code == 201, concluded.text
    await conclude(client, person, "ophthalmologist")
    await narcologist(client, person)
    issued = await client.post(
        "/api/v1/certificates",
        json={"patient_id": person["id"], "categories": ["B"]},
        headers=doctor,
    )
    assert issued.status_code == 201, issued.text
    # then, in the same visit, unfit: the certificate is revoked, and the page says so
    done = await client.post(post, data={"csrf": csrf, "verdict": "unfit"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    page = words((await client.get(done.headers["location"])).text)
    assert "Заключение записано." in page
    assert f"отозваны медицинские заключения водителя: {issued.json()['number']}." in page
    assert "Заключение на учёте: не годен" in page


async def test_the_patient_sees_the_qr_downloads_the_pdf_and_the_checklist(client, sms):
    person = await person_at(client, 40)
    issued = await issued_driver(client, person)
    number = issued["number"]
    await portal_sign_in(client, sms, person)
    mine = await client.get("/certificates")
    assert mine.status_code == 200, mine.text
    assert '<a href="/certificates">' in mine.text  # in the portal's navigation
    said = words(mine.text)
    assert f"Справка № {number}" in said and "Действительна" in said
    assert "01.06 — Очки или контактные линзы" in said
    assert "<dt>Категории</dt><dd>B</dd>" in mine.text
    svg = re.search(rf'id="qr-{number}">(<svg.*?</svg>)', mine.text, re.S).group(1)
    assert 'role="img"' in svg and "viewBox" in svg
    api = await client.get(
        f"/api/v1/patients/{person['id']}/certificates", headers=bearer.patient(person["id"])
    )
    (shown,) = api.json()
    assert read_qr(svg) == [shown["qr"]]

    printed = await client.get(f"/certificates/{number}/pdf")
    assert printed.status_code == 200, printed.text
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.content.startswith(b"%PDF") and len(printed.content) > 2000
    assert f"certificate-{number}.pdf" in printed.headers["content-disposition"]

    # the checklist of C: the neurologist needs a referral, the otolaryngologist is booked
    professional = await client.get("/certificates", params={"categories": ["B", "C"]})
    page = professional.text
    neurologist = re.search(r'<li id="check-neurologist".*?</li>', page, re.S).group(0)
    assert "Нужно направление: его даёт терапевт" in text_of(neurologist)
    assert re.search(r'href="/book\?specialty=(therapist|general_practitioner)"', neurologist)
    ent = re.search(r'<li id="check-otolaryngologist".*?</li>', page, re.S).group(0)
    assert 'href="/book?specialty=otolaryngologist"' in ent
    done = re.search(r'<li id="check-ophthalmologist".*?</li>', page, re.S).group(0)
    assert "годен с ограничениями (Очки или контактные линзы), заключение от" in words(done)
    await refer(client, person, "neurologist")
    referred = await client.get("/certificates", params={"categories": ["C"]})
    neurologist = re.search(r'<li id="check-neurologist".*?</li>', referred.text, re.S).group(0)
    assert 'href="/book?specialty=neurologist"' in neurologist
    assert "по направлению" in text_of(neurologist)
    assert 'id="category-B" name="categories" value="B" checked' not in referred.text
    nothing = await client.get("/certificates?categories=")
    assert "Отметьте хотя бы одну категорию." in text_of(nothing.text)

    # a stranger's certificates and their PDF are missing here
    stranger = await person_at(client, 41)
    other = await client.get("/certificates", params={"patient_id": stranger["id"]})
    assert other.status_code == 404
    assert (await client.get("/certificates/2025-1-AAAAAAAA/pdf")).status_code == 404
    assert (await client.get("/certificates/not-a-number/pdf")).status_code == 404


async def test_a_stranger_cannot_download_anothers_pdf(client, sms):
    person = await person_at(client, 50)
    issued = await issued_driver(client, person)
    stranger = await person_at(client, 51)
    await portal_sign_in(client, sms, stranger)
    assert (await client.get(f"/certificates/{issued['number']}/pdf")).status_code == 404
    page = await client.get("/certificates")
    assert issued["number"] not in page.text and "Справок пока нет." in text_of(page.text)


async def test_the_access_log_shows_the_police_check_with_its_place(client, sms):
    person = await person_at(client, 60)
    issued = await issued_driver(client, person)
    checked = await client.post(
        "/api/v1/verify", json={"place": PLACE, "qr": issued["qr"]}, headers=OFFICER
    )
    assert checked.status_code == 200 and checked.json()["verdict"] == "valid", checked.text
    await portal_sign_in(client, sms, person)
    log = text_of((await client.get("/access-log")).text)
    assert f"Проверка сотрудником полиции — {PLACE} (действительна)" in log
    assert "сотрудник полиции" in log
    assert "выдача: медицинская справка" in log
    assert "заключение: заключение для медицинского заключения водителя" in log
    english = text_of((await client.get("/access-log", params={"lang": "en"})).text)
    assert f"Check by a police officer — {PLACE} (valid)" in english
    assert "issue: medical certificate" in english


async def test_a_guardian_sees_a_childs_certificate(client, sms):
    guardian, child = await guardian_and_child(client.city)
    (doctor,) = await fetch(
        client.city,
        "SELECT d.id, d.clinic_id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
        " WHERE d.clinic_id = $1"
        "   AND s.code IN ('paediatrician', 'therapist', 'general_practitioner')"
        " ORDER BY d.id LIMIT 1",
        child["attached_clinic_id"],
    )
    issued = await client.post(
        "/api/v1/certificates",
        json={"patient_id": child["id"], "kind": "pool"},
        headers=bearer.doctor(doctor["id"], doctor["clinic_id"]),
    )
    assert issued.status_code == 201, issued.text
    number = issued.json()["number"]
    await portal_sign_in(client, sms, guardian)
    page = await client.get("/certificates", params={"patient_id": child["id"]})
    assert page.status_code == 200
    assert f'id="qr-{number}"' in page.text and "Справка для бассейна" in text_of(page.text)
    assert f'href="/book?specialty=ophthalmologist&amp;patient_id={child["id"]}"' in page.text
    own = await client.get("/certificates")
    assert number not in own.text
    printed = await client.get(f"/certificates/{number}/pdf")
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF")
    # the holder's birth date is the child's, as signed
    assert issued.json()["birth_date"] == child["birth_date"].isoformat()
