from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from imias.booking.engine import Engine
from imias.booking.search import first_unit

MOSCOW = ZoneInfo("Europe/Moscow")
DAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("local", "unit"),
    [
        (datetime(2026, 12, 1, 10, 0, 0), 25),  # the 10:00 slot has begun: from 10:05
        (datetime(2026, 12, 1, 10, 2, 30), 25),
        (datetime(2026, 12, 1, 10, 4, 59), 25),
        (datetime(2026, 12, 1, 7, 0), 0),  # before the engine's day (08:00)
        (datetime(2026, 12, 1, 21, 0), 144),  # after it: nothing left today
        (datetime(2026, 11, 30, 23, 0), 0),  # the day before: the whole day
        (datetime(2026, 12, 2, 9, 0), 144),  # the day after: nothing
    ],
)
def test_search_starts_after_now_on_the_first_day(local, unit):
    engine = Engine("Europe/Moscow")
    assert first_unit(engine, DAY, local.replace(tzinfo=MOSCOW)) == unit
    g = engine.geometry
    if 0 < unit < g.units_per_day:
        starts = g.day_begins + unit * g.unit_minutes
        assert starts > local.hour * 60 + local.minute
        assert starts - g.unit_minutes <= local.hour * 60 + local.minute + local.second / 60
