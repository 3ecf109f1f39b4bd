"""The prescriptions' pages as a browser without JavaScript uses them: the doctor finds a
drug, a contraindicated one comes back with the allergy as an alert and asks for the
override's reason, she signs and cancels; the patient sees the QR code on the portal;
the pharmacist finds it by number and birth date, dispenses part, is refused more than
is left, and a cancelled one is refused in Russian."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import Clock
from signin import CapturingSms, adults, app_client, book_specialty, fetch
from staffpages import hidden, sign_in
from test_record_pages import portal_sign_in, text_of

from prescriptions import REFUSALS


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_rx_pages_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
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


AMOXICILLIN = {"rx-product": "J01CA04-CAP-500", "rx-dose": "1", "rx-per-day": "3", "rx-days": "7"}
AMLODIPINE = {"rx-product": "C08CA01-TAB-5", "rx-dose": "1", "rx-per-day": "1", "rx-days": "30"}


async def test_prescribed_on_the_page_seen_by_the_patient_and_dispensed(client, sms):
    person = dict((await adults(client.city, 1, offset=50))[0])
    appointment = await book_specialty(client, person, "ophthalmologist")
    client.app_state.booking.clock = Clock(
        datetime.fromisoformat(appointment["starts_at"]) - timedelta(minutes=5)
    )
    answer, csrf = await sign_in(client, "/doctor", f"doctor.{appointment['doctor_id']}")
    assert answer.status_code == 303
    opened = await client.get(f"/doctor/visits/{appointment['id']}")
    assert opened.status_code == 200, opened.text
    encounter = int(re.search(r'action="/doctor/visits/(\d+)/prescriptions"', opened.text).group(1))
    doctor = bearer.doctor(appointment["doctor_id"], appointment["clinic_id"])
    allergy = await client.post(
        f"/api/v1/patients/{person['id']}/allergies",
        json={"substance": "J01C", "criticality": "high"},
        headers=doctor,
    )
    assert allergy.status_code == 201, allergy.text
    post = f"/doctor/visits/{encounter}/prescriptions"

    # without the script: "Найти" lists the products of the drug typed
    found = await client.post(post, data={"csrf": csrf, "action": "find", "rx-drug": "амокс"})
    assert found.status_code == 200 and 'value="J01CA04-CAP-500"' in found.text

    # contraindicated: the allergy as an alert, the override's reason asked, nothing written
    refused = await client.post(post, data={"csrf": csrf, "action": "sign", **AMOXICILLIN})
    assert refused.status_code == 409
    assert re.search(r'role="alert">.*Аллергия пациента', refused.text)
    assert '<div id="rx-override-box">' in refused.text
    assert 'value="J01CA04-CAP-500" data-unit' in refused.text  # the choice kept
    count = "SELECT count(*) AS n FROM prescriptions WHERE patient_id = $1"
    assert (await fetch(client.city, count, person["id"]))[0]["n"] == 0

    # the script's checks: its CSRF header, JSON back
    body = {"product": "J01CA04-CAP-500", "dose": 1, "per_day": 3, "days": 7}
    check = f"/doctor/visits/{encounter}/prescription-checks"
    assert (await client.post(check, json=body)).status_code == 403
    checked = await client.post(check, json=body, headers={"X-CSRF-Token": csrf})
    assert checked.status_code == 200 and checked.json()["blocked"] is True
    assert checked.json()["quantity"] == 21

    reason = "Проба на пенициллин отрицательная"
    signed = await client.post(
        post,
        data={"csrf": csrf, "action": "sign", **AMOXICILLIN, "rx-override": reason},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    clean = await client.post(post, data={"csrf": csrf, "action": "check", **AMLODIPINE})
    assert clean.status_code == 200 and "Проверки не нашли препятствий." in text_of(clean.text)
    assert "Будет выписано за период: 30" in text_of(clean.text)
    signed = await client.post(
        post, data={"csrf": csrf, "action": "sign", **AMLODIPINE}, follow_redirects=False
    )
    assert signed.status_code == 303
    rows = await fetch(
        client.city,
        "SELECT id, atc FROM prescriptions WHERE patient_id = $1 ORDER BY id",
        person["id"],
    )
    amox, amlo = (r["id"] for r in rows)

    # cancel: a reason is required
    cancel = f"/doctor/visits/{encounter}/prescriptions/{amox}/cancel"
    short = await client.post(cancel, data={"csrf": csrf, "reason": "нет"})
    assert short.status_code == 422 and "Укажите причину аннулирования" in text_of(short.text)
    done = await client.post(
        cancel, data={"csrf": csrf, "reason": "Назначен другой препарат"}, follow_redirects=False
    )
    assert done.status_code == 303
    page = text_of((await client.get(f"/doctor/visits/{appointment['id']}")).text)
    assert "Рецепт аннулирован." not in page  # the notice only after the redirect's ?done
    assert "Назначен другой препарат" in page

    # the patient: the active one with its QR code, the cancelled one without
    await portal_sign_in(client, sms, person)
    mine = await client.get("/prescriptions")
    assert mine.status_code == 200
    assert f'id="qr-{amlo}"><svg role="img"' in mine.text
    assert f'id="qr-{amox}"' not in mine.text
    assert "Аннулированные" in mine.text

    # the pharmacist: by number and birth date; 20, then more than is left is refused
    answer, csrf = await sign_in(client, "/pharmacy", "pharmacist.1")
    assert answer.status_code == 303 and answer.headers["location"] == "/pharmacy/counter"
    proof = {"number": str(amlo), "birth_date": person["birth_date"].isoformat()}
    view = await client.post("/pharmacy/counter/scan", data={"csrf": csrf, **proof})
    assert view.status_code == 200 and f'id="left-{amlo}">30<' in view.text
    assert "Подпись врача подтверждена" in view.text
    dispense = f"/pharmacy/counter/prescriptions/{amlo}/dispense"
    # another strength of the same INN is another dose, not a generic: refused
    stronger = {"csrf": csrf, **proof, "period": "1", "product": "C08CA01-TAB-10"}
    refused = await client.post(dispense, data={**stronger, "quantity": "20"})
    assert refused.status_code == 422
    assert REFUSALS["not_equivalent"][1] in text_of(refused.text)
    form = {"csrf": csrf, **proof, "period": "1", "product": "C08CA01-TAB-5"}
    same_inn = await client.post(dispense, data={**form, "quantity": "20"})
    assert same_inn.status_code == 200 and "Отпущено: 20." in text_of(same_inn.text)
    assert f'id="left-{amlo}">10<' in same_inn.text
    key = hidden(same_inn.text, "request_id")
    more = await client.post(dispense, data={**form, "quantity": "11", "request_id": key})
    assert more.status_code == 409 and REFUSALS["more_than_left"][1] in text_of(more.text)
    wrong_date = {"number": str(amlo), "birth_date": "1900-01-01"}
    nobody = await client.post("/pharmacy/counter/scan", data={"csrf": csrf, **wrong_date})
    assert nobody.status_code == 404 and REFUSALS["not_found"][1] in text_of(nobody.text)
    proof = {"number": str(amox), "birth_date": person["birth_date"].isoformat()}
    cancelled = await client.post("/pharmacy/counter/scan", data={"csrf": csrf, **proof})
    assert REFUSALS["cancelled"][1] in text_of(cancelled.text)
    assert f"/pharmacy/counter/prescriptions/{amox}/dispense" not in cancelled.text

    # another role's password opens nothing here
    other, _ = await sign_in(client, "/pharmacy", f"doctor.{appointment['doctor_id']}")
    assert other.status_code == 403
