"""Nothing is dispensed twice, over real connections: `imias serve` with two workers,
two pharmacies scanning the same QR codes at the same moment and asking for more than
is left between them. For each prescription exactly as many dispensings succeed as fit,
the rest are refused with more_than_left or nothing_left, and what the periods count is
what the dispensings hold."""

import asyncio

import bearer
import httpx
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from signin import adults, book_specialty, fetch

from prescriptions import Catalogue

pytestmark = pytest.mark.slow

PRESCRIPTIONS = 8
QUANTITY = 10
ASK = 3  # each request: 3 of 10, so exactly 3 fit
REQUESTS = 8  # per prescription, split between the two pharmacies


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_dispense_race_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("dispense") / "serve.log"
    with serve(city, redis_url, log, db_pool_size="20", secret_key=bearer.TEST_SECRET) as url:
        yield url


async def written(client: httpx.AsyncClient, city: str, offset: int) -> tuple[int, str]:
    """A prescription of QUANTITY tablets for a fresh adult: (id, the QR code's text)."""
    person = dict((await adults(city, 1, offset=offset))[0])
    appointment = await book_specialty(client, person, "ophthalmologist")
    doctor = bearer.doctor(appointment["doctor_id"], appointment["clinic_id"])
    visit = await client.post(
        "/api/v1/encounters", json={"appointment_id": appointment["id"]}, headers=doctor
    )
    assert visit.status_code == 201, visit.text
    product = Catalogue.bundled().drugs["C08CA01"].products[0].code
    rx = await client.post(
        f"/api/v1/encounters/{visit.json()['id']}/prescriptions",
        json={"product": product, "dose": 1, "per_day": 1, "days": 10, "quantity": QUANTITY},
        headers=doctor,
    )
    assert rx.status_code == 201, rx.text
    mine = await client.get(
        f"/api/v1/patients/{person['id']}/prescriptions", headers=bearer.patient(person["id"])
    )
    return rx.json()["id"], mine.json()[0]["code"]


async def test_two_pharmacies_at_the_same_moment_never_dispense_more_than_prescribed(server, city):
    pharmacies = [bearer.bearer("pharmacist", 7, org=1), bearer.bearer("pharmacist", 8, org=2)]
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=server, timeout=30, limits=limits) as client:
        made = [await written(client, city, offset=3 * i) for i in range(PRESCRIPTIONS)]
        start = asyncio.Event()

        async def dispense(rx: int, code: str, n: int) -> httpx.Response:
            await start.wait()
            return await client.post(
                f"/api/v1/pharmacy/prescriptions/{rx}/dispensings",
                json={"quantity": ASK, "period": 1, "code": code},
                headers=pharmacies[n % 2],
            )

        tasks = [
            asyncio.create_task(dispense(rx, code, n)) for rx, code in made for n in range(REQUESTS)
        ]
        await asyncio.sleep(0.2)
        start.set()
        answers = await asyncio.gather(*tasks)

    for i, (rx, _) in enumerate(made):
        mine = answers[i * REQUESTS : (i + 1) * REQUESTS]
        won = [a for a in mine if a.status_code == 201]
        lost = [a for a in mine if a.status_code != 201]
        assert len(won) == QUANTITY // ASK, [a.text for a in mine]
        assert {a.status_code for a in lost} == {409}
        assert {a.json()["code"] for a in lost} <= {"more_than_left", "nothing_left"}
        counted = await fetch(
            city,
            "SELECT p.dispensed, (SELECT coalesce(sum(quantity), 0) FROM dispensings d "
            " WHERE d.prescription_id = p.prescription_id) AS handed "
            "FROM prescription_periods p WHERE p.prescription_id = $1",
            rx,
        )
        assert counted[0]["dispensed"] == counted[0]["handed"] == ASK * len(won) <= QUANTITY
    # Both pharmacies won some: the race was a real one between them.
    winners = {a.request.headers["authorization"] for a in answers if a.status_code == 201}
    assert len(winners) == 2
