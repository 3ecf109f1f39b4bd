"""``imias bench client``: both clients measured against one server, in one run."""

import contextlib
import io
import json

from loadtest.bench import client as bench_client


def test_quick_run_measures_both_clients_and_their_ratio():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = bench_client.main(["--quick", "--concurrency", "4"])
    assert code == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    by_name = {line["workload"]: line for line in lines}
    assert set(by_name) == {"client_ours", "client_aiohttp", "client"}, lines
    for name in ("ours", "aiohttp"):
        round_ = by_name[f"client_{name}"]
        assert round_["requests"] > 0 and round_["cpu_ms_per_request"] > 0, round_
    summary = by_name["client"]
    expected = summary["aiohttp_cpu_ms_per_request"] / summary["ours_cpu_ms_per_request"]
    assert abs(summary["ratio"] - expected) < 0.01
    assert summary["machine"]["cpus"] >= 1


def test_bad_options_are_a_usage_error(capsys):
    assert bench_client.main(["--rounds", "0"]) == 2
    assert "rounds >= 1" in capsys.readouterr().err
