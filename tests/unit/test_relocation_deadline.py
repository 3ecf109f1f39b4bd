"""How long a moved patient has to answer the clinic's offer (imias.booking.relocation)."""

from datetime import UTC, datetime, timedelta

from imias.booking.relocation import deadline_for

NOW = datetime(2031, 3, 3, 7, 0, tzinfo=UTC)


def test_a_visit_days_away_is_held_for_a_day():
    assert deadline_for(NOW, NOW + timedelta(days=3)) == NOW + timedelta(hours=24)


def test_a_visit_later_today_is_held_until_two_hours_before_it():
    assert deadline_for(NOW, NOW + timedelta(hours=5)) == NOW + timedelta(hours=3)


def test_a_visit_soon_still_gets_half_an_hour_but_never_past_its_start():
    assert deadline_for(NOW, NOW + timedelta(hours=1)) == NOW + timedelta(minutes=30)
    assert deadline_for(NOW, NOW + timedelta(minutes=20)) == NOW + timedelta(minutes=20)
