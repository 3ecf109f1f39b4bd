"""`imias bench cities` finds each city's figures in the lines its bench printed."""

from loadtest.bench.cities import City


def test_a_citys_figure_may_be_named_inside_a_line():
    city = City(
        "demo",
        "postgresql:///x",
        lines=[
            {"workload": "baseline", "per_second": 10.0},
            {"workload": "bookings", "cpu_ms_per_booking": {"server": 5.5}, "ok": 3},
        ],
    )
    assert city.figure("bookings", "cpu_ms_per_booking.server") == 5.5
    assert city.figure("bookings", "ok") == 3
    assert city.figure("bookings", "cpu_ms_per_booking.nothing") is None
    assert city.figure("bookings", "ok.more") is None  # not a mapping
    assert city.figure("search", "p50_ms") is None
