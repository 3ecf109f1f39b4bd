"""Structured logging: one JSON object per line, with the request id.

``configure_logging`` is called by the CLI and the ASGI factory, never at import.
The request id lives in a context variable set by the request-id middleware, so
every log line written while a request is handled carries it.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any, TextIO

import msgspec

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "imias_request_id", default=None
)

_encode = msgspec.json.Encoder(enc_hook=str).encode

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line: ts, level, logger, msg, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RESERVED and key != "request_id" and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:
            return _encode(entry).decode()
        except (TypeError, ValueError, OverflowError):  # keys that are not strings, ...
            return _encode({k: str(v) for k, v in entry.items()}).decode()


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for a terminal: time level logger [request] message key=value."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        extras = " ".join(
            f"{k}={v}"
            for k, v in vars(record).items()
            if k not in _RESERVED and k != "request_id" and not k.startswith("_")
        )
        line = f"{stamp} {record.levelname:<7} {record.name}"
        if request_id:
            line += f" [{request_id}]"
        line += f" {record.getMessage()}"
        if extras:
            line += f"  {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to ``sys.stderr`` as it is at each line, as logging's last resort does:
    a caller that swaps stderr for a while and closes its own (a test runner, click's
    CliRunner) leaves no handler writing to a closed stream."""

    _imias = False  # True on the one configure_logging installs (found again by it)

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    # Read-only on purpose (always the current stderr, never one kept): StreamHandler's
    # attribute is writable, so the checker rightly says setStream() would fail here.
    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send the ``imias`` logs (and the libraries' warnings) to stderr."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_imias", False):
            root.removeHandler(old)
    handler._imias = True
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("imias").setLevel(level)
