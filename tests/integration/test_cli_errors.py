"""The CLI as a user meets it: bad settings and unreachable servers are one line."""

import subprocess
import sys


def test_cli_stops_with_one_line_and_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "imias.cli", "migrate"],
        env={"IMIAS_PORT": "eighty", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("imias: error: IMIAS_PORT:")
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_one_line_too():
    result = subprocess.run(
        [sys.executable, "-m", "imias.cli", "migrate"],
        env={
            "IMIAS_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/imias",
            "IMIAS_REDIS_URL": "redis://127.0.0.1:1/0",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("imias: error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("imias: error: cannot use the database at IMIAS_DATABASE_URL")
