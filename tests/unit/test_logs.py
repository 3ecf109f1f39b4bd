import json
import logging

from imias.platform.logs import ConsoleFormatter, JsonFormatter, request_id_var


def _record(msg: str, **extra) -> logging.LogRecord:
    record = logging.LogRecord("imias.test", logging.INFO, __file__, 1, msg, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_the_request_id_and_extras():
    token = request_id_var.set("req-12345678")
    try:
        line = JsonFormatter().format(_record("booked", clinic=17))
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["msg"] == "booked"
    assert entry["request_id"] == "req-12345678"
    assert entry["clinic"] == 17
    assert entry["level"] == "info" and entry["logger"] == "imias.test"


def test_lines_without_a_request_have_no_request_id():
    entry = json.loads(JsonFormatter().format(_record("startup")))
    assert "request_id" not in entry


def test_console_format_is_one_readable_line():
    line = ConsoleFormatter().format(_record("hello %s", status=200))
    assert "hello %s" in line and "status=200" in line and "\n" not in line


def test_json_lines_keep_cyrillic_and_show_other_values_as_text():
    class Odd:
        def __str__(self) -> str:
            return "odd value"

    line = JsonFormatter().format(_record("Запись подтверждена", odd=Odd(), ids={1: "a"}))
    entry = json.loads(line)
    assert entry["msg"] == "Запись подтверждена"
    assert "Запись" in line  # not escaped to \\u sequences
    assert entry["odd"] == "odd value"
    assert entry["ids"] == {"1": "a"}


def test_hold_tokens_are_not_logged_in_access_paths():
    from imias.platform.requests import loggable_path

    token = "6f1c2a4e-9a7b-4c1d-8e2f-0123456789ab"
    assert loggable_path(f"/api/v1/holds/{token}/confirm") == "/api/v1/holds/{token}/confirm"
    assert token not in loggable_path(f"/api/v1/holds/{token}")
    assert loggable_path("/api/v1/slots") == "/api/v1/slots"


def test_logs_follow_stderr_when_a_caller_swaps_and_closes_it(monkeypatch):
    """click's CliRunner (and pytest) swap sys.stderr for a while and close their own:
    lines logged afterwards go to the stderr of the time, not to a closed stream."""
    import io
    import sys

    from imias.platform.logs import configure_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("imias").level)
    try:
        during = io.StringIO()
        monkeypatch.setattr(sys, "stderr", during)
        configure_logging("INFO", "json")
        logging.getLogger("imias.test").info("while swapped")
        during.close()
        after = io.StringIO()
        monkeypatch.setattr(sys, "stderr", after)
        logging.getLogger("imias.test").warning("after the swap")
        lines = after.getvalue().splitlines()
        assert "Logging error" not in after.getvalue(), after.getvalue()
        assert [json.loads(line)["msg"] for line in lines] == ["after the swap"]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("imias").setLevel(saved[2])
