"""`imias bench booking`'s options are checked before anything is started."""

import pytest

from loadtest.bench import booking as bench


@pytest.mark.parametrize(
    "given", [["--baseline-seconds", "0"], ["--duration", "-1"], ["--concurrency", "0"]]
)
def test_an_option_out_of_range_is_a_usage_error(given, capsys):
    assert bench.main(given) == 2
    assert "bench booking: " in capsys.readouterr().err


def test_quick_shortens_the_baseline_too():
    args = bench._parser().parse_args(["--quick", "--baseline-seconds", "30"])
    assert bench.settle_workload_options(args) is None
    assert args.baseline_seconds == 1.0 and args.duration <= 2.0
