"""The dashboard's figures move when the city does: a booking (the workers' counters,
flushed), a refusal, a no-show and a check-in with its visit (the job's refresh of the
day) each change the figure they should, and nothing else's; the JSON routes answer bad
input as problems; a clinic administrator sees her clinic only; ``/metrics`` parses and
its counts move."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import bearer
import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from imias.app import create_app
from imias.platform.embedded import EmbeddedRedis
from imias.platform.settings import load_settings
from insights import refresh
from insights.jobs import refresh_ahead, refresh_recent, sample, write_outcomes

ZONE = ZoneInfo("Europe/Moscow")
ADMIN = bearer.administrator()
METRICS_TOKEN = "metrics-token-0123456789abcdef"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_insights_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=12, doctors=200, patients=1500)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def own_redis(tmp_path):
    server = EmbeddedRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client(city, own_redis):
    app = create_app(
        load_settings(
            {},
            database_url=city,
            redis_url=own_redis.url,
            secret_key=TEST_SECRET,
            metrics_token=METRICS_TOKEN,
        )
    )
    async with AsyncTestClient(app) as test_client:
        await app.state.engine.wait_loaded()
        test_client.app_state = app.state
        test_client.city = city
        yield test_client


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def run(url: str, work):
    conn = await asyncpg.connect(url)
    try:
        return await work(conn)
    finally:
        await conn.close()


async def patients(url: str, n: int) -> list[int]:
    rows = await run(
        url,
        lambda c: c.fetch(
            "SELECT id FROM patients WHERE birth_date < now() - interval '20 years' "
            "AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = patients.id) "
            "ORDER BY random() LIMIT $1",
            n,
        ),
    )
    return [r["id"] for r in rows]


async def book(client, patient: int, index: int = 0, specialty: str = "ophthalmologist") -> dict:
    slots = await client.get("/api/v1/slots", params={"specialty": specialty, "limit": index + 1})
    slot = slots.json()[index]
    answer = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
        headers=key() | bearer.patient(patient),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def local_day(instant: str) -> date:
    return datetime.fromisoformat(instant).astimezone(ZONE).date()


async def flush(client) -> None:
    # What the worker's flusher does every few seconds, on a connection of the test's own
    # (the app's pool lives in the app's loop).
    outcomes = client.app_state.booking.outcomes
    await run(client.city, lambda conn: write_outcomes(conn, outcomes))


async def figures(client, path: str = "", headers=ADMIN, **params) -> dict | list:
    answer = await client.get(f"/api/v1/insights{path}", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_booking_counts_as_made_today_and_by_its_channel(client):
    (patient,) = await patients(client.city, 1)
    before = await figures(client, "/served", specialty="ophthalmologist")
    channels_before = {c["channel"]: c["made"] for c in await figures(client, "/channels")}
    booked = await book(client, patient)
    await flush(client)
    after = await figures(client, "/served", specialty="ophthalmologist")
    made = sum(d["made"] for d in after) - sum(d["made"] for d in before)
    assert made == 1
    soon = sum(d["same_or_next"] for d in after) - sum(d["same_or_next"] for d in before)
    ahead = (local_day(booked["starts_at"]) - datetime.now(ZONE).date()).days
    assert soon == (1 if ahead <= 1 else 0)
    channels = {c["channel"]: c["made"] for c in await figures(client, "/channels")}
    channel = booked["channel"]
    assert channels.get(channel, 0) == channels_before.get(channel, 0) + 1
    assert sum(channels.values()) == sum(channels_before.values()) + 1
    # another specialty's figure did not move
    other = await figures(client, "/served", specialty="therapist")
    assert sum(d["made"] for d in other) == 0


async def test_a_refusal_is_counted_by_its_code(client):
    (patient,) = await patients(client.city, 1)
    booked = await book(client, patient)
    before = {r["code"]: r["refused"] for r in await figures(client, "/refusals")}
    again = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": booked["doctor_id"], "starts_at": booked["starts_at"]},
        headers=key() | bearer.patient(patient),
    )
    assert again.status_code in (409, 403), again.text
    code = again.json()["code"]
    await flush(client)
    after = {r["code"]: r["refused"] for r in await figures(client, "/refusals")}
    assert after[code] == before.get(code, 0) + 1
    assert sum(after.values()) == sum(before.values()) + 1


async def test_a_no_show_moves_the_days_no_shows_after_the_job(client):
    from serving import Clock

    (patient,) = await patients(client.city, 1)
    booked = await book(client, patient, 3)
    day = local_day(booked["starts_at"])
    clinic = booked["clinic_id"]

    async def refreshed(conn):
        async with conn.transaction():
            await refresh.refresh_visits(conn, day, day, ZONE)

    await run(client.city, refreshed)
    params = {"from": day.isoformat(), "to": day.isoformat(), "clinic": clinic}
    before = (await figures(client, "/load/days", **params))[0]
    assert before["appointments"] >= 1 and before["offered_minutes"] > 0
    client.app_state.booking.clock = Clock(
        datetime.fromisoformat(booked["starts_at"]) + timedelta(minutes=1)
    )
    doctor = bearer.doctor(booked["doctor_id"], clinic)
    path = f"/api/v1/appointments/{booked['id']}/no-show"
    assert (await client.post(path, headers=doctor)).status_code == 204
    unchanged = (await figures(client, "/load/days", **params))[0]
    assert unchanged["no_shows"] == before["no_shows"]  # not before the job runs
    await run(client.city, refreshed)
    after = (await figures(client, "/load/days", **params))[0]
    assert after["no_shows"] == before["no_shows"] + 1
    assert after["appointments"] == before["appointments"]
    assert after["booked_minutes"] == before["booked_minutes"]


async def test_a_check_in_and_its_visit_move_the_clinics_wait(client):
    (patient,) = await patients(client.city, 1)
    booked = await book(client, patient, 5)
    clinic, day = booked["clinic_id"], local_day(booked["starts_at"])
    desk = bearer.registrar(clinic)
    path = f"/api/v1/appointments/{booked['id']}"
    assert (await client.post(f"{path}/check-in", headers=desk)).status_code == 204
    doctor = bearer.doctor(booked["doctor_id"], clinic)
    opened = await client.post(
        "/api/v1/encounters", json={"appointment_id": booked["id"]}, headers=doctor
    )
    assert opened.status_code in (200, 201), opened.text
    starts = datetime.fromisoformat(booked["starts_at"])

    async def arranged(conn):
        arrived = await conn.fetchval(
            "SELECT arrived_at FROM appointments WHERE id = $1", booked["id"]
        )
        assert arrived is not None  # the check-in's time is kept (booking 0009)
        # The patient came 10 minutes early and was seen 25 minutes after her time.
        await conn.execute(
            "UPDATE appointments SET arrived_at = $2 WHERE id = $1",
            booked["id"],
            starts - timedelta(minutes=10),
        )
        await conn.execute(
            "UPDATE encounters SET started_at = $2 WHERE appointment_id = $1",
            booked["id"],
            starts + timedelta(minutes=25),
        )
        async with conn.transaction():
            await refresh.refresh_waits(conn, day, day, ZONE)

    await run(client.city, arranged)
    waits = await figures(
        client, "/waits", **{"from": day.isoformat(), "to": day.isoformat(), "clinic": clinic}
    )
    (row,) = waits["clinics"]
    assert row["clinic_id"] == clinic and row["visits"] == 1
    assert row["within_mark"] == 0 and row["within_mark_share"] == 0
    assert row["median_minutes"] == 25 and row["p90_minutes"] == 25
    assert waits["total"]["visits"] == 1


async def test_the_job_samples_the_earliest_slot_and_refreshes_today(client):
    state = client.app_state

    async def work(conn):
        await refresh_recent(conn, ZONE)
        await sample(conn, state.engine)

    await run(client.city, work)
    days = await figures(client, "/earliest", specialty="ophthalmologist")
    assert days and days[-1]["samples"] >= 1
    assert days[-1]["mean_days"] is not None and 0 <= days[-1]["mean_days"] <= 14
    clinics = await figures(client, "/map", specialty="ophthalmologist")
    assert any(c["mean_days"] is not None for c in clinics)
    everything = await figures(client)
    assert everything["freshness"]["load"] and everything["freshness"]["earliest"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"specialty": "astrologer"}, 400, "unknown_specialty"),
        ({"district": "Атлантида"}, 400, "unknown_district"),
        ({"from": "2026-01-01", "to": "2026-12-01"}, 400, "period_too_long"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, 400, "invalid_range"),
        ({"clinic": "999999"}, 404, "unknown_clinic"),
        ({"from": "yesterday"}, 400, None),
    ],
)
async def test_bad_input_is_a_problem(client, params, status, code):
    for path in ("", "/served", "/load", "/earliest"):
        answer = await client.get(f"/api/v1/insights{path}", params=params, headers=ADMIN)
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        if code is not None:
            assert answer.json()["code"] == code


async def test_a_clinic_admin_sees_her_clinic_only(client):
    clinics = await run(client.city, lambda c: c.fetch("SELECT id FROM clinics ORDER BY id"))
    mine, other = clinics[0]["id"], clinics[1]["id"]
    head = bearer.bearer("clinic_admin", 900_001, org=mine)
    rows = await figures(client, "/load", headers=head)
    assert rows and {r["clinic_id"] for r in rows} == {mine}
    on_map = await figures(client, "/map", headers=head)
    assert [c["clinic_id"] for c in on_map] == [mine]
    refused = await client.get("/api/v1/insights/load", params={"clinic": other}, headers=head)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    city = await figures(client, "/load")
    assert len({r["clinic_id"] for r in city}) > 1
    assert (await client.get("/api/v1/insights/load", headers=bearer.patient(1))).status_code == 403


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_parse_and_move(client):
    first = samples((await client.get("/metrics", headers=SCRAPER)).text)
    (patient,) = await patients(client.city, 1)
    await book(client, patient)
    await client.get("/api/v1/specialties")
    answer = await client.get("/metrics", headers=SCRAPER)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    after = samples(answer.text)
    labels = (("method", "GET"), ("route", "/api/v1/specialties"), ("status", "200"))
    route = ("imias_http_requests_total", labels)
    assert after[route] == first.get(route, 0) + 1
    booked = ("imias_bookings_total", (("channel", "web"),))
    assert after[booked] == first.get(booked, 0) + 1
    assert ("imias_engine_events_applied_total", ()) in after
    assert ("imias_stream_lag_seconds", ()) in after
    # the unmatched route is counted by a label of its own, not by its path
    await client.get("/no/such/page/12345")
    last = samples((await client.get("/metrics", headers=SCRAPER)).text)
    assert not any("12345" in dict(labels).get("route", "") for _, labels in last)


async def test_metrics_need_the_token(client):
    assert (await client.get("/metrics")).status_code == 403
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "forbidden"
    good = await client.get("/metrics", headers=SCRAPER)
    assert good.status_code == 200 and "imias_http_requests_total" in good.text


async def test_the_page_shows_the_city_or_her_clinic(client):
    clinics = await run(client.city, lambda c: c.fetch("SELECT id, name FROM clinics ORDER BY id"))
    (mine, my_name), (other, other_name) = clinics[0], clinics[1]

    async def work(conn):
        await refresh_recent(conn, ZONE)
        await sample(conn, client.app_state.engine)

    await run(client.city, work)
    client.cookies.set("imias_admin", bearer.token("administrator", 1))
    city = await client.get("/admin")
    assert city.status_code == 200, city.text
    assert "/admin/integrations" in city.text and 'id="table-map"' in city.text
    assert other_name in city.text and "data:image/svg+xml;base64," in city.text
    client.cookies.set("imias_admin", bearer.token("clinic_admin", 900_002, org=mine))
    head = await client.get("/admin")
    assert head.status_code == 200, head.text
    assert my_name in head.text and other_name not in head.text
    assert 'id="table-map"' not in head.text and "/admin/integrations" not in head.text
    refused = await client.get("/admin", params={"clinic": other})
    assert refused.status_code == 403 and other_name not in refused.text
    bad = await client.get("/admin", params={"specialty": "astrologer"})
    assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]
    for params in ({"from": "yesterday"}, {"from": "2026-01-01", "to": "2026-12-01"}):
        bad = await client.get("/admin", params=params)
        assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]
    english = await client.get("/admin", params={"lang": "en"})
    assert english.status_code == 200 and "Waiting in the clinic" in english.text


async def test_a_sick_day_ahead_takes_its_time_off_the_days_ahead(client):
    async def ahead(conn):
        await refresh_ahead(conn, ZONE)

    await run(client.city, ahead)
    # a doctor who works on a coming day (tomorrow may be a Sunday), with no exception then
    row = await run(
        client.city,
        lambda c: c.fetchrow(
            """SELECT d::date AS day, t.clinic_id, t.doctor_id,
                      sum(extract(epoch FROM t.ends - t.starts) / 60)::int AS minutes
                 FROM generate_series($1::date + 1, $1::date + 7, interval '1 day') d
                 JOIN schedule_templates t ON t.weekday = extract(isodow FROM d)
                WHERE t.valid_from <= d::date AND (t.valid_to IS NULL OR t.valid_to >= d::date)
                  AND NOT EXISTS (SELECT 1 FROM schedule_exceptions e
                                   WHERE e.doctor_id = t.doctor_id AND e.day = d::date)
                GROUP BY 1, 2, 3 ORDER BY 1, 3 LIMIT 1""",
            datetime.now(ZONE).date(),
        ),
    )
    day = row["day"].isoformat()
    params = {"from": day, "to": day, "clinic": row["clinic_id"]}
    (before,) = await figures(client, "/load/days", **params)
    await run(
        client.city,
        lambda c: c.execute(
            "INSERT INTO schedule_exceptions (clinic_id, doctor_id, day, kind)"
            " VALUES ($1, $2, $3, 'sick')",
            row["clinic_id"],
            row["doctor_id"],
            row["day"],
        ),
    )
    await run(client.city, ahead)
    (after,) = await figures(client, "/load/days", **params)
    assert after["offered_minutes"] == before["offered_minutes"] - row["minutes"]
