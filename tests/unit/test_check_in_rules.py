"""When a patient may check themself in (a kiosk): from an hour before the appointment
to its end, a booked appointment only."""

from datetime import UTC, datetime, timedelta

import pytest

from imias.booking.rules import check_arrival

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=20)


@pytest.mark.parametrize(
    ("status", "offset_minutes", "code"),
    [
        ("booked", -61, "check_in_not_open"),
        ("booked", -60, None),
        ("booked", 0, None),
        ("booked", 20, None),
        ("booked", 21, "check_in_closed"),
        ("arrived", 0, "already_arrived"),
        ("cancelled", 0, "wrong_status"),
    ],
    ids=["61-min-early", "60-min-early", "at-start", "at-end", "after-end", "arrived", "cancelled"],
)
def test_check_in_window(status, offset_minutes, code):
    refusal = check_arrival(status, START, END, START + timedelta(minutes=offset_minutes))
    assert (refusal[0] if refusal else None) == code
    if refusal:
        assert refusal[1] and refusal[2]  # a sentence in English and in Russian
