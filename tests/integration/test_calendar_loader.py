"""The engine rebuilt from the database matches the schedules and the appointments."""

from datetime import date, timedelta

import asyncpg
import pytest

from ehr import queries as ehr_queries
from ehr.certificates import queries as certificate_queries
from ehr.illness import queries as illness_queries
from imias.booking import queries, schedule_repository
from imias.booking.calendar_loader import Geometry, load_calendar
from imias.booking.schedules import to_local, to_utc
from imias.citygen.seed import seed_city
from imias.domains import migrate_url
from imias.identity import repository as identity_repository
from imias.platform.audit import repository as audit_repository
from imias.registry import repository as registry_repository
from insights import queries as insights_queries
from integrations import repository as integrations_repository
from integrations.ambulance import repository as ambulance_repository
from integrations.feeds import queries as feeds_queries
from integrations.notifications import repository as notifications_repository
from integrations.scheduling import queries as scheduling_queries
from integrations.schools import queries as schools_queries
from prescriptions import queries as prescriptions_queries
from scheduler_core import BOOKED, FREE, Channel, compiled_calendar, reference
from scheduler_core.flags import ENTITLED_ALL

MONDAY = date(2026, 11, 30)
GEOMETRY = Geometry()


@pytest.fixture
async def city(fresh_database_url):
    await migrate_url(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await seed_city(conn, clinics=12, doctors=120, patients=300, days=14, start=MONDAY)
        yield conn
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "module",
    [
        queries,
        schedule_repository,
        registry_repository,
        identity_repository,
        audit_repository,
        ehr_queries,
        prescriptions_queries,
        certificate_queries,
        illness_queries,
        schools_queries,
        feeds_queries,
        scheduling_queries,
        ambulance_repository,
        integrations_repository,
        notifications_repository,
        insights_queries,
    ],
    ids=[
        "booking",
        "schedules",
        "registry",
        "identity",
        "audit",
        "ehr",
        "prescriptions",
        "certificates",
        "illness",
        "schools",
        "feeds",
        "scheduling",
        "ambulance",
        "integrations",
        "notifications",
        "insights",
    ],  # fmt: skip
)
async def test_every_named_query_prepares_against_the_migrated_schema(db, module):
    for name, sql in module.QUERIES.items():
        statement = await db.prepare(sql)  # a missing column or table fails here
        if sql.lstrip().upper().startswith("SELECT") or "RETURNING" in sql.upper():
            assert statement.get_attributes(), name


@pytest.mark.parametrize("calendar_class", [reference.Calendar, compiled_calendar()])
async def test_engine_opens_each_doctors_schedule(city, calendar_class):
    cal, report = await load_calendar(city, MONDAY, GEOMETRY, calendar_class)
    assert report.doctors == await city.fetchval("SELECT count(*) FROM doctors WHERE active")
    assert report.slots > 0 and report.clipped_blocks == 0
    # A doctor who works Monday 08:00-14:00 (and has no exception that day) has the
    # first slot free at 08:00 and the last one ending at 14:00.
    row = await city.fetchrow(
        """
        SELECT t.doctor_id, d.slot_minutes FROM schedule_templates t
          JOIN doctors d ON d.id = t.doctor_id AND d.clinic_id = t.clinic_id
         WHERE t.weekday = 1 AND t.starts = '08:00' AND t.ends = '14:00' AND t.channels = 31
           AND NOT t.urgent
           AND NOT EXISTS (SELECT 1 FROM schedule_exceptions e
                            WHERE e.doctor_id = t.doctor_id AND e.day = $1)
         ORDER BY t.doctor_id LIMIT 1
        """,
        MONDAY,
    )
    doctor, minutes = row["doctor_id"], row["slot_minutes"]
    states = cal.day_states(doctor, MONDAY.toordinal())
    assert set(states[: GEOMETRY.unit_of(14 * 60)]) == {FREE}
    assert set(states[GEOMETRY.unit_of(14 * 60) :]) <= {0}
    slot = cal.find(doctor, MONDAY.toordinal(), channel=int(Channel.ANY), entitled=ENTITLED_ALL)
    assert slot is not None and slot.start == 0 and slot.length == minutes // 5


async def test_active_appointments_are_booked_and_cancelled_ones_are_not(city):
    row = await city.fetchrow(
        """
        SELECT d.clinic_id, d.id, d.specialty_id, d.slot_minutes, t.starts
          FROM doctors d JOIN schedule_templates t ON t.doctor_id = d.id AND t.weekday = 2
         WHERE NOT EXISTS (SELECT 1 FROM schedule_exceptions e
                            WHERE e.doctor_id = d.id AND e.day = $1)
         ORDER BY d.id LIMIT 1
        """,
        MONDAY + timedelta(days=1),
    )
    tuesday = MONDAY + timedelta(days=1)
    zone_start = row["starts"].hour * 60 + row["starts"].minute
    from zoneinfo import ZoneInfo

    moscow = ZoneInfo("Europe/Moscow")
    starts = to_utc(tuesday, zone_start, moscow)
    ends = starts + timedelta(minutes=row["slot_minutes"])
    patient = await city.fetchval("SELECT min(id) FROM patients")
    for status, at in (("booked", starts), ("cancelled", ends)):
        await city.execute(
            """
            INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id,
                                      starts_at, ends_at, status, channel)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'registrar')
            """,
            row["clinic_id"],
            row["id"],
            patient,
            row["specialty_id"],
            at,
            at + timedelta(minutes=row["slot_minutes"]),
            status,
        )
    cal, report = await load_calendar(city, MONDAY, GEOMETRY)
    assert report.appointments == 1 and report.unplaced_appointments == 0
    first = GEOMETRY.unit_of(zone_start)
    length = row["slot_minutes"] // 5
    states = cal.day_states(row["id"], tuesday.toordinal())
    assert set(states[first : first + length]) == {BOOKED}
    assert set(states[first + length : first + 2 * length]) == {FREE}
    assert to_local(starts, moscow) == (tuesday, zone_start)


async def test_earliest_for_a_specialty_lies_in_working_hours(city):
    cal, _ = await load_calendar(city, MONDAY, GEOMETRY)
    slots = cal.earliest(
        10,
        specialty_id=1,
        clinic_ids=None,
        first_day=MONDAY.toordinal(),
        last_day=MONDAY.toordinal() + 13,
        length=None,
        channel=int(Channel.WEB),
        entitled=0,
    )
    assert slots, "a city has free therapist time"
    keys = [(s.day, s.start, s.doctor_id) for s in slots]
    assert keys == sorted(keys)
    for s in slots:
        minute = GEOMETRY.day_begins + s.start * GEOMETRY.unit_minutes
        assert 8 * 60 <= minute < 20 * 60


async def test_live_holds_are_loaded_as_holds_and_expired_ones_are_free(city):
    from datetime import UTC, datetime
    from uuid import uuid4

    from scheduler_core import HELD

    row = await city.fetchrow(
        """
        SELECT d.clinic_id, d.id, d.specialty_id, d.slot_minutes, t.starts
          FROM doctors d JOIN schedule_templates t ON t.doctor_id = d.id AND t.weekday = 3
         WHERE NOT EXISTS (SELECT 1 FROM schedule_exceptions e
                            WHERE e.doctor_id = d.id AND e.day = $1)
         ORDER BY d.id LIMIT 1
        """,
        MONDAY + timedelta(days=2),
    )
    from zoneinfo import ZoneInfo

    wednesday = MONDAY + timedelta(days=2)
    minute = row["starts"].hour * 60 + row["starts"].minute
    first = to_utc(wednesday, minute, ZoneInfo("Europe/Moscow"))
    length = timedelta(minutes=row["slot_minutes"])
    patient = await city.fetchval("SELECT min(id) FROM patients")
    live, stale = uuid4(), uuid4()
    now = datetime.now(UTC)
    for token, start, expires in (
        (live, first, now + timedelta(minutes=5)),
        (stale, first + length, now - timedelta(minutes=1)),
    ):
        await city.execute(
            """
            INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id, starts_at,
                                      ends_at, status, channel, hold_token, hold_expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, 'held', 'web', $7, $8)
            """,
            row["clinic_id"],
            row["id"],
            patient,
            row["specialty_id"],
            start,
            start + length,
            token,
            expires,
        )
    cal, report = await load_calendar(city, MONDAY, GEOMETRY)
    unit = GEOMETRY.unit_of(minute)
    states = cal.day_states(row["id"], wednesday.toordinal())
    assert states[unit] == HELD and cal.hold_info(str(live)) is not None
    assert states[unit + row["slot_minutes"] // 5] == FREE
